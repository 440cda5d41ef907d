"""Contact lists: reading a CSV file row by row into valid contacts and a report of the rest.

`parse_csv` takes the text (or the bytes, or a file path) of a CSV file whose header names a
``phone`` column and optionally ``id`` or ``external_id`` (the key that makes importing the
same file twice add nothing; without it the number is the key), ``name``, ``timezone`` (an
IANA zone) and ``priority`` (a whole number; higher is dialed first). Every other column is a
custom field kept with the contact, and shown to the agent who takes the call. Separators
``,``, ``;`` and tab are recognised from the header line; the text must be UTF-8 (a byte
order mark is fine). Columns with an empty header are ignored.

Each row is checked on its own: a bad row is reported with its line number and the reason,
never stopping the import. Numbers are normalised to E.164 with :mod:`pycc.routing.translate`
and the campaign's ``country`` for numbers written without ``+``; for the countries pycc has a
numbering plan for, the national number must fit it. A row whose number or id appeared on an
earlier row is reported as a duplicate of that line; a number on the do-not-call list is
reported too. Only a file that cannot be read at all (not UTF-8, no header, no ``phone``
column) is one `ContactsError`.

A contact's time zone, unless given, comes from its number: the country calling code gives a
representative zone (`COUNTRY_ZONES`), and within the North American Numbering Plan the area
code gives the zone (`NANP_ZONES`, the major US and Canadian area codes and the Caribbean
members); an unknown NANP area code falls back to US Eastern time and an unknown country to
the campaign's ``timezone``. Zones of countries that span several are a best guess: give a
``timezone`` column when it matters. Pure: no database, no clock.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from pycc.pds.campaign import CampaignConfig
from pycc.routing.translate import NUMBERING_PLANS, NumberingPlan, numbering_plan, to_e164

__all__ = [
    "COUNTRY_ZONES",
    "NANP_DEFAULT_ZONE",
    "NANP_ZONES",
    "ContactRow",
    "ContactsError",
    "DncList",
    "ImportReport",
    "NumberError",
    "RowError",
    "mark_dnc",
    "normalise",
    "parse_csv",
    "parse_dnc",
    "valid_zone",
    "zone_for_number",
]

#: Priorities are stored as 32-bit integers; a contact list needs far fewer levels.
MAX_PRIORITY: Final = 1_000_000
MAX_ID_LENGTH: Final = 200
_SEPARATORS: Final = ",;\t"
_VISUAL: Final = str.maketrans("", "", " -.()/")
_E164: Final = re.compile(r"\+[1-9][0-9]{6,14}")
_KNOWN_COLUMNS: Final = ("phone", "id", "external_id", "name", "timezone", "priority")


class ContactsError(ValueError):
    """The contact file cannot be read at all; the message says why."""


class RowError(ValueError):
    """A row that is no valid contact; the message is the reason."""


class NumberError(RowError):
    """A phone number that cannot be normalised to E.164; the message is the reason."""


@dataclass(frozen=True, slots=True)
class ContactRow:
    """A valid row: ``phone`` is E.164, ``zone`` an IANA zone, ``fields`` the custom
    columns by header name."""

    line: int
    phone: str
    external_id: str
    zone: str
    name: str | None = None
    priority: int = 0
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What a file held: the good rows, and the others with their line numbers.

    ``rejected`` is (line, reason); ``duplicates`` is (line, the earlier line with the same
    number or id); ``dnc`` is (line, number) for numbers on the do-not-call list.
    """

    good: list[ContactRow] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    duplicates: list[tuple[int, int]] = field(default_factory=list)
    dnc: list[tuple[int, str]] = field(default_factory=list)
    columns: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        """How many data rows the file had."""
        return len(self.good) + len(self.rejected) + len(self.duplicates) + len(self.dnc)


@dataclass(frozen=True, slots=True)
class DncList:
    """Numbers read from a do-not-call file, and the lines that were not numbers."""

    numbers: list[str] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)


# -- numbers -----------------------------------------------------------------------------------


