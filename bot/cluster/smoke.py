"""The optional smoke check: does the environment's URL answer?

The URL is the bot's own (``https://<ENV>.<domain><smoke_path>``), but what answers
there is the preview's code, which anyone with a branch controls. So redirects are
never followed: a ``302`` to ``http://169.254.169.254/`` or to a cluster-internal
service must not make the bot fetch it (SSRF). A redirect is an answer: it counts
as served, like a 401 or 404.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import IO

SMOKE_TIMEOUT = 10.0  # seconds


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int,
                         msg: str, headers: object, newurl: str) -> None:
        return None  # urllib then raises HTTPError with the 3xx code: an answer


_OPENER = urllib.request.build_opener(_NoRedirects)


def smoke_check(url: str) -> str:
    """'' when the URL answers below 500 (a redirect, 401 or 404 still proves it is
    served), else the reason."""
    try:
        with _OPENER.open(url, timeout=SMOKE_TIMEOUT) as response:
            status = int(response.status)
    except urllib.error.HTTPError as error:
        status = int(error.code)
    except OSError as error:
        return smoke_failed(url, str(error))
    return "" if status < 500 else smoke_failed(url, f"HTTP {status}")


# --- texts: the reason a smoke check failed ----------------------------------


def smoke_failed(url: str, detail: str) -> str:
    return f"smoke check of {url} failed: {detail}; check the app's logs or `smoke_path`"
