"""Disposition codes: what an agent says a call came to, in wrap-up ("sale", "callback").

A tenant lists its own in the ``dispositions`` section of its ``pycc apply`` file; without
one, `DEFAULT_DISPOSITIONS` apply. A code is a short token (it goes into call records,
reports and exports), its label what the agent's screen shows. ``callback`` marks the codes
that ask for a time to call the customer back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["CODE", "DEFAULT_DISPOSITIONS", "MAX_NOTES", "Disposition", "disposition_error"]

#: A code: a letter, then letters, digits, "_" or "-", 32 characters at most.
CODE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
#: The most characters of notes an agent may leave on a call.
MAX_NOTES: Final = 2000


@dataclass(frozen=True, slots=True)
class Disposition:
    code: str
    label: str
    callback: bool = False


DEFAULT_DISPOSITIONS: Final = (
    Disposition("sale", "Sale"),
    Disposition("no_sale", "No sale"),
    Disposition("resolved", "Resolved"),
    Disposition("callback", "Call back", callback=True),
    Disposition("not_interested", "Not interested"),
    Disposition("wrong_number", "Wrong number"),
    Disposition("other", "Other"),
)


def disposition_error(code: object, label: object) -> tuple[str, str] | None:
    """What is wrong with a disposition as written: (the field, why); None when nothing."""
    if not isinstance(code, str) or CODE.fullmatch(code) is None:
        return "code", ("must be a letter, then letters, digits, _ or -, at most 32 "
                        f"characters, not {code!r}")
    if not isinstance(label, str) or not label.strip() or len(label) > 64 \
            or not label.isprintable():
        return "label", "must be printable text of 1 to 64 characters"
    return None