def normalise(number: str, country: str | None) -> str:
    """``number`` as E.164, or `NumberError` with the reason.

    ``country`` (``"US"``, ``"GB"``...) is the plan of numbers written without ``+``; with
    None such numbers are refused.
    """
    text = number.strip()
    if not text:
        raise NumberError("no phone number")
    compact = text.translate(_VISUAL)
    if not compact.lstrip("+").isascii() or not compact.lstrip("+").isdigit() or \
            compact.count("+") > 1 or ("+" in compact and not compact.startswith("+")):
        raise NumberError(f"{text!r} is not a phone number")
    if compact.startswith("+"):
        e164 = compact
    elif country is None:
        raise NumberError(f"{text!r} has no country code: write it as +CC... or set the "
                          "campaign's country")
    else:
        e164 = to_e164(compact, numbering_plan(country))
        if not e164.startswith("+"):
            raise NumberError(f"{text!r} is not a valid number in {country.upper()} (nor "
                              "an international one)")
    if not _E164.fullmatch(e164):
        raise NumberError(f"{text!r} is not a valid E.164 number (a country code and at "
                          "most 15 digits)")
    plan = _plan_of(e164)
    if plan is not None and not plan.is_nsn(e164[1 + len(plan.country_code):]):
        raise NumberError(f"{text!r} ({e164}) does not fit the numbering plan of "
                          f"+{plan.country_code}")
    return e164


def _plan_of(e164: str) -> NumberingPlan | None:
    for plan in NUMBERING_PLANS.values():
        if e164.startswith("+" + plan.country_code):
            return plan
    return None


