"""`make demo` and `make demo-down`.

    python -m tests.demo up      # set up (or reuse) everything, then play the story
    python -m tests.demo down    # stop exactly what `up` started

Exit codes: 0 done, 1 a part failed (the message says which; what runs keeps running
for a look, `make demo-down` stops it), 2 usage.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.domain.model import is_active
from bot.state.store import Store
from tests.cluster import testbed as testbed_mod
from tests.demo import processes
from tests.demo.console import Console
from tests.demo.processes import (
    FAKES_MARKER,
    PREVIEWBOT,
    SERVE_MARKER,
    SERVE_STOP_GRACE,
    DemoError,
    DemoState,
    demo_dir,
)
from tests.demo.story import Story, config_yaml, project_path


def shown(path: Path) -> str:
    """A path as short as it can be from here."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def up(console: Console) -> int:
    console.setup(f"previewbot demo: one merge request's life on this machine (state: "
                  f"{shown(demo_dir())})")
    state = DemoState.load()
    state.save()
    bed = processes.ensure_bed(state, console.setup)
    redis_url = processes.ensure_redis(state, bed, console.setup)
    fakes = processes.ensure_fakes(state, console.setup)
    environ = processes.serve_environ(bed, redis_url, fakes, state)
    serve_url = processes.ensure_serve(state, environ, config_yaml(project_path()),
                                       console.setup)
    env_file = processes.write_env_file(environ)
    console.setup(f"ready in {console.elapsed():.1f}s: every Slack message the bot sends is "
                  "shown below as it arrives")
    story = Story(console, fakes.client, serve_url=serve_url, state=state, bed=bed,
                  redis_url=redis_url, gitlab_url=fakes.gitlab_url,
                  gitlab_token=fakes.gitlab_token)
    story.seed(fakes.fresh)
    story.play()
    story.summary()
    story.look_around(shown(env_file), serve_url)
    return 0


def tear_down_environments(state: DemoState, bed: testbed_mod.Testbed,
                           console: Console) -> None:
    """Environments still up (brought up by hand after the story) go the bot's own way,
    while the stand-ins still answer: nothing is left behind in a shared cluster."""
    fakes = processes.running_fakes(state)
    if fakes is None or not state.redis_db:
        return
    redis_url = f"{bed.redis_url.rsplit('/', 1)[0]}/{state.redis_db}"
    active = [e.key for e in Store.from_url(redis_url).all() if is_active(e)]
    if not active:
        return
    environ = {**os.environ, **processes.serve_environ(bed, redis_url, fakes, state)}
    for key in active:
        console.setup(f"tearing down {key} (still up): previewbot down {key}")
        done = subprocess.run([PREVIEWBOT, "down", key, "--reason", "make demo-down"],
                              env=environ, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            console.setup(f"  could not: {(done.stderr or done.stdout).strip()}")


def down(console: Console) -> int:
    state = DemoState.load()
    bed = testbed_mod.load_running()
    if bed is not None:
        tear_down_environments(state, bed, console)
    stopped = []
    if processes.stop_process(state.serve_pid, SERVE_MARKER, grace=SERVE_STOP_GRACE):
        stopped.append(f"previewbot serve (pid {state.serve_pid})")
    if processes.stop_process(state.fakes_pid, FAKES_MARKER, grace=10):
        stopped.append(f"the GitLab and Slack stand-ins (pid {state.fakes_pid})")
    state.serve_pid, state.serve_url, state.serve_fingerprint, state.fakes_pid = 0, "", "", 0
    state.save()
    database = state.redis_db
    if processes.release_redis(state, bed):
        stopped.append(f"Redis database {database} (flushed and given back)")
    if state.started_bed:
        testbed_mod.down()
        state.started_bed = False
        state.save()
        stopped.append("the test bed the demo had started")
    elif bed is not None:
        console.setup("the test bed keeps running: the demo did not start it")
    for name in ("fakes.json", "env.sh"):
        (demo_dir() / name).unlink(missing_ok=True)
    console.setup("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command not in ("up", "down"):
        print("usage: python -m tests.demo up|down", file=sys.stderr)
        return 2
    console = Console()
    try:
        return up(console) if command == "up" else down(console)
    except (DemoError, testbed_mod.TestbedError) as error:
        console.setup(f"FAILED: {error}")
        if command == "up":
            console.setup("what started keeps running for a look; `make demo-down` stops it")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
