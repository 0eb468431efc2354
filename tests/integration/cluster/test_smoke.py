"""The smoke check against real local HTTP servers: served is < 500, a redirect is an
answer and is never followed (no SSRF into the cluster or metadata endpoints)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.cluster.smoke import smoke_check
from tests.integration.webhook_support import free_port


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
