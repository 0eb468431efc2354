"""Logs people can search, from real processes: `previewbot serve` writes JSON lines
(stderr is not a terminal) carrying the delivery, the event and the environment;
the CLI's lines carry its request id and actor. A token in every secret input
never shows in any output."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.integration.lifecycle_bed import PREVIEWBOT, REPO, LifecycleBed
from tests.integration.webhook_support import free_port, mr_event, post, start_server
from tests.polling import poll

TOKEN = "tok3n-7c1d2e9f"
SECRETS = {
    "GITLAB_TOKEN": f"glpat-{TOKEN}",
    "GITLAB_WEBHOOK_SECRET": f"hook-{TOKEN}",
    "SLACK_BOT_TOKEN": f"xoxb-{TOKEN}",
    "SLACK_SIGNING_SECRET": f"signing-{TOKEN}",
}


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(item, dict) for item in parsed)
    return parsed


def test_serve_logs_json_lines_with_delivery_event_and_env(bed: LifecycleBed) -> None:
    bed.gitlab.add_token(SECRETS["GITLAB_TOKEN"], "previewbot")
    server = start_server(bed, **SECRETS)
    try:
        sha = bed.add_mr(5)
        env_key = f"{bed.slug}-mr-5"
        status, _ = post(server, "Merge Request Hook", mr_event(bed, "open", 5, sha),
                         token=SECRETS["GITLAB_WEBHOOK_SECRET"])
        assert status == 202

        def ready_line() -> dict[str, Any] | None:
            return next((line for line in json_lines(server.log())
                         if line.get("env") == env_key
                         and line["message"].startswith(f"{env_key}: ready")), None)

        poll("the environment's ready line in the log", ready_line, timeout=120)
    finally:
        server.stop()
    lines = json_lines(server.log())
    [handled] = [line for line in lines if line["message"].startswith("delivery ")
                 and "Merge Request Hook" in line["message"]]
    assert handled["event"] == "Merge Request Hook" and handled["delivery"]
    assert handled["logger"] == "previewbot.worker" and handled["level"] == "info"
    assert {line["env"] for line in lines if "env" in line} == {env_key}
    assert TOKEN not in server.log()


def test_cli_errors_and_logs_never_show_a_secret(bed: LifecycleBed) -> None:
    bed.gitlab.add_token(SECRETS["GITLAB_TOKEN"], "previewbot")
    environ = {**bed.environ(), **SECRETS, "SLACK_APP_TOKEN": f"xapp-{TOKEN}"}
    closed = free_port()  # nothing listens there: Redis is unreachable
    broken = {**environ, "REDIS_URL": f"redis://:{TOKEN}@127.0.0.1:{closed}/0"}
    failed = [run(broken, *args) for args in (["check-config"], ["list"], ["events"],
                                               ["up", f"{bed.project_path}!1"])]
    for done in failed:
        assert done.returncode == 1, done.args
        assert TOKEN not in done.stdout + done.stderr, (done.args, done.stdout, done.stderr)
    assert "FAIL redis:" in failed[0].stdout and "ok   gitlab:" in failed[0].stdout
    assert "Redis is unreachable" in failed[1].stderr

    bed.add_mr(1)
    env_key = f"{bed.slug}-mr-1"
    done = run(environ, "up", f"{bed.project_path}!1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert TOKEN not in done.stdout + done.stderr
    lines = json_lines(done.stderr)
    assert lines, "the verbose CLI logged nothing"
    requests = {line["request"] for line in lines}
    assert len(requests) == 1 and requests.pop().startswith("cli-")  # one id per invocation
    assert {line["actor"] for line in lines} == {f"cli:{environ.get('USER', 'operator')}"}
    assert any(line.get("env") == env_key and "created namespace" in line["message"]
               for line in lines)


def run(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PREVIEWBOT, "-v", *args], cwd=REPO, env=environ,
                          capture_output=True, text=True, timeout=180, check=False)
