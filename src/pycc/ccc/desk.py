"""The rules of the agent desktop's records: customers, tickets and knowledge-base articles.

Each ``check_*`` function takes what a user sent, in whatever types it came, and returns the
value the store keeps, stripped and normalised, or raises `DeskError` naming the field that
is wrong (``phones.1``, ``fields.plan``), relative to the request body or query. Text never
holds control characters (only multi-line text keeps tabs and line breaks) nor lone
surrogates, which no database encoding can hold.

A phone number is matched in its normal form, `normalise_phone`: its digits, after a ``+``
when it was written with one, so "+1 (555) 010-0001" and "+15550100001" are one number.

Pure: no I/O, no clock (times are the callers').
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "MAX_BODY",
    "MAX_CALL_ID",
    "MAX_COMMENT",
    "MAX_COMPANY",
    "MAX_EMAIL",
    "MAX_FIELDS",
    "MAX_FIELD_NAME",
    "MAX_FIELD_VALUE",
    "MAX_ID",
    "MAX_KB_BODY",
    "MAX_NAME",
    "MAX_NOTES",
    "MAX_PHONES",
    "MAX_PHONE_LENGTH",
    "MAX_QUERY",
    "MAX_SUBJECT",
    "MAX_TAG",
    "MAX_TAGS",
    "MAX_TITLE",
    "MAX_USER_NAME",
    "MIN_PHONE_LENGTH",
    "PRIORITIES",
    "STATUSES",
    "ArticleData",
    "CustomerData",
    "DeskError",
    "TicketData",
    "check_article",
    "check_call",
    "check_comment",
    "check_customer",
    "check_id",
    "check_phone_query",
    "check_priority",
    "check_search",
    "check_status",
    "check_subject",
    "check_ticket",
    "check_user_name",
    "normalise_phone",
    "search_text",
]

MAX_NAME: Final = 120
MAX_COMPANY: Final = 200
MAX_EMAIL: Final = 254
MAX_NOTES: Final = 5000
MAX_PHONES: Final = 5
MIN_PHONE_LENGTH: Final = 3
MAX_PHONE_LENGTH: Final = 32
MAX_FIELDS: Final = 30
MAX_FIELD_NAME: Final = 40
MAX_FIELD_VALUE: Final = 500
MAX_SUBJECT: Final = 200
MAX_BODY: Final = 10_000
MAX_COMMENT: Final = 5000
MAX_CALL_ID: Final = 200
MAX_USER_NAME: Final = 64
MAX_TITLE: Final = 200
MAX_KB_BODY: Final = 50_000
MAX_TAGS: Final = 20
MAX_TAG: Final = 40
MAX_QUERY: Final = 200
#: The largest id a SQL integer column holds; a bigger one cannot name any row.
MAX_ID: Final = 2**63 - 1

#: A ticket's states, in the order work usually goes.
STATUSES: Final = ("open", "pending", "solved", "closed")
PRIORITIES: Final = ("low", "normal", "high", "urgent")

_PHONE_CHARACTERS: Final = re.compile(r"[0-9 +\-().]+")
# Loose on purpose: mail systems accept far more than any stricter pattern would.
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_DIGITS: Final = frozenset("0123456789")
_LINE_BREAKS: Final = frozenset("\t\n\r")


class DeskError(ValueError):
    """Bad input; ``field`` names where it is (``name``, ``phones.2``), ``message`` why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class CustomerData:
    """A customer as stored: ``phones`` as written (stripped), ``numbers`` their normal
    forms in the same order."""

    name: str
    phones: tuple[str, ...]
    numbers: tuple[str, ...]
    email: str | None
    company: str | None
    notes: str
    fields: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class TicketData:
    subject: str
    body: str
    customer: int | None
    call: str | None
    assignee: str | None
    priority: str


@dataclass(frozen=True, slots=True)
class ArticleData:
    title: str
    body: str
    tags: tuple[str, ...]


