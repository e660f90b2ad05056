"""Reading an upload of pool codes: the CSV's header, delimiters and encodings, every bad line named FILE:LINE,
the limits, and pool names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from emma.offers.ports import PoolCode
from emma.offers.upload import (
    MAX_SHOWN,
    InvalidCodes,
    InvalidPoolName,
    TooManyCodes,
    check_pool_name,
    decode,
    parse_codes,
    parse_expiry,
    read_codes,
    to_csv,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def problems(text: str, **kwargs) -> list[str]:
    with pytest.raises(InvalidCodes) as caught:
        parse_codes(text, "codes.csv", **kwargs)
    assert caught.value.status == 422 and caught.value.code == "invalid_codes"
    assert caught.value.message.endswith("; nothing stored")
    return caught.value.problems


def test_a_single_column_of_codes():
    assert parse_codes("code\nWINTER-001\nWINTER-002\n", "codes.csv") == [
        PoolCode("WINTER-001"),
        PoolCode("WINTER-002"),
    ]


def test_codes_with_expiry_a_date_is_the_end_of_that_day_utc_and_a_time_keeps_its_instant():
    text = "code,expires_at\nA-001,2026-12-31\nA-002,2026-12-31T18:00:00+01:00\nA-003,2026-06-01T12:00\nA-004,\n"
    assert parse_codes(text, "codes.csv", now=T0) == [
        PoolCode("A-001", datetime(2027, 1, 1, tzinfo=UTC)),
        PoolCode("A-002", datetime(2026, 12, 31, 17, 0, tzinfo=UTC)),
        PoolCode("A-003", datetime(2026, 6, 1, 12, 0, tzinfo=UTC)),  # no offset: UTC
        PoolCode("A-004"),  # empty: no end
    ]


def test_ends_at_is_the_same_as_expires_at_and_other_columns_are_ignored():
    text = "Discount;Code;Ends_At;Usage\n10 %;X-100;2026-04-30;0\n"
    assert parse_codes(text, "codes.csv") == [PoolCode("X-100", datetime(2026, 5, 1, tzinfo=UTC))]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_read_from_the_header(delimiter):
    text = delimiter.join(["code", "expires_at", "note"]) + "\n" + delimiter.join(["A-1", "2026-05-01", "x y"]) + "\n"
    assert parse_codes(text, "codes.csv") == [PoolCode("A-1", datetime(2026, 5, 2, tzinfo=UTC))]


def test_bom_crlf_blank_lines_quotes_and_spaces_around_codes():
    text = '\ufeffcode\r\n  SPRING-1 \r\n\r\n"SPRING,2"\r\n'
    assert read_codes(text, "codes.csv") == [(2, PoolCode("SPRING-1")), (4, PoolCode("SPRING,2"))]


def test_decode_drops_the_bom_and_names_the_line_of_a_byte_that_is_not_utf8():
    assert decode("\ufeffcode\nÄPFEL-10\n".encode(), "codes.csv") == "code\nÄPFEL-10\n"
    with pytest.raises(InvalidCodes, match=r"codes.csv:3: not UTF-8 text \(byte 0xc4\)"):
        decode("code\nA-001\nÄPFEL\n".encode("latin-1"), "codes.csv")


def test_every_bad_line_is_named_with_file_and_line():
    text = "\n".join(
        [
            "code,expires_at",
            "GOOD-001,2026-12-31",  # 2
            "AB,",  # 3
            "HAS SPACE,",  # 4
            "X" * 65 + ",",  # 5
            "BELL\x07X,",  # 6
            ",2026-12-31",  # 7
            "good-001,",  # 8: the same code as line 2, other case
            "LATE-001,31.12.2026",  # 9
            "OLD-001,2026-03-01",  # 10: ended at midnight on 2 March, before T0
            "A,B,C",  # 11
        ]
    )
    assert problems(text, now=T0) == [
        'codes.csv:3: code "AB" is shorter than 3 characters',
        'codes.csv:4: code "HAS SPACE" has whitespace inside',
        f'codes.csv:5: code "{"X" * 64}"... is longer than 64 characters',
        'codes.csv:6: code "BELL\\u0007X" has a character that is not printable',
        "codes.csv:7: no code",
        'codes.csv:8: code "good-001" is already on line 2',
        'codes.csv:9: expires_at "31.12.2026" is not an ISO date (2025-12-31) or time (2025-12-31T18:00:00+01:00) '
        "between the years 2000 and 2199",
        'codes.csv:10: code "OLD-001" ended at 2026-03-02T00:00:00+00:00, before now',
        "codes.csv:11: 3 fields, the header has 2 (a code holding ',' must be in double quotes)",
    ]


def test_without_now_an_ended_code_is_not_judged():
    assert parse_codes("code,expires_at\nOLD-001,2020-01-01\n", "codes.csv") == [
        PoolCode("OLD-001", datetime(2020, 1, 2, tzinfo=UTC))
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "codes.csv: the file is empty"),
        ("\ufeff\r\n  \n", "codes.csv: the file is empty"),
        ('""\n', "codes.csv: the file is empty"),
        ("code\n", "codes.csv: no codes after the header"),
        ("code\n\n\n", "codes.csv: no codes after the header"),
        ("WINTER-001\nWINTER-002\n", "codes.csv:1: the header has no column 'code' (found 'winter-001')"),
        ("coupon;valid\nA-1;x\n", "codes.csv:1: the header has no column 'code' (found 'coupon', 'valid')"),
        ("code,code\nA-1,A-2\n", "codes.csv:1: the column 'code' is there twice"),
        ("code,expires_at,ends_at\nA-1,,\n", "codes.csv:1: give one of the columns expires_at and ends_at"),
        ('code\n"A-1"x\n', "codes.csv:2: not readable as CSV"),
    ],
)
def test_files_that_are_not_an_upload(text, expected):
    (problem,) = problems(text)
    assert problem.startswith(expected), problem


def test_the_message_names_the_first_problems_and_counts_the_rest():
    text = "code\n" + "\n".join(f"{i:02d}" for i in range(MAX_SHOWN + 5))
    with pytest.raises(InvalidCodes) as caught:
        parse_codes(text, "codes.csv")
    assert len(caught.value.problems) == MAX_SHOWN + 5
    assert caught.value.message.startswith('codes.csv:2: code "00" is shorter than 3 characters; ')
    assert caught.value.message.endswith("(and 5 more); nothing stored")
    assert caught.value.message.count("codes.csv:") == MAX_SHOWN


def test_more_codes_than_the_limit_are_refused_with_413():
    text = "code\n" + "\n".join(f"CODE-{i:06d}" for i in range(11)) + "\n"
    assert len(parse_codes(text, "codes.csv", limit=11)) == 11
    with pytest.raises(TooManyCodes, match=r"codes.csv: more than 10 codes in one file") as caught:
        parse_codes(text, "codes.csv", limit=10)
    assert caught.value.status == 413


def test_the_default_limit_is_a_hundred_thousand_codes():
    text = "code\n" + "\n".join(f"C{i:07d}" for i in range(100_001))
    with pytest.raises(TooManyCodes, match="more than 100,000 codes"):
        parse_codes(text, "codes.csv")


@pytest.mark.parametrize("value", ["2026-2-1", "tomorrow", "20261231", "2026-12-31T25:00", "2026-12-31 x"])
def test_expiry_that_is_not_iso(value):
    with pytest.raises(ValueError):
        parse_expiry(value)


def test_to_csv_reads_back_as_the_same_codes():
    codes = [PoolCode("A,1", datetime(2026, 5, 1, tzinfo=UTC)), PoolCode("B-2")]
    assert parse_codes(to_csv(codes), "part") == codes


@pytest.mark.parametrize("name", ["default", "winback-10", "a", "0", "x" * 63])
def test_pool_names(name):
    assert check_pool_name(name) == name


@pytest.mark.parametrize("name", ["", "-x", "Winter", "winter_10", "x" * 64, "a b", "a/b", "ä"])
def test_pool_names_that_are_not(name):
    with pytest.raises(InvalidPoolName, match="is not valid") as caught:
        check_pool_name(name)
    assert caught.value.status == 400


@pytest.mark.parametrize("raw", ["9999-12-31", "0001-01-01T00:00+01:00", "9999-12-31T23:59-01:00", "2499-01-01"])
def test_an_expiry_out_of_range_is_a_problem_on_its_line_not_a_crash(raw):
    with pytest.raises(InvalidCodes) as caught:
        parse_codes(f"code,expires_at\nGOOD-1,2030-01-01\nBAD-1,{raw}\n", "codes.csv")
    (problem,) = caught.value.problems
    assert problem.startswith("codes.csv:3: expires_at") and "between the years 2000 and 2199" in problem
