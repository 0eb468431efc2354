"""The smoke check against real local HTTP servers: served is < 500, a redirect is an
answer and is never followed (no SSRF into the cluster or metadata endpoints); what
answers is the preview's code, so a slow or endless answer fails within the check's
deadline (in total, not per read) and a header flood at the header cap."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.cluster.smoke import MAX_HEADER_BYTES, smoke_check
from tests.integration.webhook_support import free_port
from tests.polling import poll


class Site:
    """A loopback HTTP server answering every GET with ``status`` (and ``location``)."""

    def __init__(self, status: int, location: str = "") -> None:
        self.hits: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hits.append(self.path)
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Site:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target() -> Iterator[Site]:
    with Site(200) as site:
        yield site


@pytest.mark.parametrize("status", [200, 204, 401, 404])
def test_a_served_answer_passes(status: int) -> None:
    with Site(status) as site:
        assert smoke_check(site.url + "/healthz") == ""
        assert site.hits == ["/healthz"]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_fails_with_the_url_and_status(status: int) -> None:
    with Site(status) as site:
        problem = smoke_check(site.url + "/healthz")
    assert f"HTTP {status}" in problem and "/healthz" in problem


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_an_answer_and_never_followed(status: int, target: Site) -> None:
    with Site(status, location=target.url + "/latest/meta-data/") as redirecting:
        assert smoke_check(redirecting.url + "/healthz") == ""
        assert redirecting.hits == ["/healthz"]
    assert target.hits == []  # the bot never fetched where the preview pointed it


def test_nothing_listening_fails_with_the_reason() -> None:
    problem = smoke_check(f"http://127.0.0.1:{free_port()}/healthz")
    assert problem and "/healthz" in problem


# --- answers that never end: the preview's code is hostile or broken ---------

Answer = Callable[[socket.socket, threading.Event], None]


class RawSite:
    """A loopback TCP server that reads a request and then runs ``answer`` on the
    connection until the answer returns or the site is closed."""

    def __init__(self, answer: Answer) -> None:
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests: list[bytes] = []
        self.answer = answer
        self.threads = [threading.Thread(target=self._accept, daemon=True)]

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # closed
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            self.requests.append(connection.recv(65536))
            with contextlib.suppress(OSError):  # the client hung up: what a deadline does
                self.answer(connection, self.stop)

    def __enter__(self) -> RawSite:
        self.threads[0].start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.listener.close()


def drip(connection: socket.socket, stop: threading.Event) -> None:
    """A status line, then one header byte at a time, never finishing the headers.
    Each byte comes well inside any per-read timeout."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
    while not stop.wait(0.2):
        connection.sendall(b"a")


def silence(connection: socket.socket, stop: threading.Event) -> None:
    """Accept the request and never answer."""
    stop.wait(60)


def flood(connection: socket.socket, stop: threading.Event) -> None:
    """A status line, then headers as fast as the socket takes them, without end."""
    connection.sendall(b"HTTP/1.1 200 OK\r\n")
    line = b"X-Flood: " + b"a" * 1000 + b"\r\n"
    while not stop.is_set():
        connection.sendall(line)


def check_in_background(url: str, timeout: timedelta) -> list[str]:
    """Run the check on its own thread (as a worker does); the list gets its answer."""
    answer: list[str] = []
    threading.Thread(target=lambda: answer.append(smoke_check(url, timeout)),
                     daemon=True).start()
    return answer


@pytest.mark.parametrize("answer", [drip, silence], ids=["drip", "silence"])
def test_an_answer_that_never_completes_fails_within_the_deadline(answer: Answer) -> None:
    with RawSite(answer) as site:
        result = check_in_background(site.url + "/healthz", timedelta(seconds=1))
        # The deadline is 1s in total; 10s of slack is far more than any loaded machine needs.
        [problem] = poll("the smoke check to give up", lambda: result, timeout=11)
    assert problem.startswith(f"smoke check of {site.url}/healthz failed: "
                              "no complete answer within 1s"), problem
    assert site.requests and site.requests[0].startswith(b"GET /healthz HTTP/1.1\r\n")


def test_a_header_flood_fails_at_the_header_cap() -> None:
    with RawSite(flood) as site:
        result = check_in_background(site.url + "/healthz", timedelta(seconds=30))
        [problem] = poll("the smoke check to give up", lambda: result, timeout=10)
    assert f"{site.url}/healthz" in problem
    assert f"response headers larger than {MAX_HEADER_BYTES // 1024} KiB" in problem, problem
