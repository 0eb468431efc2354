"""What `make demo` runs in the background, and how `make demo-down` stops exactly that.

The demo's state lives in `.demo/` of the checkout (`PREVIEWBOT_DEMO_STATE` moves it):
`state.json` (what the demo started: pids, URL, the Redis database it leased, whether
it started the test bed; mode 0600, it holds the demo's secrets), `fakes.json`
(written by the fakes process), `previewbot.yaml`, `env.sh` (the exports to look
around) and the logs `serve.log` and `fakes.log`.

Everything is reused when it still answers and runs with the same inputs, so a second
`make demo` starts nothing: the test bed (`tests.cluster.testbed`, reused when running,
started — and then also stopped by `demo-down` — only when not), a Redis database of
the bed's redis-server (leased like the tests lease theirs, without expiry), the
GitLab and Slack stand-ins (`python -m tests.fakes serve`), and `previewbot serve`.
A process is only ever signalled by the pid the demo recorded, after checking that
the pid still runs the command the demo started.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import redis

from tests.cluster import testbed as testbed_mod
from tests.cluster.redis_leases import holds, lease_database, release_database
from tests.fakes.__main__ import write_private
from tests.fakes.control import FakesClient
from tests.polling import wait_for

REPO = Path(__file__).resolve().parents[2]
PREVIEWBOT = str(Path(sys.executable).parent / "previewbot")
SERVE_MARKER = ("previewbot", "serve")  # what /proc/<pid>/cmdline must hold before a signal
FAKES_MARKER = ("tests.fakes", "serve")
SERVE_STOP_GRACE = 40.0  # serve's own shutdown grace (20s) plus helm being stopped

Say = Callable[[str], None]


class DemoError(RuntimeError):
    """A part of the demo could not be set up or did not behave; the message says which."""


def demo_dir() -> Path:
    return Path(os.environ.get("PREVIEWBOT_DEMO_STATE", REPO / ".demo")).resolve()


@dataclass
class DemoState:
    """What the demo started and still owns (and the secrets the story signs with)."""

    started_bed: bool = False
    redis_db: int = 0
    lease_owner: str = ""
    fakes_pid: int = 0
    serve_pid: int = 0
    serve_url: str = ""
    serve_fingerprint: str = ""
    webhook_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    signing_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    next_iid: int = 1  # MR numbers never repeat across runs, so no story meets an old one

    @classmethod
    def load(cls) -> DemoState:
        path = demo_dir() / "state.json"
        if not path.exists():
            return cls()
        known = {f.name for f in fields(cls)}
        stored = json.loads(path.read_text())
        return cls(**{k: v for k, v in stored.items() if k in known})

    def save(self) -> None:
        demo_dir().mkdir(parents=True, exist_ok=True)
        write_private(demo_dir() / "state.json", json.dumps(asdict(self), indent=2))


@dataclass(frozen=True)
class Fakes:
    client: FakesClient
    gitlab_url: str
    gitlab_token: str
    slack_url: str
    slack_token: str
    fresh: bool  # just started: nothing seeded yet


# --- processes by pid -----------------------------------------------------------------


def runs(pid: int, marker: tuple[str, ...]) -> bool:
    """Does ``pid`` still run the command the demo started (all of ``marker`` in its
    command line)? A recycled pid of another program is never signalled."""
    if pid <= 0:
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        done = subprocess.run(["ps", "-p", str(pid), "-o", "command="], capture_output=True,
                              text=True, check=False)
        command = done.stdout
    return bool(command) and all(part in command for part in marker)


def stop_process(pid: int, marker: tuple[str, ...], grace: float) -> bool:
    """SIGTERM, then SIGKILL to its process group after ``grace`` seconds; True when it
    was running."""
    if not runs(pid, marker):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    try:
        wait_for(f"pid {pid} to stop", lambda: not runs(pid, marker), timeout=grace,
                 interval=0.2)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # started with its own session: pid == pgid
        wait_for(f"pid {pid} to die", lambda: not runs(pid, marker), timeout=10)
    return True


def spawn(args: list[str], log: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """A process that outlives `make demo`: its own session, output to ``log``. (Until it
    has exec'd, its command line is still ours: ask the Popen, not `runs`, if it lives.)"""
    with log.open("ab") as out:
        return subprocess.Popen(args, cwd=REPO, env=dict(env), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return f"({path} is missing)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# --- the test bed and its Redis ---------------------------------------------------------


def ensure_bed(state: DemoState, say: Say) -> testbed_mod.Testbed:
    running = testbed_mod.load_running()
    if running is not None:
        say(f"test bed: reusing the running cluster + Redis ({testbed_mod.state_dir()})")
        return running
    say("test bed: starting the local cluster (kwok) + Redis — about a minute")
    try:
        bed = testbed_mod.up()
    except testbed_mod.TestbedError as error:
        raise DemoError(f"the test bed could not start: {error}") from error
    state.started_bed = True
    state.save()
    return bed


def _allocator(bed: testbed_mod.Testbed) -> redis.Redis:
    return redis.Redis.from_url(bed.redis_url.rsplit("/", 1)[0] + "/0")


def ensure_redis(state: DemoState, bed: testbed_mod.Testbed, say: Say) -> str:
    """The demo's own database on the bed's redis-server (leased; tests never touch it)."""
    base = bed.redis_url.rsplit("/", 1)[0]
    allocator = _allocator(bed)
    try:
        if state.redis_db and holds(allocator, state.redis_db, state.lease_owner):
            return f"{base}/{state.redis_db}"
        owner = f"demo:{demo_dir()}:{uuid.uuid4().hex}"
        database = lease_database(allocator, owner, ttl=None)
        if database == 0:
            raise DemoError("no free Redis database on the test bed: every one is leased")
        redis.Redis.from_url(f"{base}/{database}").flushdb()
        state.redis_db, state.lease_owner = database, owner
        state.save()
        say(f"Redis: database {database} of the bed's redis-server is the demo's")
        return f"{base}/{database}"
    finally:
        allocator.close()


def release_redis(state: DemoState, bed: testbed_mod.Testbed | None) -> bool:
    if not state.redis_db:
        return False
    released = False
    if bed is not None:
        allocator = _allocator(bed)
        try:
            if holds(allocator, state.redis_db, state.lease_owner):
                base = bed.redis_url.rsplit("/", 1)[0]
                redis.Redis.from_url(f"{base}/{state.redis_db}").flushdb()
                release_database(allocator, state.redis_db, state.lease_owner)
                released = True
        finally:
            allocator.close()
    state.redis_db, state.lease_owner = 0, ""
    state.save()
    return released


# --- the GitLab and Slack stand-ins ----------------------------------------------------------


def _fakes_file() -> Path:
    return demo_dir() / "fakes.json"


def _connect(stored: Mapping[str, Any], fresh: bool) -> Fakes:
    return Fakes(FakesClient(stored["control_url"], stored["control_token"]),
                 stored["gitlab"]["url"], stored["gitlab"]["token"], stored["slack"]["url"],
                 stored["slack"]["bot_token"], fresh)


def running_fakes(state: DemoState) -> Fakes | None:
    """The stand-ins the demo started, if they still run and answer."""
    path = _fakes_file()
    if not (runs(state.fakes_pid, FAKES_MARKER) and path.exists()):
        return None
    fakes = _connect(json.loads(path.read_text()), fresh=False)
    try:
        fakes.client.info()
    except OSError:
        return None
    return fakes


def ensure_fakes(state: DemoState, say: Say) -> Fakes:
    running = running_fakes(state)
    if running is not None:
        say(f"GitLab and Slack stand-ins: reusing pid {state.fakes_pid} "
            f"(GitLab {running.gitlab_url}, Slack {running.slack_url})")
        return running
    path = _fakes_file()
    stop_process(state.fakes_pid, FAKES_MARKER, grace=10)
    path.unlink(missing_ok=True)
    log = demo_dir() / "fakes.log"
    process = spawn([sys.executable, "-m", "tests.fakes", "serve", "--state-file", str(path)],
                    log, os.environ)
    state.fakes_pid = process.pid
    state.save()

    def started() -> bool:
        if process.poll() is not None:
            raise DemoError(f"the fakes process exited:\n{tail(log)}")
        return path.exists()

    wait_for("the GitLab and Slack stand-ins", started, timeout=30)
    fakes = _connect(json.loads(path.read_text()), fresh=True)
    say(f"GitLab and Slack stand-ins: started, pid {state.fakes_pid} (GitLab "
        f"{fakes.gitlab_url}, Slack {fakes.slack_url}; the same fakes the tests use)")
    return fakes


# --- previewbot serve ---------------------------------------------------------------------


def serve_environ(bed: testbed_mod.Testbed, redis_url: str, fakes: Fakes,
                  state: DemoState) -> dict[str, str]:
    """The variables of README "Configuration" for the demo's `previewbot serve` (and its CLI)."""
    return {
        **bed.environ(),
        "REDIS_URL": redis_url,
        "PREVIEWBOT_CONFIG": str(demo_dir() / "previewbot.yaml"),
        "PREVIEWBOT_HELM": bed.helm,
        "GITLAB_URL": fakes.gitlab_url,
        "GITLAB_TOKEN": fakes.gitlab_token,
        "GITLAB_WEBHOOK_SECRET": state.webhook_secret,
        "SLACK_BOT_TOKEN": fakes.slack_token,
        "SLACK_SIGNING_SECRET": state.signing_secret,
        "SLACK_API_URL": fakes.slack_url,
        "PREVIEWBOT_LOG_FORMAT": "text",
    }


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except OSError:
        return 0


def ensure_serve(state: DemoState, environ: Mapping[str, str], config_text: str,
                 say: Say) -> str:
    """`previewbot serve` with these variables and this config: reused when the running
    one has exactly them, else (re)started. Returns its base URL."""
    inputs = sorted((k, v) for k, v in environ.items() if k != "PATH")  # a shell's own PATH
    fingerprint = hashlib.sha256(json.dumps([inputs, config_text]).encode()).hexdigest()
    log = demo_dir() / "serve.log"
    if (state.serve_fingerprint == fingerprint and runs(state.serve_pid, SERVE_MARKER)
            and _get(state.serve_url + "/healthz") == 200):
        say(f"previewbot serve: reusing pid {state.serve_pid} on {state.serve_url}")
        return state.serve_url
    if stop_process(state.serve_pid, SERVE_MARKER, grace=SERVE_STOP_GRACE):
        say(f"previewbot serve: stopped pid {state.serve_pid} (its inputs changed)")
    (demo_dir() / "previewbot.yaml").write_text(config_text)
    port = testbed_mod.free_port()
    url = f"http://127.0.0.1:{port}"
    process = spawn([PREVIEWBOT, "serve"], log, {**os.environ, **environ,
                                                "PREVIEWBOT_HOST": "127.0.0.1",
                                                "PREVIEWBOT_PORT": str(port)})
    pid = process.pid
    state.serve_pid, state.serve_url, state.serve_fingerprint = pid, url, fingerprint
    state.save()

    def ready() -> bool:
        if process.poll() is not None:
            raise DemoError(f"previewbot serve exited:\n{tail(log)}")
        return _get(url + "/readyz") == 200

    try:
        wait_for("previewbot serve to be ready (/readyz: Redis and Kubernetes answer)", ready,
                 timeout=60)
    except TimeoutError as error:
        raise DemoError(f"{error}; its log:\n{tail(log)}") from error
    say(f"previewbot serve: started, pid {pid} on {url} (log: {log})")
    return url


def write_env_file(environ: Mapping[str, str]) -> Path:
    """`source .demo/env.sh` gives a shell what the demo's serve sees (for kubectl, helm
    and the previewbot CLI)."""
    wanted = ("KUBECONFIG", "REDIS_URL", "PREVIEWBOT_CONFIG", "PREVIEWBOT_HELM", "GITLAB_URL",
              "GITLAB_TOKEN", "GITLAB_WEBHOOK_SECRET", "SLACK_BOT_TOKEN",
              "SLACK_SIGNING_SECRET", "SLACK_API_URL")
    lines = [f"export {name}={shlex.quote(environ[name])}" for name in wanted]
    # this checkout's previewbot, then the bed's helm and kubectl
    first = [str(Path(PREVIEWBOT).parent), *environ["PATH"].split(os.pathsep)[:2]]
    lines.append(f"export PATH={shlex.quote(os.pathsep.join(first))}:\"$PATH\"")
    path = demo_dir() / "env.sh"
    write_private(path, "# written by `make demo`: the demo's test bed, Redis and stand-ins\n"
                  + "\n".join(lines) + "\n")
    return path
