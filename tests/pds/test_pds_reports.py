"""Dialer reports from a scripted set of attempts, and the import and report commands."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycc.config import SwitchConfig
from pycc.pds.campaign import CampaignConfig
from pycc.pds.command import import_command, report_command
from pycc.pds.contacts import parse_csv
from pycc.pds.reports import abandon_rate, campaign_summary, result_summary, summarise
from pycc.pds.store import DialerStore
from pycc.provision.command import apply_file
from pycc.store import Store, make_url

T0 = 1_750_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(make_url(tmp_path, None))
    opened.create_all()
    opened.ensure_tenant("default", "pycc")
    opened.ensure_tenant("other", "other")
    yield opened
    opened.close()


def script(dialer: DialerStore, campaign: str, results: list[str | None],
           start: float = T0) -> None:
    """One attempt per entry, each to a new contact, ending with that result (None: still
    up), each lasting ten seconds more than the one before."""
    numbers = "\n".join(f"+1212555{index:04d}" for index in range(len(results)))
    dialer.import_contacts(campaign, parse_csv(f"phone\n{numbers}\n",
                                               dialer.get_campaign(campaign)), start)
    claims = dialer.claim(campaign, len(results), start)
    assert len(claims) == len(results)
    for index, (claim, result) in enumerate(zip(claims, results, strict=True)):
        if result is not None:
            dialer.finish(claim.attempt_id, result, start + 10 * (index + 1))


def test_campaign_summary_counts_a_scripted_day(store: Store) -> None:
    spring = DialerStore(store)
    spring.save_campaign(CampaignConfig.from_dict({"name": "spring"}), T0)
    spring.save_campaign(CampaignConfig.from_dict({"name": "autumn"}), T0)
    script(spring, "spring", ["connected"] * 6 + ["abandoned"] * 2 + ["machine"] * 3
           + ["busy"] * 4 + ["no_answer"] * 5 + [None])
    elsewhere = DialerStore(store, "other")
    elsewhere.save_campaign(CampaignConfig.from_dict({"name": "spring"}), T0)
    script(elsewhere, "spring", ["abandoned"] * 7)

    rows = campaign_summary(store)
    assert [row["campaign"] for row in rows] == ["autumn", "spring"]
    autumn, row = rows
    assert (autumn["dialed"], autumn["abandon_rate"], autumn["by_result"]) == (0, 0.0, {})
    assert row["dialed"] == 21 and row["in_progress"] == 1
    assert (row["answered"], row["connected"], row["abandoned"], row["machine"]) == \
        (11, 6, 2, 3)
    assert row["abandon_rate"] == pytest.approx(2 / 8)
    assert row["by_result"] == {"abandoned": 2, "busy": 4, "connected": 6, "in_progress": 1,
                                "machine": 3, "no_answer": 5}
    assert (row["contacts"], row["done"]) == (21, 20)  # no retry rules: all done but one
    assert campaign_summary(store, "spring", tenant="other")[0]["abandoned"] == 7
    assert campaign_summary(store, "nothing") == []
    json.dumps(rows)  # JSON-ready


def test_since_limits_the_attempts_counted(store: Store) -> None:
    dialer = DialerStore(store)
    dialer.save_campaign(CampaignConfig.from_dict({"name": "spring"}), T0)
    script(dialer, "spring", ["busy", "busy"], start=T0)
    dialer.import_contacts("spring", parse_csv("phone\n+13125550100\n",
                                               dialer.get_campaign("spring")), T0 + 500)
    (late,) = dialer.claim("spring", 1, T0 + 1000)
    dialer.finish(late.attempt_id, "connected", T0 + 1100)
    (row,) = campaign_summary(store, "spring", since=T0 + 1000)
    assert (row["dialed"], row["connected"], row["by_result"]) == (1, 1, {"connected": 1})
    assert row["contacts"] == 3  # contacts are not limited by time


def test_result_summary_shares_and_durations(store: Store) -> None:
    dialer = DialerStore(store)
    dialer.save_campaign(CampaignConfig.from_dict({"name": "spring"}), T0)
    # Durations: 10, 20, 30, 40, 50 seconds, the last still up.
    script(dialer, "spring", ["busy", "connected", "busy", "connected", None])
    rows = result_summary(store)
    assert [(r["result"], r["attempts"]) for r in rows] == \
        [("busy", 2), ("connected", 2), ("in_progress", 1)]
    busy, connected, up = rows
    assert busy["share"] == pytest.approx(0.4) and busy["mean_duration"] == pytest.approx(20)
    assert connected["mean_duration"] == pytest.approx(30)
    assert up["mean_duration"] is None
    assert result_summary(store, "spring", since=T0 + 1) == []


def test_the_pure_summary() -> None:
    row = summarise("x", {"connected": 97, "abandoned": 3, "machine": 10, "busy": 0})
    assert row["abandon_rate"] == pytest.approx(0.03) and row["answered"] == 110
    assert "busy" not in row["by_result"]
    assert abandon_rate(0, 0) == 0.0 and abandon_rate(1, 1) == 0.5


# -- the commands ------------------------------------------------------------------------------

CENTER = """\
queues: [{name: sales}]
campaigns:
  - {name: base, template: true, queue: sales, country: US,
     retries: {busy: {max: 2, after: 60}}}
  - {name: spring, template: base}
