from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.durations import format_duration, parse_duration
from bot.domain.errors import PermanentError

S, M, H, D, W = (timedelta(seconds=n) for n in (1, 60, 3600, 86400, 604800))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", 45 * S),
        ("30m", 30 * M),
        ("4h", 4 * H),
        ("2d", 2 * D),
        ("1w", W),
        ("1d12h", D + 12 * H),
        ("1w2d3h4m5s", W + 2 * D + 3 * H + 4 * M + 5 * S),
        ("90m", 90 * M),
        ("0h30m", 30 * M),
        (" 4h ", 4 * H),  # surrounding blanks from YAML or Slack are harmless
        ("007m", 7 * M),
    ],
)
def test_parse_accepts(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "3x",
        "4",
        "4H",
        "1d 12h",
        "12h1d",  # units largest first
        "1h1h",
        "-4h",
        "+4h",
        "1.5h",
        "h",
        "4hours",
        "٣h",  # digits of other scripts
        "999999999999w",  # too large for timedelta
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(PermanentError, match=r"e\.g\."):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0s", "0m", "0d0h"])
def test_parse_rejects_zero(text: str) -> None:
    with pytest.raises(PermanentError, match="longer than zero"):
        parse_duration(text)


def test_error_names_the_thing_and_examples() -> None:
    with pytest.raises(PermanentError) as caught:
        parse_duration("3x", what="TTL")
    assert str(caught.value) == 'TTL "3x" is not a duration (e.g. 30m, 4h, 2d, 1d12h)'


def test_error_for_a_bare_number_suggests_units() -> None:
    with pytest.raises(PermanentError, match="60s"):
        parse_duration("60", what="TTL")


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (45 * S, "45s"),
        (30 * M, "30m"),
        (D + 12 * H, "1d12h"),
        (36 * H, "1d12h"),
        (2 * W, "2w"),
        (10 * D, "10d"),  # weeks only when whole
        (8 * D + 12 * H, "8d12h"),
        (H + 5 * S, "1h5s"),
        (timedelta(0), "0s"),
        (timedelta(milliseconds=1500), "1s"),
        (-30 * M, "-30m"),
    ],
)
def test_format(duration: timedelta, expected: str) -> None:
    assert format_duration(duration) == expected


@given(st.integers(min_value=1, max_value=10**10))
def test_format_round_trips(seconds: int) -> None:
    duration = timedelta(seconds=seconds)
    assert parse_duration(format_duration(duration)) == duration


_amount = st.one_of(st.none(), st.integers(min_value=0, max_value=10**5))


@given(st.tuples(_amount, _amount, _amount, _amount, _amount))
def test_any_written_duration_formats_to_an_equal_one(amounts: tuple[int | None, ...]) -> None:
    text = "".join(f"{n}{unit}" for n, unit in zip(amounts, "wdhms", strict=True) if n is not None)
    if not text or sum(n or 0 for n in amounts) == 0:
        return
    parsed = parse_duration(text)
    formatted = format_duration(parsed)
    assert parse_duration(formatted) == parsed
    assert format_duration(parse_duration(formatted)) == formatted
