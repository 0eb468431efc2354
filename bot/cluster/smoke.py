"""The optional smoke check: does the environment's URL answer?

The URL is the bot's own (``https://<ENV>.<domain><smoke_path>``), but what answers
there is the preview's code, which anyone with a branch controls. So:

- redirects are never followed: a ``302`` to ``http://169.254.169.254/`` or to a
  cluster-internal service must not make the bot fetch it (SSRF). A redirect is an
  answer: it counts as served, like a 401 or 404;
- the whole check — connect, TLS handshake, request, the answer's headers — has one
  wall-clock deadline (``smoke_timeout``, default 10 s). A per-read timeout (urllib's)
  is not enough: an app that drips one header byte a second would hold the worker, and
  the environment's lock, for ever. Every read waits at most for the time left;
- the answer's headers may be at most ``MAX_HEADER_BYTES``; the body is never read.

Only the status line matters. The check runs on the calling thread and leaves no
thread or connection behind. (Name resolution is the cluster's DNS, not the preview's
code, and is not under the deadline.)
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from datetime import timedelta
from urllib.parse import urlsplit

from bot.domain.durations import format_duration

SMOKE_TIMEOUT = timedelta(seconds=10)
MAX_HEADER_BYTES = 64 * 1024
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/[0-9]\.[0-9] ([0-9]{3})(?:[ \t]|\r?$)")
_PORTS = {"http": 80, "https": 443}


class _Refused(Exception):
    """The answer is not one the check accepts (too large, not HTTP)."""


class _Deadline:
    """The check's one deadline, and how far the check got (named when it passes)."""

    def __init__(self, timeout: timedelta) -> None:
        self.at = time.monotonic() + timeout.total_seconds()
        self.stage = "connecting"

    def left(self, stage: str) -> float:
        """Seconds left for ``stage``; TimeoutError once the deadline has passed."""
        self.stage = stage
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError(stage)
        return left


def smoke_check(url: str, timeout: timedelta = SMOKE_TIMEOUT) -> str:
    """'' when the URL answers below 500 within ``timeout`` in total (a redirect, 401
    or 404 still proves it is served), else the reason."""
    parts = urlsplit(url)
    if parts.scheme not in _PORTS or not parts.hostname:
        return smoke_failed(url, "not an http(s) URL")
    deadline = _Deadline(timeout)
    try:
        status = _status(parts.scheme, parts.hostname, parts.port or _PORTS[parts.scheme],
                         _request(parts.netloc, parts.path, parts.query), deadline)
    except TimeoutError:
        return smoke_failed(url, no_answer_within(timeout, deadline.stage))
    except _Refused as refused:
        return smoke_failed(url, str(refused))
    except OSError as error:
        return smoke_failed(url, str(error) or type(error).__name__)
    return "" if status < 500 else smoke_failed(url, f"HTTP {status}")


def _request(netloc: str, path: str, query: str) -> bytes:
    target = (path or "/") + (f"?{query}" if query else "")
    host = netloc.rpartition("@")[2]
    return (f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: previewbot-smoke\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n").encode("ascii", "backslashreplace")


def _status(scheme: str, host: str, port: int, request: bytes, deadline: _Deadline) -> int:
    sock = _connect(host, port, deadline)
    try:
        if scheme == "https":
            # The handshake's timeout is its total duration (not per read).
            sock.settimeout(deadline.left("during the TLS handshake"))
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        sock.settimeout(deadline.left("sending the request"))
        sock.sendall(request)  # its timeout is a total too
        return _read_status(sock, deadline)
    finally:
        sock.close()


def _connect(host: str, port: int, deadline: _Deadline) -> socket.socket:
    """Each address in turn, with the time left (``create_connection`` would give
    every address the whole timeout)."""
    problem: OSError = OSError(f"{host} has no address")
    for family, kind, proto, _, address in socket.getaddrinfo(host, port,
                                                               type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(deadline.left("connecting"))
            sock.connect(address)
            return sock
        except TimeoutError:
            sock.close()
            raise
        except OSError as error:
            sock.close()
            problem = error
    raise problem


def _read_status(sock: socket.socket, deadline: _Deadline) -> int:
    """The status of the first final answer (1xx answers before it are skipped), its
    headers read with a wait of at most the time left before every read."""
    buffer = b""
    read = 0
    while True:
        end = _HEAD_END.search(buffer)
        if end is not None:
            status = _parse_status(buffer[:end.start()])
            if not 100 <= status < 200 or status == 101:
                return status
            buffer = buffer[end.end():]  # informational: the real answer follows
            continue
        if read > MAX_HEADER_BYTES:
            raise _Refused(headers_too_large(MAX_HEADER_BYTES))
        stage = (f"the headers were still arriving after {read} bytes" if read
                 else "connected, nothing answered")
        sock.settimeout(deadline.left(stage))
        chunk = sock.recv(16384)
        if not chunk:
            raise _Refused(closed_early(read))
        buffer += chunk
        read += len(chunk)


def _parse_status(head: bytes) -> int:
    match = _STATUS_LINE.match(head.split(b"\n", 1)[0])
    if match is None:
        raise _Refused(NOT_HTTP)
    return int(match.group(1))


# --- texts: the reason a smoke check failed ----------------------------------

NOT_HTTP = "the answer is not HTTP (no status line)"


def smoke_failed(url: str, detail: str) -> str:
    return f"smoke check of {url} failed: {detail}; check the app's logs or `smoke_path`"


def no_answer_within(timeout: timedelta, stage: str) -> str:
    return f"no complete answer within {format_duration(timeout)} ({stage})"


def headers_too_large(limit: int) -> str:
    return f"response headers larger than {limit // 1024} KiB"


def closed_early(read: int) -> str:
    return f"the connection closed after {read} bytes, before the answer's headers ended"
