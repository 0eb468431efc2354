"""Human durations: ``45s``, ``30m``, ``4h``, ``2d``, ``1w`` and compounds like ``1d12h``.

One notation everywhere (config file, Slack commands, CLI), so the same text means
the same time wherever a person types it. Units come largest first, each at most
once, lowercase, no spaces: ``1d12h`` yes, ``12h1d`` / ``1D`` / ``1d 12h`` no.
"""

from __future__ import annotations

import re
from datetime import timedelta

from bot.domain.errors import PermanentError
from bot.domain.messages import quoted

# Largest first: parsing demands this order, formatting produces it.
_UNIT_SECONDS = (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
# [0-9], not \d: \d would also accept digits from other scripts.
_DURATION = re.compile("".join(f"(?:([0-9]{{1,12}}){unit})?" for unit, _ in _UNIT_SECONDS))


def parse_duration(text: str, *, what: str = "duration") -> timedelta:
    """Parse ``text``; ``what`` names the thing in the error (e.g. ``"TTL"``).

    Raises :class:`PermanentError` with a fix-it message on anything else,
    including zero (``0m``) and durations too large to represent.
    """
    stripped = text.strip() if isinstance(text, str) else ""
    match = _DURATION.fullmatch(stripped) if stripped else None
    if match is None:
        raise PermanentError(bad_duration(what, text))
    seconds = sum(
        int(amount) * unit_seconds
        for amount, (_, unit_seconds) in zip(match.groups(), _UNIT_SECONDS, strict=True)
        if amount is not None
    )
    if seconds == 0:
        raise PermanentError(duration_not_positive(what, stripped))
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise PermanentError(bad_duration(what, text)) from None


def format_duration(duration: timedelta) -> str:
    """Compact text for ``duration``: ``1d12h``, ``10d``, ``2w``, ``45s``.

    Days, hours, minutes and seconds carry into the largest unit; weeks are used
    only for whole weeks (``14d`` → ``2w``, but ``10d`` stays ``10d``: people
    read that more easily than ``1w3d``). Sub-second parts are dropped; zero is
    ``0s``; negative values get a leading ``-``. For positive whole seconds
    ``parse_duration(format_duration(d)) == d``.
    """
    if duration < timedelta(0):
        return "-" + format_duration(-duration)
    days, seconds = duration.days, duration.seconds
    if days == 0 and seconds == 0:
        return "0s"
    parts = [f"{days // 7}w" if days % 7 == 0 else f"{days}d"] if days else []
    for unit, unit_seconds in _UNIT_SECONDS[2:]:  # h, m, s
        amount, seconds = divmod(seconds, unit_seconds)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


# --- texts: why parse_duration refuses a text (the config reader says them too)


DURATION_EXAMPLES = "e.g. 30m, 4h, 2d, 1d12h"


def bad_duration(what: str, text: object) -> str:
    if isinstance(text, int | str) and str(text).isdecimal():
        return f"{what} {quoted(text)} has no unit: write e.g. {text}s, {text}m or {text}h"
    return f"{what} {quoted(text)} is not a duration ({DURATION_EXAMPLES})"


def duration_not_positive(what: str, text: str) -> str:
    return f"{what} {quoted(text)} must be longer than zero ({DURATION_EXAMPLES})"
