"""A previewbot wired to the real test bed and the GitLab fake, for lifecycle tests.

Each bed has its own GitLab project (unique path, hence unique ENV keys and
namespaces), its own Redis database and its own config file. The same wiring
is used in-process (``engine``/``reconciler``) and by the real ``previewbot``
CLI in a subprocess (``cli``/``spawn``), so crash tests can SIGKILL a process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis
from kubernetes import client
from kubernetes.client.rest import ApiException

from bot.config import Settings
from bot.domain.model import Clock
from bot.engine.core import Core
from bot.engine.reconcile import Reconciler
from bot.engine.requests import Requests
from bot.runtime.wiring import build, build_core
from bot.state.queue import DeliveryQueue
from bot.state.queue.seal import key_for
from tests.cluster.testbed import Testbed
from tests.fakes.gitlab import FakeGitLab

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "preview-app"
# The installed console script, exactly what an operator runs.
PREVIEWBOT = str(Path(sys.executable).parent / "previewbot")
T = TypeVar("T")
QUEUE_KEY = "queue-key-for-tests"  # PREVIEWBOT_QUEUE_KEY of the bed's processes


def config_yaml(project_path: str, *, routing: str = "istio", ready_timeout: str = "90s",
                extra_values: str = "", project_extra: str = "",
                reconcile_interval: str = "60s", more_projects: tuple[str, ...] = (),
                chart: Path = CHART) -> str:
    others = "".join(f"""
  - path: {path}
    values:
      image: {{repository: registry.example.com/app}}
      containerPort: 80
""" for path in more_projects)
    return f"""
reconcile_interval: {reconcile_interval}
defaults:
  domain: preview.test
  channel: C0PREVIEWS
  chart: {chart}
  routing: {routing}
  ttl: 48h
  max_ttl: 7d
  ready_timeout: {ready_timeout}
projects:
  - path: {project_path}
    values:
      image: {{repository: registry.example.com/app}}
      containerPort: 80
      {extra_values}
    {project_extra}
{others}"""


@dataclass
class LifecycleBed:
    testbed: Testbed
    gitlab: FakeGitLab
    redis_url: str
    tmp: Path
    project_path: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}/app")
    project_id: int = 0

    def __post_init__(self) -> None:
        self.project_id = int(self.gitlab.add_project(self.project_path)["id"])
        self.configure()

    @property
    def slug(self) -> str:
        return self.project_path.replace("/", "-")

    def configure(self, **options: Any) -> None:
        (self.tmp / "previewbot.yaml").write_text(config_yaml(self.project_path, **options))

    def environ(self) -> dict[str, str]:
        return {**os.environ, **self.testbed.environ(), "REDIS_URL": self.redis_url,
                "GITLAB_URL": self.gitlab.url, "GITLAB_TOKEN": self.gitlab.token,
                "PREVIEWBOT_CONFIG": str(self.tmp / "previewbot.yaml"),
                "PREVIEWBOT_HELM": self.testbed.helm, "PREVIEWBOT_LOCK_TTL": "3s",
                "PREVIEWBOT_QUEUE_KEY": QUEUE_KEY}

    def queue(self, **options: Any) -> DeliveryQueue:
        """The intake queue on the bed's Redis, sealed with the bed's queue key."""
        return DeliveryQueue.from_url(self.redis_url, key=key_for(
            Settings.from_env(self.environ())), **options)

    def core(self, clock: Clock | None = None) -> Core:
        return build_core(Settings.from_env(self.environ()), clock=clock)

    def wired(self) -> tuple[Requests, Reconciler]:
        return build(self.core())

    def add_mr(self, iid: int, *, sha: str | None = None, branch: str | None = None) -> str:
        sha = sha or uuid.uuid4().hex + "abcd1234"
        self.gitlab.add_merge_request(self.project_id, iid=iid, source_branch=branch or
                                      f"feature-{iid}", author_username="alice", sha=sha[:40],
                                      title=f"MR {iid}")
        return sha[:40]

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PREVIEWBOT, *args], cwd=REPO,
                              env=self.environ(), capture_output=True, text=True,
                              timeout=timeout, check=False)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """A CLI process in its own process group (so SIGKILL reaches its helm child)."""
        return subprocess.Popen([PREVIEWBOT, *args], cwd=REPO,
                                env=self.environ(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def cleanup(self, core_api: client.CoreV1Api) -> None:
        for ns in core_api.list_namespace(label_selector="app.kubernetes.io/managed-by="
                                          "previewbot").items:
            if ns.metadata.name.startswith(f"preview-{self.slug}"):
                try:
                    core_api.delete_namespace(ns.metadata.name)
                except ApiException as error:
                    if error.status != 404:  # gone since the list (a teardown finished)
                        raise


def helm_release(bed: LifecycleBed, env_key: str) -> dict[str, object] | None:
    done = subprocess.run([bed.testbed.helm, "list", "-n", f"preview-{env_key}", "-o", "json"],
                          env=bed.environ(), capture_output=True, text=True, check=True)
    releases = [r for r in json.loads(done.stdout) if r["name"] == env_key]
    return releases[0] if releases else None


def up_ok(bed: LifecycleBed, target: str) -> subprocess.CompletedProcess[str]:
    done = bed.cli("up", target)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def kill_group(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
