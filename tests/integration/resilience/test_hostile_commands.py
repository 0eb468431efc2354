"""5,000 hostile `/preview` texts through the real Bolt app (signed as Slack signs),
naming branches whose names are hostile and exist in GitLab, then a real deploy of
whatever they asked for.

Never an injection: helm is run through a recording shim that sees its argv, its parent
process and its values file — no branch text in argv, no shell between the bot and helm,
the branch only in the values file, as data. No reply and no announcement carries a
Slack control sequence that came from user or GitLab text (<!channel>, a foreign link, a
mention). Always a clear reply: never a 5xx, always an ephemeral answer that says what
happened or what was wrong.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client

with warnings.catch_warnings():  # Starlette 1.x prefers httpx2; httpx is what we pin
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

from bot.cluster.helm import Helm
from bot.config import Settings
from bot.domain import naming
from bot.domain.model import Status
from bot.engine.reconcile import Reconciler
from bot.runtime.wiring import build_core, build_parts
from bot.state.queue import DeliveryQueue
from handlers.slack.app import SlackBot
from handlers.slack.commands import command_crashed
from handlers.web import WebDeps, create_app
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.resilience.support import EndState, bed_project
from tests.integration.slack.support import (
    ADMIN,
    AUTHOR,
    CHANNEL,
    FORM,
    MAINTAINER,
    STRANGER,
    command_body,
    configure_slack,
    signed_headers,
    slack_environ,
)
from tests.integration.slack.test_command_fuzz import RESULTS
from tests.slack_text import injected as slack_injected
from tests.slack_text import texts_of

pytestmark = pytest.mark.slow
EXAMPLES = 5000
# Valid git branch names (git check-ref-format) that mean something elsewhere.
HOSTILE_BRANCHES = ("<!channel>", "<!here|here>", "feature/<@U0ADMIN>", "$(reboot)",
                    "a;b&c|d", "a'b\"c", "{{.Values.secret}}", "<http://evil.test|click>",
                    "\u202egnp.exe", "🚀/" + "x" * 150, "&lt;!everyone&gt;", "`id`")
REFUSED = {"\u202egnp.exe"}  # a right-to-left override: `/preview` does not take it
HOSTILE_MR_BRANCH = "<!subteam^S0ALL|everyone>"
MENTIONS_OK = {STRANGER, AUTHOR, ADMIN, MAINTAINER}


def shim(tmp_path: Path, real_helm: str) -> tuple[str, Path]:
    """A `helm` that records how it was run (argv, parent, values file), then runs helm."""
    log = tmp_path / "helm-calls.jsonl"
    script = tmp_path / "helm"
    script.write_text(f"""#!{sys.executable}
import json, os, sys
argv = sys.argv[1:]
values = open(argv[argv.index("-f") + 1]).read() if "-f" in argv else None
with open({str(log)!r}, "a") as out:
    out.write(json.dumps({{"argv": argv, "parent": os.getppid(),
                          "parent_name": open(f"/proc/{{os.getppid()}}/comm").read().strip(),
                          "values": values}}) + "\\n")
os.execv({real_helm!r}, [{real_helm!r}, *argv])
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script), log


@pytest.fixture
def app(bed: LifecycleBed, fake_slack: FakeSlack, tmp_path: Path,
        kube_api: client.ApiClient) -> Iterator[tuple[TestClient, Any, Path]]:
    configure_slack(bed, fake_slack)
    for branch in HOSTILE_BRANCHES:
        bed.gitlab.add_branch(bed.project_id, branch, "c" * 40)
    bed.add_mr(7, branch=HOSTILE_MR_BRANCH)
    helm, log = shim(tmp_path, bed.testbed.helm)
    settings_ = Settings.from_env({**bed.environ(), **slack_environ(fake_slack)})
    slack = SlackBot(settings_)
    parts = build_parts(settings_)
    core = build_core(settings_, parts=parts, notifier=slack.notifier_of(parts))
    core = replace(core, helm=Helm(helm, kubeconfig=bed.testbed.kubeconfig, timeout=120))
    queue = DeliveryQueue.from_url(settings_.redis_url)
    slack.attach(core, queue)
    web = create_app(WebDeps(config=core.config, queue=queue, webhook_secret="unused",
                             readiness=lambda: [], slack_events=slack.endpoint()))
    end = EndState(bed, client.CoreV1Api(kube_api), (bed_project(bed),))
    try:
        with TestClient(web) as test_client:
            yield test_client, core, log
    finally:
        queue.close()
        end.cleanup()


