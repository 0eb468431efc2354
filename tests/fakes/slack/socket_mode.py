"""Socket Mode for the Slack fake: the WebSocket Slack sends envelopes over.

Wire format (Slack's Socket Mode documentation): the app calls `apps.connections.open`
with its app-level token (`xapp-…`) and connects to the returned `wss://` URL (here
`ws://` on loopback); Slack greets with `{"type": "hello", …}`; each request is an
envelope `{"envelope_id", "type": "slash_commands" | "interactive" | "events_api",
"payload": {…}, "accepts_response_payload": bool}`, which the app acknowledges with
`{"envelope_id", "payload"?}` — the payload being what an HTTP app would have
answered. Frames follow RFC 6455: the client's are masked, the server's are not.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import threading
import time
import uuid
from typing import Any

from tests.fakes.slack.records import APP_ID

OPCODE_TEXT, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG = 0x1, 0x8, 0x9, 0xA


class SocketSession:
    """One app connection; frames are read on the connection's own server thread."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._acks: dict[str, dict[str, Any]] = {}
        self._changed = threading.Condition()
        self.closed = threading.Event()
        self.stop = threading.Event()

    # --- the server thread -------------------------------------------------------
    def attach(self, sock: socket.socket) -> None:
        self._sock = sock

    def run(self) -> None:
        sock = self._sock
        assert sock is not None, "attach() the connection first"
        try:
            self.send_json({"type": "hello", "num_connections": 1,
                            "connection_info": {"app_id": APP_ID},
                            "debug_info": {"host": "fake-slack", "approximate_connection_time":
                                           3600}})
            while not self.stop.is_set():
                readable, _, _ = select.select([sock], [], [], 0.1)
                if not readable:
                    continue
                opcode, data = _read_frame(sock)
                if opcode == OPCODE_CLOSE:
                    self._send_frame(OPCODE_CLOSE, data[:2])
                    return
                if opcode == OPCODE_PING:
                    self._send_frame(OPCODE_PONG, data)
                elif opcode == OPCODE_TEXT:
                    self._received(json.loads(data))
        except (OSError, ConnectionError, ValueError):
            return
        finally:
            self.closed.set()
            with self._changed:
                self._changed.notify_all()

    def _received(self, message: dict[str, Any]) -> None:
        envelope_id = message.get("envelope_id")
        if envelope_id:
            with self._changed:
                self._acks[str(envelope_id)] = message
                self._changed.notify_all()

    # --- the test's side -------------------------------------------------------------
    def send_json(self, message: dict[str, Any]) -> None:
        self._send_frame(OPCODE_TEXT, json.dumps(message).encode())

    def request(self, kind: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send an envelope; the app's acknowledgement (AssertionError if none in time)."""
        envelope_id = str(uuid.uuid4())
        self.send_json({"envelope_id": envelope_id, "type": kind, "payload": payload,
                        "accepts_response_payload": kind != "events_api",
                        "retry_attempt": 0, "retry_reason": ""})
        deadline = time.monotonic() + timeout
        with self._changed:
            while envelope_id not in self._acks:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed.is_set():
                    raise AssertionError(f"no acknowledgement of {kind} envelope in {timeout}s")
                self._changed.wait(remaining)
            return self._acks[envelope_id]

    def _send_frame(self, opcode: int, data: bytes) -> None:
        if self._sock is None:
            raise ConnectionError("not connected")
        length = len(data)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
        with self._send_lock:
            self._sock.sendall(header + data)


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    chunks, missing = [], count
    while missing:
        chunk = sock.recv(missing)
        if not chunk:
            raise ConnectionError("connection closed")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    first, second = _read_exactly(sock, 2)
    opcode, masked, length = first & 0x0F, second & 0x80, second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", _read_exactly(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", _read_exactly(sock, 8))
    mask = _read_exactly(sock, 4) if masked else b""
    data = _read_exactly(sock, length)
    if mask:
        data = bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))
    return opcode, data
