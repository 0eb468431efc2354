"""Values files of a process killed before its ``finally`` are swept at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.cluster.helm import VALUES_PREFIX, sweep_values_files


def test_files_of_dead_processes_go_and_of_live_ones_stay(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = tmp_path / f"{VALUES_PREFIX}{gone.stdout.strip()}-abc.json"
    live = tmp_path / f"{VALUES_PREFIX}{os.getpid()}-def.json"
    other = tmp_path / "unrelated.json"
    for path in (dead, live, other):
        path.write_text("{}")
    assert sweep_values_files(str(tmp_path)) == [str(dead)]
    assert not dead.exists() and live.exists() and other.exists()
