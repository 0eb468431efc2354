"""A private redis-server for a test that must pause, restart or wipe Redis without
touching the session's shared one (the real binary, on a free loopback port)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.polling import wait_for


@dataclass
class PrivateRedis:
    url: str
    process: subprocess.Popen[bytes]
    argv: list[str]

    def pause(self) -> None:
        """SIGSTOP: Redis stops answering (clients block), its clock runs on."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/")[0])

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): Redis writes its append-only file and exits."""
        os.kill(self.process.pid, signal.SIGCONT)
        self.process.terminate()
        self.process.wait(timeout=20)

    def start(self) -> None:
        """Start it again on the same port and directory (it reloads its AOF, if on)."""
        self.process = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        wait_for("the private redis-server to load its data", lambda: _loaded(self.port),
                 timeout=20)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _loaded(port: int) -> bool:
    """Answers PING with PONG (while it loads its AOF it answers -LOADING)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def private_redis(workdir: Path, *, appendonly: bool = False) -> Iterator[PrivateRedis]:
    """``appendonly``: AOF on, fsync every second, as the queue's docs recommend."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is missing (`make deps` installs it)")
    port = _free_port()
    persistence = ["--appendonly", "yes", "--appendfsync", "everysec"] if appendonly else \
        ["--appendonly", "no"]
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            *persistence, "--dir", str(workdir)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = PrivateRedis(f"redis://127.0.0.1:{port}/0", process, argv)
    try:
        wait_for("the private redis-server", lambda: _answers(port), timeout=20)
        yield server
    finally:
        if server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)
            server.process.terminate()
            server.process.wait(timeout=10)
