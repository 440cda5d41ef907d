"""Contact lists: CSV rows to E.164 contacts, every bad row reported at its line, and the time
zone of a number."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.pds.campaign import CampaignConfig
from pycc.pds.contacts import (
    COUNTRY_ZONES,
    NANP_ZONES,
    ContactsError,
    NumberError,
    mark_dnc,
    normalise,
    parse_csv,
    parse_dnc,
    zone_for_number,
)

US = CampaignConfig.from_dict({"name": "us", "country": "US", "timezone": "Europe/Paris"})
GB = CampaignConfig.from_dict({"name": "gb", "country": "GB"})
NO_COUNTRY = CampaignConfig.from_dict({"name": "any"})


@pytest.mark.parametrize(("written", "country", "e164"), [
    ("(212) 555-0100", "US", "+12125550100"),
    ("212.555.0100", "US", "+12125550100"),
    ("1 212 555 0100", "US", "+12125550100"),
    ("011 44 20 7946 0958", "US", "+442079460958"),
    ("+1-604-555-0100", None, "+16045550100"),
    ("020 7946 0958", "GB", "+442079460958"),
    ("00 33 1 23 45 67 89", "GB", "+33123456789"),
    ("0 30 1234567", "DE", "+49301234567"),
    ("+44 (0)20 7946 0958".replace("(0)", ""), None, "+442079460958"),
])
def test_numbers_are_normalised_to_e164(written: str, country: str | None, e164: str) -> None:
    assert normalise(written, country) == e164


@pytest.mark.parametrize(("written", "country", "words"), [
    ("", "US", "no phone number"),
    ("call me", "US", "not a phone number"),
    ("555-0100", "US", "not a valid number in US"),
    ("2125550100", None, "no country code"),
    ("+1 212 555 01", None, "does not fit the numbering plan of +1"),
    ("+1 112 555 0100", None, "does not fit the numbering plan of +1"),
    ("+44 0 20 7946 0958", None, "does not fit the numbering plan of +44"),
    ("+0123456789", None, "not a valid E.164"),
    ("+1234567890123456", None, "not a valid E.164"),
    ("12+34", "US", "not a phone number"),
    ("١٢٣٤٥٦٧٨٩٠", "US", "not a phone number"),
])
def test_bad_numbers_say_why(written: str, country: str | None, words: str) -> None:
    with pytest.raises(NumberError) as caught:
        normalise(written, country)
    assert words in str(caught.value)


def test_good_rows_keep_their_fields_and_bad_rows_their_line() -> None:
    text = (
        "phone,id,name,timezone,priority,plan,Agent Note\n"        # 1
        "(212) 555-0100,c1,Ann Lee,,5,gold,\"likes, commas\"\n"     # 2
        "+44 20 7946 0958,c2,Bob,,,silver,\n"                      # 3
        "12345,c3,Carl,,,,\n"                                      # 4
        "\n"                                                       # 5 (blank: skipped)
        "604 555 0100,c4,Dee,America/Edmonton,-2,,\"two\n"         # 6
        "lines\"\n"                                                # 7
        "312-555-0199,c5,,Mars/Base,,,\n"                          # 8
        "312-555-0199,c6,,,high,,\n"                               # 9
        "312-555-0199,c7,,,,,,extra\n"                             # 10
    )
    report = parse_csv(text, US)
    assert [row.line for row in report.good] == [2, 3, 6]
    ann, bob, dee = report.good
    assert (ann.phone, ann.external_id, ann.name, ann.priority) == \
        ("+12125550100", "c1", "Ann Lee", 5)
    assert ann.zone == "America/New_York"
    assert dict(ann.fields) == {"plan": "gold", "Agent Note": "likes, commas"}
    assert (bob.phone, bob.zone, bob.priority, bob.name) == \
        ("+442079460958", "Europe/London", 0, "Bob")
    assert (dee.phone, dee.zone, dee.priority) == ("+16045550100", "America/Edmonton", -2)
    assert dee.fields["Agent Note"] == "two\nlines"
    assert report.columns == ("plan", "Agent Note")
    reasons = dict(report.rejected)
    assert sorted(reasons) == [4, 8, 9, 10]
    assert "'12345' is not a valid number in US" in reasons[4]
    assert "unknown time zone 'Mars/Base'" in reasons[8]
    assert "priority 'high'" in reasons[9]
    assert "8 cells, but the header has 7" in reasons[10]
    assert report.duplicates == [] and report.rows == 7


def test_duplicates_name_the_first_line_by_id_or_by_number() -> None:
    text = ("phone,external_id\n"
            "+12125550100,a\n"      # 2
            "+12125550101,b\n"      # 3
            "212 555 0100,c\n"      # 4: same number as line 2
            "+12125550102,b\n"      # 5: same id as line 3
            "+12125550103,\n")      # 6: no id: the number is the key
    report = parse_csv(text, US)
    assert report.duplicates == [(4, 2), (5, 3)]
    assert [row.external_id for row in report.good] == ["a", "b", "+12125550103"]


def test_without_an_id_column_the_number_is_the_key() -> None:
    report = parse_csv("Phone\n+12125550100\n+1 212 555 0100\n", NO_COUNTRY)
    assert [row.external_id for row in report.good] == ["+12125550100"]
    assert report.duplicates == [(3, 2)]


def test_do_not_call_numbers_are_reported_not_imported() -> None:
    text = "phone\n+12125550100\n+12125550101\n+12125550102\n"
    report = parse_csv(text, US, dnc={"+12125550101"})
    assert [row.phone for row in report.good] == ["+12125550100", "+12125550102"]
    assert report.dnc == [(3, "+12125550101")]
    later = mark_dnc(parse_csv(text, US), {"+12125550102", "+19999999999"})
    assert [row.phone for row in later.good] == ["+12125550100", "+12125550101"]
    assert later.dnc == [(4, "+12125550102")]


def test_semicolons_tabs_and_a_byte_order_mark() -> None:
    semicolon = parse_csv("\ufeffphone;name\n020 7946 0958;Ann\n".encode(), GB)
    assert [(row.phone, row.name) for row in semicolon.good] == [("+442079460958", "Ann")]
    tabs = parse_csv("name\tphone\nAnn\t+12125550100\n", NO_COUNTRY)
    assert [row.phone for row in tabs.good] == ["+12125550100"]


def test_numbers_without_a_country_code_need_the_campaign_country() -> None:
    report = parse_csv("phone\n2125550100\n+12125550100\n", NO_COUNTRY)
    assert [row.line for row in report.good] == [3]
    assert report.rejected[0][0] == 2 and "no country code" in report.rejected[0][1]


def test_an_unknown_country_falls_back_to_the_campaign_zone() -> None:
    report = parse_csv("phone\n+8821234567\n", US)  # +882: international networks
    assert report.good[0].zone == "Europe/Paris"


@pytest.mark.parametrize(("text", "words"), [
    ("", "empty"),
    ("\n\n", "empty"),
    ("name,email\nAnn,a@example.com\n", "no 'phone' column"),
    ("phone,id,external_id\n+12125550100,1,1\n", "not both"),
    ("phone,Phone\n1,2\n", "appears twice"),
])
def test_a_file_that_cannot_be_read_is_one_error(text: str, words: str) -> None:
    with pytest.raises(ContactsError, match=words):
        parse_csv(text, US)


def test_encoding_and_missing_files_are_one_error(tmp_path: Path) -> None:
    with pytest.raises(ContactsError, match="not UTF-8"):
        parse_csv("phone\n+12125550100\nJos\xe9\n".encode("latin-1"), US)
    with pytest.raises(ContactsError, match="cannot read"):
        parse_csv(tmp_path / "missing.csv", US)
    path = tmp_path / "list.csv"
    path.write_text("phone\n+12125550100\n", encoding="utf-8")
    assert [row.phone for row in parse_csv(path, US).good] == ["+12125550100"]


def test_a_do_not_call_file() -> None:
    listed = parse_dnc("number\n# from the regulator\n(212) 555-0100\n+1 212 555 0100\n"
                       "nope\n+442079460958, added 2024\n", "US")
    assert listed.numbers == ["+12125550100", "+442079460958"]
    assert [line for line, _ in listed.rejected] == [5]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("phone,;\t\"\n\r+0123456789 ()-abcé#\x00")),
               max_size=200))
def test_any_text_gives_a_report_or_the_documented_error(text: str) -> None:
    try:
        report = parse_csv(text, US)
    except ContactsError:
        return
    lines = [row.line for row in report.good] + [line for line, _ in report.rejected]
    assert all(line >= 1 for line in lines)
    assert all(row.phone.startswith("+") for row in report.good)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_a_report_or_the_documented_error(data: bytes) -> None:
    try:
        report = parse_csv(b"phone,name\n" + data, US)
    except ContactsError as exc:
        assert "UTF-8" in str(exc)
        return
    assert all(row.phone.startswith("+") and row.line >= 2 for row in report.good)


# -- time zones ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("number", "zone"), [
    ("+12125550100", "America/New_York"),
    ("+13125550100", "America/Chicago"),
    ("+12145550100", "America/Chicago"),
    ("+13035550100", "America/Denver"),
    ("+16025550100", "America/Phoenix"),
    ("+14155550100", "America/Los_Angeles"),
    ("+12065550100", "America/Los_Angeles"),
    ("+13135550100", "America/Detroit"),
    ("+19075550100", "America/Anchorage"),
    ("+18085550100", "Pacific/Honolulu"),
    ("+14165550100", "America/Toronto"),
    ("+15145550100", "America/Toronto"),
    ("+16045550100", "America/Vancouver"),
    ("+14035550100", "America/Edmonton"),
    ("+19025550100", "America/Halifax"),
    ("+17095550100", "America/St_Johns"),
    ("+18765550100", "America/Jamaica"),
    ("+17875550100", "America/Puerto_Rico"),
    ("+15555550100", "America/New_York"),  # no such area code: the plan's default
    ("+442079460958", "Europe/London"),
    ("+33123456789", "Europe/Paris"),
    ("+4930123456", "Europe/Berlin"),
    ("+81312345678", "Asia/Tokyo"),
    ("+61212345678", "Australia/Sydney"),
    ("+5511912345678", "America/Sao_Paulo"),
    ("+74951234567", "Europe/Moscow"),
    ("+77011234567", "Asia/Almaty"),
    ("+35312345678", "Europe/Dublin"),
    ("+35812345678", "Europe/Helsinki"),
    ("+97141234567", "Asia/Dubai"),
    ("+919876543210", "Asia/Kolkata"),
])
def test_zones_from_numbers(number: str, zone: str) -> None:
    assert zone_for_number(number) == zone


def test_every_zone_in_the_tables_exists() -> None:
    for zone in {*NANP_ZONES.values(), *COUNTRY_ZONES.values()}:
        ZoneInfo(zone)
    assert all(len(code) == 3 and code.isdigit() for code in NANP_ZONES)
    # Country codes are a prefix code: no code starts another (Kazakhstan's 76/77 inside
    # +7 is the one deliberate exception, the longer one wins).
    codes = sorted(COUNTRY_ZONES)
    overlaps = {(a, b) for a in codes for b in codes if a != b and b.startswith(a)}
    assert overlaps == {("7", "76"), ("7", "77")}
