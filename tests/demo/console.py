"""The demo's terminal output: setup progress, chapters, timed steps, Slack messages
and the summary table. Colour only on a terminal (and never with NO_COLOR set)."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from tests.demo.slack_view import Style


def _ansi(code: str) -> Callable[[str], str]:
    return lambda text: f"\033[{code}m{text}\033[0m"


def _plain(text: str) -> str:
    return text


class Console:
    def __init__(self, out: TextIO | None = None, *, color: bool | None = None) -> None:
        self.out = out or sys.stdout
        if color is None:
            color = (self.out.isatty() and "NO_COLOR" not in os.environ
                     and os.environ.get("TERM") != "dumb")
        self.style = Style(bold=_ansi("1"), dim=_ansi("2"), accent=_ansi("36")) if color \
            else Style()
        self._ok = _ansi("32") if color else _plain
        self._started = time.monotonic()

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def restart_clock(self) -> None:
        self._started = time.monotonic()

    def _stamp(self) -> str:
        return self.style.dim(f"[{self.elapsed():5.1f}s]")

    def setup(self, text: str) -> None:
        self._print(f"[demo] {text}")

    def chapter(self, number: int, total: int, title: str) -> None:
        self._print("")
        self._print(self.style.bold(f"━━ {number}/{total} · {title} ━━"))

    def step(self, text: str) -> None:
        self._print(f"  {self._stamp()} {text}")

    def ok(self, text: str) -> None:
        self._print(f"  {self._stamp()} {self._ok('✓')} {text}")

    def slack(self, lines: Sequence[str]) -> None:
        if not lines:
            return
        self._print(f"  {self._stamp()} {lines[0]}")
        for line in lines[1:]:
            self._print(f"          │ {line}")

    def lines(self, lines: Sequence[str], indent: str = "  ") -> None:
        for line in lines:
            self._print(indent + line if line else "")

    def heading(self, text: str) -> None:
        self._print("")
        self._print(self.style.bold(text))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]],
              wrap: dict[int, int] | None = None) -> None:
        """A plain-text table; columns in ``wrap`` (index → width) wrap onto more lines."""
        wrap = wrap or {}
        cells = [[textwrap.wrap(cell, wrap[i]) or [""] if i in wrap else [cell]
                  for i, cell in enumerate(row)] for row in [list(headers), *rows]]
        widths = [max(len(line) for row in cells for line in row[i])
                  for i in range(len(headers))]
        for number, row in enumerate(cells):
            height = max(len(cell) for cell in row)
            for n in range(height):
                text = "  ".join((cell[n] if n < len(cell) else "").ljust(width)
                                 for cell, width in zip(row, widths, strict=True)).rstrip()
                self._print("  " + (self.style.bold(text) if number == 0 else text))
            if number == 0:
                self._print("  " + "  ".join("─" * width for width in widths))
