"""`pip wheel .` for real: both packages, their py.typed markers, the console
script, and the wheel's code runs (not the checkout's)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[3]


def test_the_wheel_holds_both_packages_and_the_console_script(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "-w", str(tmp_path),
                           "--no-deps", "--quiet"], cwd=REPO, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    [wheel] = tmp_path.glob("previewbot-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [line.split(":", 1)[1].strip() for line in
                    archive.read(metadata).decode().splitlines()
                    if line.startswith("Requires-Dist:") and "extra ==" not in line]
        archive.extractall(tmp_path / "unpacked")
    for package in ("bot", "handlers"):
        assert f"{package}/__init__.py" in names
        assert f"{package}/py.typed" in names
    assert {"bot/logs.py", "bot/cluster/kube.py", "handlers/cli/__init__.py"} <= names
    assert not [n for n in names if n.startswith(("tests/", "charts/", "bench/"))]
    assert "[console_scripts]\npreviewbot = handlers.cli:main" in scripts
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert {Requirement(r) for r in requires} == {Requirement(d) for d in project["dependencies"]}

    # The wheel's own code answers: its directory first on sys.path, and run away from
    # the checkout (`python -c` puts the working directory before everything).
    unpacked = tmp_path / "unpacked"
    run = subprocess.run([sys.executable, "-c",
                          "import sys; import handlers.cli as cli; print(cli.__file__); "
                          "sys.exit(cli.main(['--help']))"],
                         cwd=tmp_path, env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].startswith(str(unpacked))
    assert "serve" in run.stdout and "reconcile" in run.stdout
