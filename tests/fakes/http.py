"""Shared plumbing for the SaaS fakes: a stdlib HTTP server on an ephemeral port.

Each fake subclasses `FakeHttpServer` and implements `_answer(request) -> Reply`.
The server runs in a background thread, so real clients (python-gitlab, slack_sdk)
talk real HTTP to it. There is no global state: every instance owns its own
server, port, lock and records.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class HttpRequest:
    """One request as it arrived. Header names are lowercased."""

    method: str
    path: str  # raw path, percent-encoding kept (GitLab ids like group%2Fapp)
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw_body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class RecordedRequest:
    """A request as a fake recorded it, with the decoded body and the status it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    json: Any  # decoded JSON or form body (a dict), None when empty or undecodable
    headers: dict[str, str]
    status: int
    at: float = 0.0  # time.monotonic() when the fake answered it

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Reply:
    """What the fake answers: a status, a JSON-serialisable body (None = empty), headers."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


class BodyError(ValueError):
    """The request body could not be decoded (bad JSON, bad form encoding)."""


def decode_body(request: HttpRequest) -> dict[str, Any]:
    """Decode a JSON or form-encoded body into a dict; an empty body gives {}."""
    if not request.raw_body:
        return {}
    text = request.raw_body.decode("utf-8", errors="replace")
    if request.content_type == "application/json":
        try:
            decoded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BodyError(f"invalid JSON body: {exc}") from exc
        if not isinstance(decoded, dict):
            raise BodyError("JSON body must be an object")
        return decoded
    form = parse_qs(text, keep_blank_values=True)
    return {key: values[-1] if len(values) == 1 else values for key, values in form.items()}


class _BoundServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows which fake answers its requests."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeHttpServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _BoundServer
    # One request per connection keeps shutdown simple: no idle keep-alive threads linger.
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr log; the fakes record requests instead."""

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        request = HttpRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            raw_body=self._read_body(),
        )
        if (request.header("upgrade") or "").lower() == "websocket":
            session = self.server.fake._websocket(request)
            if session is not None:
                accept = websocket_accept(request.header("sec-websocket-key") or "")
                self.send_response(101, "Switching Protocols")
                for name, value in (("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                    ("Sec-WebSocket-Accept", accept)):
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.flush()
                session(self.connection)
                self.close_connection = True
                return
        reply = self.server.fake._dispatch(request)
        # The client may have given up waiting (its timeout): nothing left to answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._write(reply)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()  # the blank line after the last chunk
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # CRLF after each chunk

    def _write(self, reply: Reply) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        headers = dict(reply.headers)
        if reply.body is not None:
            headers.setdefault("Content-Type", "application/json")
        headers["Content-Length"] = str(len(payload))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class FakeHttpServer:
    """Base of the fakes: lifecycle, context manager, lock, down switch, error capture."""

    def __init__(self) -> None:
        # RLock: inspection helpers may be called from inside a handler's critical section.
        self._lock = threading.RLock()
        self._server: _BoundServer | None = None
        self._thread: threading.Thread | None = None
        self._down = False
        self._internal_errors: list[str] = []

    # --- lifecycle ---------------------------------------------------------------
    def start(self) -> Self:
        if self._server is not None:
            return self
        self._server = _BoundServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # A short poll keeps stop() fast: shutdown() waits for the next poll.
            kwargs={"poll_interval": 0.02},
            name=f"{type(self).__name__}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started; call start() or use `with`")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """Scheme, host and port, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    # --- failure injection -------------------------------------------------------
    def set_down(self, down: bool = True) -> None:
        """While down, every request is answered with HTTP 503."""
        with self._lock:
            self._down = down

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of bugs inside the fake itself (answered as HTTP 500)."""
        with self._lock:
            return list(self._internal_errors)

    # --- dispatch ----------------------------------------------------------------
    def _dispatch(self, request: HttpRequest) -> Reply:
        with self._lock:
            try:
                return self._answer(request)
            except Exception:  # a bug in the fake must not hang the client
                self._internal_errors.append(traceback.format_exc())
                return Reply(500, {"message": "500 fake server error (see internal_errors)"})

    def _answer(self, request: HttpRequest) -> Reply:
        raise NotImplementedError

    def _websocket(self, request: HttpRequest) -> Callable[[socket.socket], None] | None:
        """For a WebSocket upgrade: the session to run on the connection after the
        handshake (on the request's own thread); None answers it as a plain request."""
        return None


def websocket_accept(key: str) -> str:
    """RFC 6455's Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    digest = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    return base64.b64encode(digest).decode()
