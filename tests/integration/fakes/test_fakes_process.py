"""The fakes as a process of their own (`python -m tests.fakes serve`, what `make demo`
runs): seeded and read over the control API, spoken to by the real python-gitlab and
slack_sdk, stopped cleanly by SIGTERM."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gitlab
import pytest
from slack_sdk import WebClient

from tests.fakes.control import FakesClient, FakesControlError
from tests.polling import poll

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def fakes_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    state = tmp_path / "fakes.json"
    process = subprocess.Popen([sys.executable, "-m", "tests.fakes", "serve", "--state-file",
                                str(state)], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        poll("the fakes' state file", state.exists, timeout=30)
        yield process, state
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def client_of(state: Path) -> tuple[FakesClient, dict[str, Any]]:
    stored: dict[str, Any] = json.loads(state.read_text())
    return FakesClient(stored["control_url"], stored["control_token"]), stored


def test_seeded_over_the_control_api_and_spoken_to_by_the_real_clients(
        fakes_process: tuple[subprocess.Popen[str], Path]) -> None:
    _, state = fakes_process
    control, stored = client_of(state)
    assert stat.S_IMODE(state.stat().st_mode) == 0o600  # it holds the tokens

    project = control.gitlab("add_project", path_with_namespace="demo/shop")
    control.gitlab("add_merge_request", project_id=project["id"], iid=3,
                   source_branch="feature-3", author_username="alice", sha="a" * 40)
    gl = gitlab.Gitlab(stored["gitlab"]["url"], private_token=stored["gitlab"]["token"])
    mr = gl.projects.get("demo/shop").mergerequests.get(3)
    assert (mr.source_branch, mr.author["username"]) == ("feature-3", "alice")

    before = time.time()
    slack = WebClient(token=stored["slack"]["bot_token"], base_url=stored["slack"]["url"])
    slack.chat_postMessage(channel="C0PREVIEWS", text="deploying")
    [call] = [c for c in control.slack("calls") if c["method"] == "chat.postMessage"]
    assert call["params"]["text"] == "deploying" and call["at"] >= before
    assert "headers" not in call  # the bot's token stays in the fakes process
    assert control.slack("calls", after=1) == []
    [message] = control.slack("messages", channel="C0PREVIEWS")
    assert message["text"] == "deploying"


def test_the_control_api_refuses_what_it_does_not_offer(
        fakes_process: tuple[subprocess.Popen[str], Path]) -> None:
    _, state = fakes_process
    control, stored = client_of(state)
    with pytest.raises(FakesControlError, match="401"):
        FakesClient(stored["control_url"], "wrong-token").info()
    with pytest.raises(FakesControlError, match=r"404 no callable gitlab\.delete_branch"):
        control.gitlab("delete_branch", project_id=1, name="main")
    control.gitlab("add_project", path_with_namespace="demo/shop")
    with pytest.raises(FakesControlError, match="400 ValueError: project 'demo/shop' already"):
        control.gitlab("add_project", path_with_namespace="demo/shop")
    with pytest.raises(FakesControlError, match="400 TypeError"):
        control.gitlab("add_project", no_such_argument=1)
    assert control.info()["internal_errors"] == []


def test_sigterm_stops_it_and_removes_the_state_file(
        fakes_process: tuple[subprocess.Popen[str], Path]) -> None:
    process, state = fakes_process
    control, _ = client_of(state)
    control.info()

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=20) == 0
    assert not state.exists()
    assert process.stdout is not None and "fakes: stopped" in process.stdout.read()
    with pytest.raises(OSError):
        control.info()
