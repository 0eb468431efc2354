"""The optional smoke check: does the environment's URL answer?"""

from __future__ import annotations

import urllib.error
import urllib.request

from bot.domain import messages


def smoke_check(url: str) -> str:
    """'' when the URL answers below 500 (a 401/404 still proves it is served),
    else the reason."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (https URL we built)
            status = int(response.status)
    except urllib.error.HTTPError as error:
        status = int(error.code)
    except OSError as error:
        return messages.smoke_failed(url, str(error))
    return "" if status < 500 else messages.smoke_failed(url, f"HTTP {status}")