def slack_escaped(text: str) -> str:
    """A command's text as Slack sends it: &, < and > escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def command(test_client: TestClient, fake: FakeSlack, text: str, user: str) -> dict[str, Any]:
    """Send one command; its ephemeral reply (in the ack, or at the response_url)."""
    calls = len(fake.calls)
    body = command_body(fake, text, user=user)
    answer = test_client.post("/slack/events", content=body, headers=signed_headers(body, FORM))
    assert answer.status_code == 200, (text, answer.status_code, answer.text)
    reply: dict[str, Any] = answer.json() if answer.content else fake.wait_for(
        lambda c: c.method == "response_url", after=calls).params
    return reply


def texts(bed: LifecycleBed) -> st.SearchStrategy[str]:
    project, slug = bed.project_path, bed.slug
    refs = [f"{project}@{slack_escaped(b)}" for b in HOSTILE_BRANCHES] + [
        f"{project}!7", f"{project}@--set=x", f"{project}@-rf", f"{project}@../../etc",
        f"{project}@$(id)", f"{project}@<!channel>; rm -rf /", f"{slug}-mr-7",
        naming.namespace_name(f"{slug}-mr-7"), "<!channel>", "<@U0BOB|bob>", "<#C123|x>",
        "<http://evil.test|click>", "&amp;lt;!here&amp;gt;", "--kubeconfig=/etc/passwd"]
    words = st.sampled_from(["up", "status", "down", "extend", "keep", "list", "help",
                             "for", "2h", "mine", "-f", "--set", "`", "|", ";", "&&"])
    shaped = st.lists(st.one_of(words, st.sampled_from(refs), st.text(max_size=20)),
                      min_size=1, max_size=5).map(" ".join)
    asking = st.tuples(st.sampled_from(["up", "status", "down", "extend", "keep"]),
                       st.sampled_from(refs)).map(" ".join)
    return st.one_of(asking, asking, shaped, st.text(max_size=300))


def injected(texts: list[str], gitlab_host: str) -> list[str]:
    return slack_injected(texts, people=MENTIONS_OK, channels=[CHANNEL],
                          link_prefixes=[gitlab_host + "/"], preview_domain="preview.test")


def test_5000_hostile_commands_never_inject(bed: LifecycleBed, fake_slack: FakeSlack,
                                           app: tuple[TestClient, Any, Path]) -> None:
    test_client, core, log = app
    sent = 0

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(text=texts(bed), user=st.sampled_from([STRANGER, AUTHOR]))
    def one(text: str, user: str) -> None:
        nonlocal sent
        reply = command(test_client, fake_slack, text, user)
        sent += 1
        assert reply["response_type"] == "ephemeral", (text, reply)
        shown = texts_of(reply)
        assert command_crashed() not in shown[0], (text, shown)
        assert any(result in " ".join(shown) for result in RESULTS), (text, shown)
        # An ephemeral reply notifies nobody: what counts is what shows (the blocks).
        rendered = shown[1:] if reply.get("blocks") else shown
        assert injected(rendered, bed.gitlab.url) == [], text

    one()
    assert sent >= EXAMPLES

    # Every hostile branch (and the MR from one) asked for by its author, as Slack sends
    # it; then deployed, with whatever else the commands asked for, through the shim.
    for branch in HOSTILE_BRANCHES:
        reply = command(test_client, fake_slack,
                        f"up {bed.project_path}@{slack_escaped(branch)}", AUTHOR)
        if branch in REFUSED:  # refused by the grammar, saying why: fine, nothing runs
            assert "does not name an environment" in reply["text"], reply["text"]
        else:
            assert "Deploying" in reply["text"], (branch, reply["text"])
    command(test_client, fake_slack, f"up {bed.project_path}!7", AUTHOR)
    wanted = [env.key for env in core.store.all() if env.desired.present]
    Reconciler(core).run_pass(dry_run=False, only=wanted)
    ready = [env for env in core.store.all() if env.observed.status is Status.READY]
    branches = {env.desired.branch for env in ready}
    assert branches >= {*HOSTILE_BRANCHES, HOSTILE_MR_BRANCH} - REFUSED, branches
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    installs = [c for c in calls if c["argv"][0] == "upgrade"]
    assert len(installs) >= len(ready), (len(installs), len(ready))
    for call in calls:
        assert call["parent"] == os.getpid(), call  # helm's parent is the bot: no shell
        assert "--set" not in call["argv"] and "--set-string" not in call["argv"]
        for hostile in (*HOSTILE_BRANCHES, HOSTILE_MR_BRANCH):
            assert all(hostile not in arg for arg in call["argv"]), (hostile, call["argv"])
    seen_in_values = {json.loads(c["values"])["preview"]["branch"] for c in installs}
    assert branches <= seen_in_values
    for message in fake_slack.messages(CHANNEL):  # the announcements of those deploys
        assert injected([message.text, *texts_of({"blocks": message.blocks})],
                        bed.gitlab.url) == [], message.text
