"""``Range`` headers of downloads (RFC 9110 section 14): one range is served, a suffix range
counts from the end, a range starting past the end is unsatisfiable, and whatever is not a
single byte range is ignored (the whole file is sent)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.files.ranges import UNSATISFIABLE, ByteRange, select_range


@pytest.mark.parametrize(("header", "size", "expected"), [
    (None, 100, None),
    ("bytes=0-9", 100, (0, 9)),
    ("bytes=90-", 100, (90, 99)),
    ("bytes=90-1000", 100, (90, 99)),
    ("bytes=-10", 100, (90, 99)),
    ("bytes=-1000", 100, (0, 99)),
    ("bytes = 5 - 5", 100, (5, 5)),
    ("bytes=100-", 100, UNSATISFIABLE),
    ("bytes=-0", 100, UNSATISFIABLE),
    ("bytes=0-", 0, UNSATISFIABLE),
    ("bytes=9-0", 100, None),
    ("bytes=0-1,5-6", 100, None),
    ("items=0-1", 100, None),
    ("bytes=-", 100, None),
    ("bytes=abc", 100, None),
    ("bytes=" + "9" * 40 + "-", 100, None),
    ("bytes=\u0661-\u0662", 100, None),  # Arabic-Indic digits are not digits here
])
def test_ranges(header: str | None, size: int,
                expected: tuple[int, int] | str | None) -> None:
    got = select_range(header, size)
    if isinstance(got, ByteRange):
        assert (got.first, got.last) == expected
        assert got.content_range == f"bytes {got.first}-{got.last}/{size}"
        assert got.length == got.last - got.first + 1
    else:
        assert got == expected


@given(st.integers(0, 10_000), st.integers(0, 12_000) | st.none(),
       st.integers(0, 12_000) | st.none())
def test_a_selected_range_is_within_the_file_and_what_was_asked(
        size: int, first: int | None, last: int | None) -> None:
    header = f"bytes={'' if first is None else first}-{'' if last is None else last}"
    got = select_range(header, size)
    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    if (first is None and last is None) or (first is not None and last is not None
                                            and last < first):
        assert got is None
        return
    if first is None:
        assert last is not None
        expected = data[-last:] if last else b""
    else:
        expected = data[first:None if last is None else last + 1]
    if not expected:
        assert got == UNSATISFIABLE
        return
    assert isinstance(got, ByteRange)
    assert 0 <= got.first <= got.last < size
    assert data[got.first:got.last + 1] == expected