# -- phone numbers ---------------------------------------------------------------------------


def normalise_phone(text: str) -> str:
    """``text``'s digits (ASCII only), after a ``+`` if ``text`` starts with one (spaces
    before it aside). Idempotent."""
    digits = "".join(c for c in text if c in _DIGITS)
    return "+" + digits if text.lstrip().startswith("+") else digits


def _phone(field: str, value: object) -> tuple[str, str]:
    """A phone as written and its normal form."""
    if not isinstance(value, str):
        raise DeskError(field, "must be a string")
    written = value.strip()
    if not MIN_PHONE_LENGTH <= len(written) <= MAX_PHONE_LENGTH:
        raise DeskError(field, f"must be {MIN_PHONE_LENGTH} to {MAX_PHONE_LENGTH} characters")
    if _PHONE_CHARACTERS.fullmatch(written) is None:
        raise DeskError(field, "may hold only digits, spaces and + - ( ) .")
    number = normalise_phone(written)
    if len(number.lstrip("+")) == 0:
        raise DeskError(field, "must hold at least one digit")
    return written, number


def check_phone_query(value: object, field: str = "phone") -> str:
    """The normal form of a number to look customers up by."""
    return _phone(field, value)[1]


# -- text ------------------------------------------------------------------------------------


def _text(field: str, value: object, *, maximum: int, minimum: int = 0,
          multiline: bool = False) -> str:
    """``value`` stripped, if it is a string of ``minimum`` to ``maximum`` characters
    without control characters (tabs and line breaks allowed when ``multiline``)."""
    if not isinstance(value, str):
        raise DeskError(field, "must be a string")
    text = value.strip()
    if len(text) < minimum:
        raise DeskError(field, "must not be empty" if minimum == 1 else
                        f"must have at least {minimum} characters")
    if len(text) > maximum:
        raise DeskError(field, f"must have at most {maximum} characters")
    for c in text:
        kind = unicodedata.category(c)
        if kind == "Cs" or (kind == "Cc" and not (multiline and c in _LINE_BREAKS)):
            raise DeskError(field, f"must not hold U+{ord(c):04X} (a control character or "
                                   "half a surrogate pair)")
    return text


def _optional_text(field: str, value: object, *, maximum: int) -> str | None:
    """None for null or blank text (what an empty form field sends), else the text."""
    if value is None:
        return None
    text = _text(field, value, maximum=maximum)
    return text or None


def check_search(value: object, field: str = "q") -> str:
    """The form of a search text that `search_text` output is matched against."""
    return _text(field, value, minimum=1, maximum=MAX_QUERY).casefold()


def search_text(*parts: str) -> str:
    """What a substring search runs over: the parts case-folded, one per line. A search
    text has no line break, so no match spans two parts."""
    return "\n".join(part.casefold() for part in parts)


