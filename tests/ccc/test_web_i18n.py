"""The web pages' two languages (``src/pycc/ccc/web/i18n.js``): English and Simplified Chinese
have the same keys, each with a text and the same ``{placeholders}``, and every key a page
names statically (``t("key")`` in the scripts, ``data-i18n*`` attributes in index.html) is
in the catalogue. Read from the files as served; no browser needed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "src" / "pycc" / "ccc" / "web"
ENTRY = re.compile(r'^    "([^"]+)":\s*"((?:[^"\\]|\\.)*)",?\s*$', re.M)
KEY_LINE = re.compile(r'^    "[^"]+":', re.M)
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def catalogues() -> dict[str, dict[str, str]]:
    text = (WEB / "i18n.js").read_text(encoding="utf-8")
    start = text.index("const STRINGS = {")
    body = text[start:text.index("\n};", start)]
    zh_at = body.index('  "zh-CN": {')
    parts = {"en": body[body.index("  en: {"):zh_at], "zh-CN": body[zh_at:]}
    found = {}
    for language, part in parts.items():
        entries = dict(ENTRY.findall(part))
        # Every key line is read as one entry: none hides a text on a later line.
        assert len(entries) == len(KEY_LINE.findall(part)), language
        found[language] = entries
    return found


def used_keys() -> set[str]:
    used: set[str] = set()
    for script in WEB.glob("*.js"):
        used |= set(re.findall(r'\bt\(\s*"([^"]+)"', script.read_text(encoding="utf-8")))
    page = (WEB / "index.html").read_text(encoding="utf-8")
    used |= set(re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"', page))
    return used


def test_both_languages_have_the_same_keys_each_with_a_text() -> None:
    found = catalogues()
    en, zh = found["en"], found["zh-CN"]
    assert len(en) > 100
    assert sorted(set(en) ^ set(zh)) == []
    assert [k for k, v in {**en, **zh}.items() if not v.strip()] == []


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_every_key_a_page_names_is_in_the_catalogue(language: str) -> None:
    used = used_keys()
    assert len(used) > 100  # the pattern still finds the pages' keys
    assert sorted(used - set(catalogues()[language])) == []


def test_placeholders_match_between_the_languages() -> None:
    found = catalogues()
    differ = [key for key, text in found["en"].items()
              if set(PLACEHOLDER.findall(text)) != set(PLACEHOLDER.findall(found["zh-CN"][key]))]
    assert differ == []


def test_the_chinese_texts_are_translations() -> None:
    """Most Chinese texts hold CJK characters: a copied English text would not."""
    found = catalogues()
    cjk = re.compile(r"[\u4e00-\u9fff]")
    untranslated = [key for key, text in found["zh-CN"].items()
                    if not cjk.search(text) and text == found["en"][key]]
    # A few are the same in both (the brand name, units, codes).
    assert len(untranslated) <= 10, untranslated
