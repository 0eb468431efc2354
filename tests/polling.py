"""Waiting in tests: poll a probe with a deadline — never sleep as synchronisation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0,
             interval: float = 0.2) -> T:
    """Call ``probe`` until it returns something truthy; TimeoutError naming
    ``what`` after ``timeout`` seconds. The only pause is the poll interval."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()  # never set: wait() is the interval between probes
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        pause.wait(interval)


def poll(what: str, probe: Callable[[], T | None], timeout: float = 60.0,
         interval: float = 0.2) -> T:
    """``wait_for`` that fails the test (instead of raising) at the deadline."""
    try:
        return wait_for(what, probe, timeout, interval)
    except TimeoutError as error:
        pytest.fail(str(error))