def check_id(value: object, field: str) -> int:
    """An id as a SQL integer column holds it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise DeskError(field, "must be an integer id")
    if not 1 <= value <= MAX_ID:
        raise DeskError(field, f"must be from 1 to {MAX_ID}")
    return value


def check_user_name(value: object, field: str) -> str:
    return _text(field, value, minimum=1, maximum=MAX_USER_NAME)


# -- customers -------------------------------------------------------------------------------


def check_customer(*, name: object, phones: object = (), email: object = None,
                   company: object = None, notes: object = "",
                   fields: object = None) -> CustomerData:
    """A customer to store, from what was sent."""
    checked_name = _text("name", name, minimum=1, maximum=MAX_NAME)
    if not isinstance(phones, list | tuple):
        raise DeskError("phones", "must be a list of phone numbers")
    if len(phones) > MAX_PHONES:
        raise DeskError("phones", f"must have at most {MAX_PHONES} numbers")
    written: list[str] = []
    numbers: list[str] = []
    for index, value in enumerate(phones):
        phone, number = _phone(f"phones.{index}", value)
        if number in numbers:
            raise DeskError(f"phones.{index}",
                            f"is the same number as phones.{numbers.index(number)}")
        written.append(phone)
        numbers.append(number)
    checked_email = _optional_text("email", email, maximum=MAX_EMAIL)
    if checked_email is not None and _EMAIL.fullmatch(checked_email) is None:
        raise DeskError("email", "must be an e-mail address (name@example.com)")
    return CustomerData(
        name=checked_name, phones=tuple(written), numbers=tuple(numbers),
        email=checked_email,
        company=_optional_text("company", company, maximum=MAX_COMPANY),
        notes=_text("notes", notes, maximum=MAX_NOTES, multiline=True),
        fields=_fields(fields))


def _fields(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise DeskError("fields", "must be an object of names to texts")
    if len(value) > MAX_FIELDS:
        raise DeskError("fields", f"must have at most {MAX_FIELDS} names")
    checked: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise DeskError("fields", "names must be strings")
        # The key as sent names the field, what the user will look for; escaped where it
        # cannot be shown (or even encoded, for a lone surrogate) in an error.
        where = "fields." + "".join(c if c.isprintable() else f"\\u{ord(c):04x}"
                                    for c in key[:MAX_FIELD_NAME + 1])
        name = _text(where, key, minimum=1, maximum=MAX_FIELD_NAME)
        if name in checked:
            raise DeskError(where, "is there twice (names are stripped of spaces)")
        checked[name] = _text(where, item, maximum=MAX_FIELD_VALUE, multiline=True)
    return checked


# -- tickets ---------------------------------------------------------------------------------


def check_subject(value: object) -> str:
    return _text("subject", value, minimum=1, maximum=MAX_SUBJECT)


def check_status(value: object, field: str = "status") -> str:
    if value not in STATUSES:
        raise DeskError(field, f"must be one of {', '.join(STATUSES)}")
    assert isinstance(value, str)
    return value


def check_priority(value: object) -> str:
    if value not in PRIORITIES:
        raise DeskError("priority", f"must be one of {', '.join(PRIORITIES)}")
    assert isinstance(value, str)
    return value


def check_call(value: object) -> str | None:
    """A pycc call id (as the API lists calls), or None."""
    if value is None:
        return None
    return _text("call", value, minimum=1, maximum=MAX_CALL_ID)


def check_ticket(*, subject: object, body: object = "", customer: object = None,
                 call: object = None, assignee: object = None,
                 priority: object = "normal") -> TicketData:
    """A new ticket, from what was sent (that its customer and assignee exist is the
    store's to check)."""
    return TicketData(
        subject=check_subject(subject),
        body=_text("body", body, maximum=MAX_BODY, multiline=True),
        customer=None if customer is None else check_id(customer, "customer"),
        call=check_call(call),
        assignee=None if assignee is None else check_user_name(assignee, "assignee"),
        priority=check_priority(priority))


def check_comment(body: object) -> str:
    return _text("body", body, minimum=1, maximum=MAX_COMMENT, multiline=True)


# -- knowledge base --------------------------------------------------------------------------


def check_article(*, title: object, body: object = "", tags: object = ()) -> ArticleData:
    """A knowledge-base article, from what was sent."""
    checked_title = _text("title", title, minimum=1, maximum=MAX_TITLE)
    checked_body = _text("body", body, maximum=MAX_KB_BODY, multiline=True)
    if not isinstance(tags, list | tuple):
        raise DeskError("tags", "must be a list of texts")
    if len(tags) > MAX_TAGS:
        raise DeskError("tags", f"must have at most {MAX_TAGS} tags")
    checked: list[str] = []
    for index, tag in enumerate(tags):
        text = _text(f"tags.{index}", tag, minimum=1, maximum=MAX_TAG)
        if text in checked:
            raise DeskError(f"tags.{index}", f"is the same tag as tags.{checked.index(text)}")
        checked.append(text)
    return ArticleData(title=checked_title, body=checked_body, tags=tuple(checked))
