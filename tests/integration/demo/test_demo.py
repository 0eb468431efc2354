"""`make demo` end to end, then `make demo-down`, as a person runs them — on the shared
test bed, which the demo must reuse and leave running.

The demo gets its own state directory and GitLab project (so its namespaces never
meet another demo's or a test's). It runs twice: the second run reuses every process
and tells a fresh story with new MR numbers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from kubernetes import client

from bot.domain.naming import mr_env_key, project_slug
from tests.cluster import testbed as testbed_mod
from tests.cluster.redis_leases import LEASE
from tests.demo.processes import FAKES_MARKER, SERVE_MARKER, runs

REPO = Path(__file__).resolve().parents[3]
DOMAIN = "preview.example.com"


class Demo:
    def __init__(self, state: Path, project: str) -> None:
        self.state = state
        self.project = project
        self.slug = project_slug(project)
        self.environ = {**os.environ, "PREVIEWBOT_TESTBED_STATE": str(testbed_mod.state_dir()),
                        "PREVIEWBOT_DEMO_STATE": str(state),
                        "PREVIEWBOT_DEMO_PROJECT": project, "NO_COLOR": "1"}

    def make(self, target: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["make", "-s", target], cwd=REPO, env=self.environ,
                              capture_output=True, text=True, timeout=900, check=False)

    def stored(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.state / "state.json").read_text())
        return loaded

    def key(self, iid: int) -> str:
        return mr_env_key(self.slug, iid)


@pytest.fixture
def demo(testbed: testbed_mod.Testbed, tmp_path: Path,
         kube_api: client.ApiClient) -> Iterator[Demo]:
    made = Demo(tmp_path / "demo", f"d{uuid.uuid4().hex[:8]}/shop")
    yield made
    made.make("demo-down")  # idempotent: a no-op after the test's own demo-down
    core = client.CoreV1Api(kube_api)
    for namespace in core.list_namespace().items:
        if namespace.metadata.name.startswith(f"preview-{made.slug}-"):
            core.delete_namespace(namespace.metadata.name)


def line_of(lines: list[str], text: str, start: int = 0) -> int:
    """The index of the first line from ``start`` that contains ``text``."""
    for index in range(start, len(lines)):
        if text in lines[index]:
            return index
    raise AssertionError(f"no line with {text!r} after line {start}:\n" + "\n".join(lines))


def check_story(output: str, demo: Demo, first: int) -> None:
    lines = output.splitlines()
    key, draft = demo.key(first), demo.key(first + 1)
    url, draft_url = f"https://{key}.{DOMAIN}", f"https://{draft}.{DOMAIN}"

    # 1. opened: "deploying" first, then the cluster's readiness, and only then the URL
    chapter = line_of(lines, f"MR !{first} opened → ready with its URL")
    line_of(lines, "Merge Request Hook (open", chapter)
    deploying = line_of(lines, "Deploying `", chapter)
    ready = line_of(lines, f"cluster ▸ deployment {key} ready: 1/1 pods Ready", chapter)
    announced = line_of(lines, url, chapter)
    assert deploying < ready < announced
    line_of(lines, "✓ the URL was announced only once the release was ready", announced)
    line_of(lines, f"✓ GitLab: environment review/feature-{first}-checkout → {url}", chapter)

    # 2. a new commit, 3. extend from a signed Slack command
    chapter = line_of(lines, "a new commit → upgraded", announced)
    line_of(lines, "✓ upgraded: release", chapter)
    chapter = line_of(lines, "/preview extend from Slack", chapter)
    line_of(lines, "X-Slack-Signature v0) → 200", chapter)
    line_of(lines, "📅 extended", chapter)

    # 4. the draft: ignored by the webhook, brought up by hand, announced once ready
    chapter = line_of(lines, f"a draft MR !{first + 1}, brought up by hand", chapter)
    line_of(lines, "200 ignored (", chapter)
    line_of(lines, f"/preview up {demo.project}!{first + 1} for", chapter)
    ready = line_of(lines, f"cluster ▸ deployment {draft} ready", chapter)
    assert line_of(lines, draft_url, chapter) > ready

    # 5. merged → torn down; 6. the TTL: warned (thread, DM, Extend), then torn down
    chapter = line_of(lines, f"MR !{first} merged → torn down", chapter)
    line_of(lines, f"cluster ▸ namespace preview-{key} deleted", chapter)
    line_of(lines, f"Gone — MR !{first} merged", chapter)
    line_of(lines, f"✓ torn down: Helm release uninstalled, namespace preview-{key} deleted",
            chapter)
    chapter = line_of(lines, f"{draft}'s TTL runs out", chapter)
    warning = line_of(lines, "⚠️ Expiring", chapter)
    dm = line_of(lines, "Slack ▸ DM to @alice", warning)
    line_of(lines, "[Extend 24h]", dm)
    gone = line_of(lines, "Gone — TTL expired", dm)
    line_of(lines, "✓ torn down by the reaper", gone)

    # the summary and where to look
    summary = line_of(lines, "Summary", gone)
    header = lines[line_of(lines, "ENVIRONMENT", summary)].split()
    assert header == ["ENVIRONMENT", "WHAT", "HAPPENED", "URL", "FINAL", "STATE"]
    assert re.search(rf"{key} +opened → ready .* {re.escape(url)} +gone \(MR !{first} merged\)",
                     output)
    assert re.search(rf"{draft} +draft: webhook ignored .* {re.escape(draft_url)} +gone \(TTL",
                     output)
    for command in ("source ", "kubectl get namespaces", "helm list -A", "previewbot list --all",
                    "previewbot status", "make demo-down"):
        line_of(lines, command, summary)


def answers(url: str) -> bool:
    """Does anything answer HTTP there (whatever the status)?"""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def test_make_demo_twice_then_demo_down(demo: Demo, testbed: testbed_mod.Testbed,
                                        kube_api: client.ApiClient) -> None:
    first = demo.make("demo")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "test bed: reusing the running cluster" in first.stdout
    assert "GitLab and Slack stand-ins: started" in first.stdout
    assert "previewbot serve: started" in first.stdout
    check_story(first.stdout, demo, first=1)
    started = demo.stored()
    assert started["started_bed"] is False

    again = demo.make("demo")  # everything is reused; a fresh story
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"GitLab and Slack stand-ins: reusing pid {started['fakes_pid']}" in again.stdout
    assert f"previewbot serve: reusing pid {started['serve_pid']}" in again.stdout
    check_story(again.stdout, demo, first=3)
    stored = demo.stored()
    assert (stored["serve_pid"], stored["fakes_pid"], stored["redis_db"]) == (
        started["serve_pid"], started["fakes_pid"], started["redis_db"])

    # what it started still runs, for a look around
    serve_url = stored["serve_url"]
    fakes = json.loads((demo.state / "fakes.json").read_text())
    assert runs(stored["serve_pid"], SERVE_MARKER) and answers(serve_url + "/healthz")
    assert runs(stored["fakes_pid"], FAKES_MARKER) and answers(fakes["gitlab"]["url"])
    allocator = redis.Redis.from_url(testbed.redis_url.rsplit("/", 1)[0] + "/0")
    lease = LEASE.format(stored["redis_db"])
    assert allocator.get(lease) == stored["lease_owner"].encode()

    down = demo.make("demo-down")

    assert down.returncode == 0, down.stdout + down.stderr
    assert "the test bed keeps running: the demo did not start it" in down.stdout
    assert not runs(stored["serve_pid"], SERVE_MARKER) and not answers(serve_url + "/healthz")
    assert not runs(stored["fakes_pid"], FAKES_MARKER)
    assert not answers(fakes["gitlab"]["url"]) and not answers(fakes["control_url"])
    assert allocator.get(lease) is None  # the Redis database is given back
    assert not (demo.state / "fakes.json").exists()
    namespaces = [n.metadata.name for n in client.CoreV1Api(kube_api).list_namespace().items]
    assert not [n for n in namespaces if n.startswith(f"preview-{demo.slug}-")]
    assert testbed_mod.load_running() is not None  # the shared bed is still up
    assert demo.stored()["started_bed"] is False
