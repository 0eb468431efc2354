"""Run the GitLab and Slack stand-ins as a process of their own.

    python -m tests.fakes serve --state-file .demo/fakes.json

Starts a `FakeGitLab`, a `FakeSlack` and their control API (`tests.fakes.control`)
on free loopback ports with fresh random tokens, writes where they are and the
tokens to the state file (mode 0600), and serves until SIGTERM or SIGINT; then it
stops, prints any error the fakes themselves raised, and removes the state file.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import threading
from pathlib import Path

from tests.fakes.control import FakesHost


def write_private(path: Path, text: str) -> None:
    """Write atomically, readable by the owner only (the file holds tokens)."""
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    partial.replace(path)


def serve(state_file: Path) -> int:
    control_token = secrets.token_urlsafe(24)
    host = FakesHost(gitlab_token="glpat-" + secrets.token_urlsafe(15),
                     slack_token="xoxb-" + secrets.token_urlsafe(18),
                     control_token=control_token).start()
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        write_private(state_file, json.dumps({**host.info(), "control_token": control_token},
                                             indent=2))
        print(f"fakes: GitLab {host.gitlab.url}, Slack {host.slack.url}, control "
              f"{host.base_url} (pid {os.getpid()})", flush=True)
        stopping.wait()
    finally:
        errors = host.gitlab.internal_errors + host.slack.internal_errors
        host.stop()
        state_file.unlink(missing_ok=True)
    for error in errors:
        print(f"fakes: a fake raised:\n{error}", file=sys.stderr)
    print("fakes: stopped", flush=True)
    return 1 if errors else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes",
                                     description="the GitLab and Slack stand-ins, as a process")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="serve until SIGTERM; where they are goes to the file")
    run.add_argument("--state-file", type=Path, required=True)
    args = parser.parse_args(argv)
    return serve(args.state_file)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