def valid_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone this system knows."""
    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        return False
    return True


def zone_for_number(e164: str, default: str = "UTC") -> str:
    """The representative time zone of an E.164 number; ``default`` if its country is not
    in the table."""
    digits = e164.removeprefix("+")
    if digits.startswith("1"):
        return NANP_ZONES.get(digits[1:4], NANP_DEFAULT_ZONE)
    for length in (3, 2, 1):
        zone = COUNTRY_ZONES.get(digits[:length])
        if zone is not None:
            return zone
    return default


# -- the CSV file ------------------------------------------------------------------------------


def parse_csv(source: str | bytes | Path, config: CampaignConfig | None = None, *,
              dnc: Collection[str] = ()) -> ImportReport:
    """Read a contact list (text, bytes or a file path) for ``config``'s campaign (its
    ``country`` and ``timezone``); ``dnc`` are the numbers not to call.

    Raises `ContactsError` only when the file cannot be read at all.
    """
    text = _text(source)
    country = None if config is None else config.country
    default_zone = "UTC" if config is None else config.timezone
    reader, lines = _reader(text)
    header, header_line = _header(reader, lines)
    columns = _columns(header, header_line)
    phone_at = columns.get("phone")
    if phone_at is None:
        shown = ", ".join(cell.strip() for cell in header if cell.strip())
        raise ContactsError(f"line {header_line}: no 'phone' column in the header "
                            f"(columns: {shown or 'none'})")
    if "id" in columns and "external_id" in columns:
        raise ContactsError(f"line {header_line}: give an id or an external_id column, "
                            "not both")
    custom = [(index, header[index].strip()) for index in range(len(header))
              if header[index].strip() and header[index].strip().lower() not in _KNOWN_COLUMNS]
    report = ImportReport(columns=tuple(name for _, name in custom))
    seen_ids: dict[str, int] = {}
    seen_phones: dict[str, int] = {}
    for line, row in _rows(reader, lines):
        if isinstance(row, str):
            report.rejected.append((line, row))
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            report.rejected.append((line, f"{len(row)} cells, but the header has "
                                          f"{len(header)}"))
            continue
        cells = row + [""] * (len(header) - len(row))
        try:
            contact = _contact(line, cells, columns, custom, country, default_zone)
        except RowError as exc:
            report.rejected.append((line, str(exc)))
            continue
        first = seen_ids.get(contact.external_id, seen_phones.get(contact.phone))
        if first is not None:
            report.duplicates.append((line, first))
            continue
        seen_ids[contact.external_id] = line
        seen_phones[contact.phone] = line
        if contact.phone in dnc:
            report.dnc.append((line, contact.phone))
            continue
        report.good.append(contact)
    return report


def mark_dnc(report: ImportReport, dnc: Collection[str]) -> ImportReport:
    """``report`` with the good rows whose number is in ``dnc`` moved to its ``dnc`` list."""
    blocked = [(row.line, row.phone) for row in report.good if row.phone in dnc]
    if not blocked:
        return report
    return replace(report, good=[row for row in report.good if row.phone not in dnc],
                   dnc=sorted([*report.dnc, *blocked]))


def parse_dnc(source: str | bytes | Path, country: str | None) -> DncList:
    """Numbers of a do-not-call file: one per line (the first cell of a CSV line), ``#``
    starting a comment; a first line that holds no digits is a header and skipped."""
    text = _text(source)
    found = DncList()
    seen: set[str] = set()
    for line, raw in enumerate(text.splitlines(), start=1):
        content = raw.split("#", 1)[0]
        cell = re.split(r"[,;\t]", content, maxsplit=1)[0].strip().strip('"')
        if not cell:
            continue
        if line == 1 and not any(character.isdigit() for character in cell):
            continue
        try:
            number = normalise(cell, country)
        except NumberError as exc:
            found.rejected.append((line, str(exc)))
            continue
        if number not in seen:
            seen.add(number)
            found.numbers.append(number)
    return found


def _text(source: str | bytes | Path) -> str:
    if isinstance(source, Path):
        try:
            source = source.read_bytes()
        except OSError as exc:
            raise ContactsError(f"cannot read {exc.filename}: {exc.strerror or exc}") from None
    if isinstance(source, bytes):
        try:
            return source.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ContactsError(f"not UTF-8 text (byte 0x{source[exc.start]:02x} at offset "
                                f"{exc.start}): save the file as UTF-8") from None
    return source.removeprefix("\ufeff")


class _Lines:
    """The text's lines, counting how many the CSV reader has taken (a quoted cell may span
    several), so each row is reported at the line it starts on."""

    def __init__(self, text: str) -> None:
        self._lines = iter(io.StringIO(text, newline=""))
        self.taken = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.taken += 1
        return line


def _reader(text: str) -> tuple[Iterator[list[str]], _Lines]:
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {separator: _unquoted(first).count(separator) for separator in _SEPARATORS}
    separator = max(_SEPARATORS, key=lambda s: (counts[s], s == ","))
    lines = _Lines(text)
    return csv.reader(lines, delimiter=separator, strict=False), lines


def _unquoted(line: str) -> str:
    return re.sub(r'"[^"]*"', "", line)


def _rows(reader: Iterator[list[str]], lines: _Lines) -> Iterator[tuple[int, list[str] | str]]:
    """(line, cells) for each record, or (line, reason) for one the CSV reader refused."""
    while True:
        start = lines.taken + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, f"unreadable CSV: {exc}"
            if lines.taken < start:
                return  # the reader made no progress: nothing more can be read
            continue
        yield start, row


def _header(reader: Iterator[list[str]], lines: _Lines) -> tuple[list[str], int]:
    for line, row in _rows(reader, lines):
        if isinstance(row, str):
            raise ContactsError(f"line {line}: the header is {row}")
        if any(cell.strip() for cell in row):
            return row, line
    raise ContactsError("the file is empty: expected a header line naming a 'phone' column")


def _columns(header: list[str], line: int) -> dict[str, int]:
    columns: dict[str, int] = {}
    seen: set[str] = set()
    for index, cell in enumerate(header):
        name = cell.strip()
        if not name:
            continue
        key = name.lower() if name.lower() in _KNOWN_COLUMNS else name
        if key in seen:
            raise ContactsError(f"line {line}: column {name!r} appears twice in the header")
        seen.add(key)
        if key in _KNOWN_COLUMNS:
            columns[key] = index
    return columns


def _contact(line: int, cells: list[str], columns: Mapping[str, int],
             custom: list[tuple[int, str]], country: str | None,
             default_zone: str) -> ContactRow:
    phone = normalise(cells[columns["phone"]], country)
    id_at = columns.get("external_id", columns.get("id"))
    external_id = cells[id_at].strip() if id_at is not None else ""
    if len(external_id) > MAX_ID_LENGTH:
        raise RowError(f"id longer than {MAX_ID_LENGTH} characters")
    zone_text = cells[columns["timezone"]].strip() if "timezone" in columns else ""
    if zone_text:
        if not valid_zone(zone_text):
            raise RowError(f"unknown time zone {zone_text!r}")
        zone = zone_text
    else:
        zone = zone_for_number(phone, default_zone)
    priority = 0
    priority_text = cells[columns["priority"]].strip() if "priority" in columns else ""
    if priority_text:
        try:
            priority = int(priority_text)
        except ValueError:
            raise RowError(f"priority {priority_text!r} is not a whole number") from None
        if abs(priority) > MAX_PRIORITY:
            raise RowError(f"priority {priority} is beyond +-{MAX_PRIORITY}")
    name = cells[columns["name"]].strip() if "name" in columns else ""
    return ContactRow(line=line, phone=phone, external_id=external_id or phone, zone=zone,
                      name=name or None, priority=priority,
                      fields={header: cells[index] for index, header in custom})


# -- time zones by number ----------------------------------------------------------------------


def _by_zone(table: Mapping[str, str]) -> dict[str, str]:
    """Invert ``{zone: "code code ..."}`` into ``{code: zone}``."""
    return {code: zone for zone, codes in table.items() for code in codes.split()}


#: The zone used for a NANP number whose area code is not in `NANP_ZONES`.
NANP_DEFAULT_ZONE: Final = "America/New_York"

#: NANP area code -> zone. Area codes that straddle a zone line are given the zone of most
#: of their subscribers, or left out (then US Eastern) when no zone clearly dominates.
NANP_ZONES: Final[Mapping[str, str]] = _by_zone({
    "America/New_York": (
        # New York, New Jersey, Pennsylvania
        "212 315 332 347 516 518 585 607 631 646 680 716 718 838 845 914 917 929 934 "
        "201 551 609 640 732 848 856 862 908 973 "
        "215 223 267 272 412 445 484 570 582 610 717 724 814 878 "
        # New England
        "339 351 413 508 617 774 781 857 978 203 475 860 959 401 603 802 207 "
        # Delaware, Maryland, DC, Virginia, West Virginia
        "302 240 301 410 443 667 202 771 276 434 540 571 703 757 804 826 948 304 681 "
        # the Carolinas, Georgia, peninsular Florida
        "252 336 472 704 743 828 910 919 980 984 803 839 843 854 864 "
        "229 404 470 478 678 706 762 770 912 "
        "239 305 321 352 386 407 561 645 656 689 727 754 772 786 813 863 904 941 954 "
        # Ohio, eastern Kentucky and Tennessee
        "216 220 234 326 330 380 419 440 513 567 614 740 937 502 606 859 423 865"),
    "America/Detroit": "231 248 269 313 517 586 616 679 734 810 906 947 989",
    "America/Indiana/Indianapolis": "260 317 463 574 765",
    "America/Chicago": (
        "217 224 309 312 331 447 464 618 630 708 773 779 815 847 872 "  # Illinois
        "262 274 414 534 608 715 920 218 320 507 612 651 763 952 "  # Wisconsin, Minnesota
        "319 515 563 641 712 314 417 557 573 636 660 816 975 "  # Iowa, Missouri
        "479 501 870 225 318 337 504 985 228 601 662 769 "  # Arkansas, Louisiana, Mississippi
        "205 251 256 334 659 938 405 539 580 918 "  # Alabama, Oklahoma
        "316 620 785 913 308 402 531 605 701 "  # Kansas, Nebraska, the Dakotas
        "210 214 254 281 325 346 361 409 430 432 469 512 682 713 726 737 806 817 830 832 "
        "903 936 940 945 956 972 979 "  # Texas
        "219 270 364 615 629 731 901 931"),  # NW Indiana, W Kentucky, Middle/W Tennessee
    "America/Denver": "303 719 720 970 505 575 385 435 801 307 406 915",
    "America/Boise": "208 986",
    "America/Phoenix": "480 520 602 623 928",
    "America/Los_Angeles": (
        "209 213 279 310 323 408 415 424 442 510 530 559 562 619 626 628 650 657 661 669 "
        "707 714 747 760 805 818 820 831 840 858 909 916 925 949 951 "  # California
        "206 253 360 425 509 564 458 503 541 971 702 725 775"),  # Washington, Oregon, Nevada
    "America/Anchorage": "907",
    "Pacific/Honolulu": "808",
    "America/Toronto": (
        "226 249 289 343 365 416 437 519 548 613 647 683 705 742 905 "  # Ontario
        "263 354 367 418 438 450 468 514 579 581 819 873"),  # Quebec
    "America/Winnipeg": "204 431 584",
    "America/Regina": "306 639",
    "America/Edmonton": "368 403 587 780 825",
    "America/Vancouver": "236 250 604 672 778",
    "America/Halifax": "782 902",
    "America/Moncton": "428 506",
    "America/St_Johns": "709 879",
    # The Caribbean and Pacific members of the plan.
    "America/Nassau": "242",
    "America/Barbados": "246",
    "America/Anguilla": "264",
    "America/Antigua": "268",
    "America/Tortola": "284",
    "America/St_Thomas": "340",
    "America/Cayman": "345",
    "Atlantic/Bermuda": "441",
    "America/Grenada": "473",
    "America/Grand_Turk": "649",
    "America/Jamaica": "658 876",
    "America/Montserrat": "664",
    "Pacific/Saipan": "670",
    "Pacific/Guam": "671",
    "Pacific/Pago_Pago": "684",
    "America/Lower_Princes": "721",
    "America/St_Lucia": "758",
    "America/Dominica": "767",
    "America/St_Vincent": "784",
    "America/Puerto_Rico": "787 939",
    "America/Santo_Domingo": "809 829 849",
    "America/Port_of_Spain": "868",
    "America/St_Kitts": "869",
})

#: Country calling code (ITU-T E.164 assignments, without +1) -> a representative zone:
#: the capital's, or that of most of the population.
COUNTRY_ZONES: Final[Mapping[str, str]] = _by_zone({
    # Africa
    "Africa/Cairo": "20", "Africa/Juba": "211", "Africa/Casablanca": "212",
    "Africa/Algiers": "213", "Africa/Tunis": "216", "Africa/Tripoli": "218",
    "Africa/Banjul": "220", "Africa/Dakar": "221", "Africa/Nouakchott": "222",
    "Africa/Bamako": "223", "Africa/Conakry": "224", "Africa/Abidjan": "225",
    "Africa/Ouagadougou": "226", "Africa/Niamey": "227", "Africa/Lome": "228",
    "Africa/Porto-Novo": "229", "Indian/Mauritius": "230", "Africa/Monrovia": "231",
    "Africa/Freetown": "232", "Africa/Accra": "233", "Africa/Lagos": "234",
    "Africa/Ndjamena": "235", "Africa/Bangui": "236", "Africa/Douala": "237",
    "Atlantic/Cape_Verde": "238", "Africa/Sao_Tome": "239", "Africa/Malabo": "240",
    "Africa/Libreville": "241", "Africa/Brazzaville": "242", "Africa/Kinshasa": "243",
    "Africa/Luanda": "244", "Africa/Bissau": "245", "Indian/Mahe": "248",
    "Africa/Khartoum": "249", "Africa/Kigali": "250", "Africa/Addis_Ababa": "251",
    "Africa/Mogadishu": "252", "Africa/Djibouti": "253", "Africa/Nairobi": "254",
    "Africa/Dar_es_Salaam": "255", "Africa/Kampala": "256", "Africa/Bujumbura": "257",
    "Africa/Maputo": "258", "Africa/Lusaka": "260", "Indian/Antananarivo": "261",
    "Indian/Reunion": "262", "Africa/Harare": "263", "Africa/Windhoek": "264",
    "Africa/Blantyre": "265", "Africa/Maseru": "266", "Africa/Gaborone": "267",
    "Africa/Mbabane": "268", "Indian/Comoro": "269", "Africa/Johannesburg": "27",
    "Atlantic/St_Helena": "290", "Africa/Asmara": "291",
    # Europe and its islands
    "America/Aruba": "297", "Atlantic/Faroe": "298", "America/Nuuk": "299",
    "Europe/Athens": "30", "Europe/Amsterdam": "31", "Europe/Brussels": "32",
    "Europe/Paris": "33", "Europe/Madrid": "34", "Europe/Gibraltar": "350",
    "Europe/Lisbon": "351", "Europe/Luxembourg": "352", "Europe/Dublin": "353",
    "Atlantic/Reykjavik": "354", "Europe/Tirane": "355", "Europe/Malta": "356",
    "Asia/Nicosia": "357", "Europe/Helsinki": "358", "Europe/Sofia": "359",
    "Europe/Budapest": "36", "Europe/Vilnius": "370", "Europe/Riga": "371",
    "Europe/Tallinn": "372", "Europe/Chisinau": "373", "Asia/Yerevan": "374",
    "Europe/Minsk": "375", "Europe/Andorra": "376", "Europe/Monaco": "377",
    "Europe/San_Marino": "378", "Europe/Kyiv": "380", "Europe/Belgrade": "381 383",
    "Europe/Podgorica": "382", "Europe/Zagreb": "385", "Europe/Ljubljana": "386",
    "Europe/Sarajevo": "387", "Europe/Skopje": "389", "Europe/Rome": "39",
    "Europe/Bucharest": "40", "Europe/Zurich": "41", "Europe/Prague": "420",
    "Europe/Bratislava": "421", "Europe/Vaduz": "423", "Europe/Vienna": "43",
    "Europe/London": "44", "Europe/Copenhagen": "45", "Europe/Stockholm": "46",
    "Europe/Oslo": "47", "Europe/Warsaw": "48", "Europe/Berlin": "49",
    # The Americas
    "Atlantic/Stanley": "500", "America/Belize": "501", "America/Guatemala": "502",
    "America/El_Salvador": "503", "America/Tegucigalpa": "504", "America/Managua": "505",
    "America/Costa_Rica": "506", "America/Panama": "507", "America/Miquelon": "508",
    "America/Port-au-Prince": "509", "America/Lima": "51", "America/Mexico_City": "52",
    "America/Havana": "53", "America/Argentina/Buenos_Aires": "54",
    "America/Sao_Paulo": "55", "America/Santiago": "56", "America/Bogota": "57",
    "America/Caracas": "58", "America/Guadeloupe": "590", "America/La_Paz": "591",
    "America/Guyana": "592", "America/Guayaquil": "593", "America/Cayenne": "594",
    "America/Asuncion": "595", "America/Martinique": "596", "America/Paramaribo": "597",
    "America/Montevideo": "598", "America/Curacao": "599",
    # Asia and the Pacific
    "Asia/Kuala_Lumpur": "60", "Australia/Sydney": "61", "Asia/Jakarta": "62",
    "Asia/Manila": "63", "Pacific/Auckland": "64", "Asia/Singapore": "65",
    "Asia/Bangkok": "66", "Asia/Dili": "670", "Asia/Brunei": "673", "Pacific/Nauru": "674",
    "Pacific/Port_Moresby": "675", "Pacific/Tongatapu": "676",
    "Pacific/Guadalcanal": "677", "Pacific/Efate": "678", "Pacific/Fiji": "679",
    "Pacific/Palau": "680", "Pacific/Apia": "685", "Pacific/Tarawa": "686",
    "Pacific/Noumea": "687", "Pacific/Tahiti": "689", "Pacific/Pohnpei": "691",
    "Pacific/Majuro": "692",
    # Russia; Kazakhstan has +76 and +77 within +7.
    "Europe/Moscow": "7", "Asia/Almaty": "76 77",
    "Asia/Tokyo": "81", "Asia/Seoul": "82", "Asia/Ho_Chi_Minh": "84",
    "Asia/Pyongyang": "850", "Asia/Hong_Kong": "852", "Asia/Macau": "853",
    "Asia/Phnom_Penh": "855", "Asia/Vientiane": "856", "Asia/Shanghai": "86",
    "Asia/Dhaka": "880", "Asia/Taipei": "886",
    "Europe/Istanbul": "90", "Asia/Kolkata": "91", "Asia/Karachi": "92", "Asia/Kabul": "93",
    "Asia/Colombo": "94", "Asia/Yangon": "95", "Indian/Maldives": "960",
    "Asia/Beirut": "961", "Asia/Amman": "962", "Asia/Damascus": "963",
    "Asia/Baghdad": "964", "Asia/Kuwait": "965", "Asia/Riyadh": "966", "Asia/Aden": "967",
    "Asia/Muscat": "968", "Asia/Hebron": "970", "Asia/Dubai": "971",
    "Asia/Jerusalem": "972", "Asia/Bahrain": "973", "Asia/Qatar": "974",
    "Asia/Thimphu": "975", "Asia/Ulaanbaatar": "976", "Asia/Kathmandu": "977",
    "Asia/Tehran": "98", "Asia/Dushanbe": "992", "Asia/Ashgabat": "993", "Asia/Baku": "994",
    "Asia/Tbilisi": "995", "Asia/Bishkek": "996", "Asia/Tashkent": "998",
})