"""


@pytest.fixture
def cfg(tmp_path: Path) -> SwitchConfig:
    config = SwitchConfig(data_dir=tmp_path)
    center = tmp_path / "center.yaml"
    center.write_text(CENTER, encoding="utf-8")
    assert apply_file(center, config, out=lambda _: None, err=print) == 0
    return config


def run_import(cfg: SwitchConfig, campaign: str, file: Path,
               dnc_file: Path | None = None) -> tuple[int, list[str], list[str]]:
    out: list[str] = []
    err: list[str] = []
    code = import_command(campaign, file, cfg, dnc_file=dnc_file, out=out.append,
                          err=err.append, clock=lambda: T0)
    return code, out, err


def test_import_command_prints_each_line_not_taken_and_the_counts(cfg: SwitchConfig,
                                                                   tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("phone,id,name\n212 555 0100,a,Ann\nnonsense,b,\n212 555 0101,c,\n"
                        "+1 212 555 0100,d,\n312 555 0100,e,\n", encoding="utf-8")
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("(212) 555-0101\nnot a number\n", encoding="utf-8")
    code, out, err = run_import(cfg, "spring", contacts, dnc)
    assert (code, err) == (0, [])
    assert out == [
        f"{dnc}:2: 'not a number' is not a phone number",
        "1 new numbers on the do-not-call list of tenant 'default' (1 read, 1 rejected)",
        "3: 'nonsense' is not a phone number",
        "4: +12125550101 is on the do-not-call list",
        "5: duplicate of line 2",
        "imported 2 contacts into campaign 'spring' (0 already there); 1 rejected, "
        "1 duplicates, 1 on the do-not-call list",
    ]
    code, out, _ = run_import(cfg, "spring", contacts)
    assert code == 0 and out[-1].startswith("imported 0 contacts into campaign 'spring' "
                                            "(2 already there)")
    with Store(make_url(cfg.data_dir, None)) as store:
        dialer = DialerStore(store)
        assert dialer.get_campaign("spring").retries["busy"].max == 2
        assert sorted(c.external_id for c in dialer.contacts("spring")) == ["a", "e"]


def test_import_command_failures_are_one_line(cfg: SwitchConfig, tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("name\nAnn\n", encoding="utf-8")
    code, out, err = run_import(cfg, "spring", contacts)
    assert code == 1 and out == [] and len(err) == 1 and "no 'phone' column" in err[0]
    code, _, err = run_import(cfg, "winter", contacts)
    assert code == 1 and "no campaign 'winter'" in err[0]
    code, _, err = run_import(cfg, "base", contacts)
    assert code == 1 and "template" in err[0]
    code, _, err = run_import(cfg, "spring", tmp_path / "missing.csv")
    assert code == 1 and "cannot read" in err[0]


def test_report_command_formats(cfg: SwitchConfig, tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("phone\n2125550100\n2125550101\n", encoding="utf-8")
    assert run_import(cfg, "spring", contacts)[0] == 0
    with Store(make_url(cfg.data_dir, None)) as store:
        dialer = DialerStore(store)
        first, second = dialer.claim("spring", 2, T0)
        dialer.finish(first.attempt_id, "connected", T0 + 30)
        dialer.finish(second.attempt_id, "abandoned", T0 + 5)

    def report(name: str, fmt: str) -> tuple[int, str, list[str]]:
        out: list[str] = []
        err: list[str] = []
        code = report_command(name, cfg, fmt, out=out.append, err=err.append)
        return code, "\n".join(out), err

    code, text, _ = report("campaign", "json")
    (row,) = json.loads(text)
    assert code == 0 and (row["campaign"], row["dialed"], row["abandon_rate"]) == \
        ("spring", 2, 0.5)
    code, text, _ = report("campaign", "csv")
    (line,) = csv.DictReader(io.StringIO(text))
    assert (line["connected"], line["abandoned"], line["by_result"]) == \
        ("1", "1", "abandoned=1 connected=1")
    code, text, _ = report("results", "table")
    assert code == 0 and "connected" in text and "50.0%" in text
    assert report("agents", "json")[0] == 2
    assert report("campaign", "xml")[0] == 2
