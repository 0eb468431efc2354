"""The Kubernetes API server stopped for 20 s and started again.

On a PRIVATE test bed (its own kwok cluster and Redis from the cached binaries, in this
test's temporary directory): the shared bed's API server serves every other test. The
kube-apiserver process is stopped (SIGKILL: on SIGTERM it drains connections for up to a
minute first) and, 20 s later, started again with the same command line, as a
control-plane restart looks to a client: connections refused, then the same API back.
etcd and kwok's node/pod controller keep running. kube-controller-manager and
kube-scheduler lose their leader lease meanwhile and exit, as they do in any cluster; the
kubelet would restart them, so the test does (same command line). (`kwokctl stop/start
cluster` was tried first: it restarts kwok's controller too, which then waits out its
200 s node leases before any pod becomes ready — a test-bed artefact.)

`previewbot serve` must not crash or crash-loop, must keep answering /healthz (and say
not ready on /readyz), must not lose the events it accepted meanwhile (a merge, an open,
a branch deletion that only the event tells), must have every change under way within
one reconcile interval once the API is back, and converge once the restarted controllers
do their part.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, config

from bot.domain import records
from tests.cluster.testbed import CLUSTER_NAME, Testbed
from tests.fakes.gitlab import FakeGitLab
from tests.integration.lifecycle_bed import REPO, LifecycleBed, up_ok
from tests.integration.resilience.support import (
    EndState,
    Expected,
    bed_project,
    branch_deleted_hook,
    gitlab_problems,
    namespace_or_none,
    start_replica,
    until_none,
)
from tests.integration.webhook_support import Server, mr_event, post
from tests.polling import poll, wait_for

# The heaviest scenarios share one xdist group: never two of them at once on 2 cores.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("heavy")]
INTERVAL = 10.0  # the reconcile interval of this test, seconds
OUTAGE = 20.0
SLACK = 5.0  # a pass's own work before it starts the change
# The restarted controller-manager needs ~20 s before Deployments and namespace deletions
# progress again; then the deploy or teardown itself.
CONTROLLERS = 60.0


def run_testbed(state: Path, command: str) -> subprocess.CompletedProcess[str]:
    """The test bed's CLI on the private state dir. KUBECONFIG must be the private bed's
    own: `kwokctl delete cluster` removes its context (named like the shared bed's) from
    whatever $KUBECONFIG names — with the shared one inherited it emptied that."""
    environ = {**os.environ, "PREVIEWBOT_TESTBED_STATE": str(state),
               "KUBECONFIG": str(state / "kubeconfig")}
    return subprocess.run([sys.executable, "-m", "tests.cluster.testbed", command], cwd=REPO,
                          env=environ, capture_output=True, text=True, timeout=300,
                          check=False)


@pytest.fixture
def private_testbed(tmp_path: Path) -> Iterator[tuple[Testbed, ControlPlane]]:
    state = tmp_path / "testbed"
    started = run_testbed(state, "up")
    control_plane = None
    try:
        if started.returncode != 0:
            pytest.fail(f"the private test bed did not start:\n{started.stderr}", pytrace=False)
        control_plane = ControlPlane(state)
        yield Testbed(**json.loads((state / "testbed.json").read_text())), control_plane
    finally:
        stopped = run_testbed(state, "down")
        if control_plane is not None:
            control_plane.reap()
        assert stopped.returncode == 0, stopped.stderr


@dataclass
class Component:
    """One control-plane process of the bed, as kwokctl started it (binary runtime)."""

    name: str
    argv: list[str]
    cwd: str
    environ: dict[str, str]
    pidfile: Path
    log: Path
    started: subprocess.Popen[bytes] | None = None  # by this test, to be reaped

    @property
    def pid(self) -> int:
        return int(self.pidfile.read_text().strip())

    def alive(self) -> bool:
        if self.started is not None:
            return self.started.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return Path(f"/proc/{self.pid}").exists() and "zombie" not in \
            Path(f"/proc/{self.pid}/status").read_text().lower()

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        wait_for(f"{self.name} to exit", lambda: not self.alive(), timeout=30)

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.started = subprocess.Popen(self.argv, cwd=self.cwd, env=self.environ,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self.pidfile.write_text(str(self.started.pid))  # kwokctl stops it with the bed


class ControlPlane:
    def __init__(self, state: Path) -> None:
        cluster = state / "kwok" / "clusters" / CLUSTER_NAME
        self.components: dict[str, Component] = {}
        for pidfile in sorted((cluster / "pids").glob("*.pid")):
            name = pidfile.name.removesuffix(".pid")
            proc = Path(f"/proc/{pidfile.read_text().strip()}")
            environ = dict(item.split("=", 1) for item in
                           (proc / "environ").read_text().split("\0") if "=" in item)
            self.components[name] = Component(
                name, (proc / "cmdline").read_text().rstrip("\0").split("\0"),
                os.readlink(proc / "cwd"), environ, pidfile, cluster / "logs" / f"{name}.log")

    def restart_the_dead(self) -> list[str]:
        """Start every component that exited again (the kubelet's job); their names."""
        dead = [c for c in self.components.values() if not c.alive()]
        for component in dead:
            component.start()
        return [c.name for c in dead]

    def reap(self) -> None:
        for component in self.components.values():
            if component.started is not None:
                if component.started.poll() is None:
                    os.killpg(component.started.pid, signal.SIGKILL)
                component.started.wait(timeout=30)


def not_under_way(core_api: client.CoreV1Api, *, deploying: list[str],
                  ending: list[str]) -> list[str]:
    """What has not started yet: a deploy (its namespace exists) or a teardown (its
    namespace carries the reason, is Terminating, or is gone)."""
    lagging = [f"{key}: deploy not started" for key in deploying
               if namespace_or_none(core_api, f"preview-{key}") is None]
    for key in ending:
        ns = namespace_or_none(core_api, f"preview-{key}")
        if ns is not None and ns.status.phase == "Active" and \
                records.TEARDOWN_REASON not in (ns.metadata.annotations or {}):
            lagging.append(f"{key}: teardown not started")
    return lagging


def status_of(server: Server, path: str) -> int:
    try:
        with urllib.request.urlopen(server.url + path, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def api_answers(kubeconfig: str) -> bool:
    try:
        api = config.new_client_from_config(config_file=kubeconfig)
        client.CoreV1Api(api).list_namespace(limit=1, _request_timeout=2)
        return True
    except Exception:
        return False


def test_the_api_server_stopped_for_20s(private_testbed: tuple[Testbed, ControlPlane],
                                        fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    testbed, control_plane = private_testbed
    apiserver = control_plane.components["kube-apiserver"]
    bed = LifecycleBed(testbed, fake_gitlab, testbed.redis_url, tmp_path)
    bed.configure(reconcile_interval=f"{INTERVAL:.0f}s")
    core_api = client.CoreV1Api(config.new_client_from_config(config_file=testbed.kubeconfig))
    project = bed_project(bed)
    end = EndState(bed, core_api, (project,))
    sha1 = bed.add_mr(1)
    key1, key2 = project.key(1), project.key(2)
    bed.gitlab.add_branch(bed.project_id, "topic", "7" * 40)
    up_ok(bed, f"{bed.project_path}@topic")  # a branch environment: only an event ends it
    server = start_replica(bed, "serve")
    try:
        assert post(server, "Merge Request Hook", mr_event(bed, "open", 1, sha1))[0] == 202
        end.wait_converged(Expected(running={key1: sha1, project.branch_key("topic"): "7" * 40}),
                           timeout=90)

        apiserver.kill()
        stopped_at = time.monotonic()
        assert not api_answers(testbed.kubeconfig)
        # Events while the API is down: accepted (Redis is up) and worked off later.
        bed.gitlab.update_merge_request(bed.project_id, 1, state="merged")
        assert post(server, "Merge Request Hook", mr_event(bed, "merge", 1, sha1))[0] == 202
        sha2 = bed.add_mr(2)  # opened during the outage
        assert post(server, "Merge Request Hook", mr_event(bed, "open", 2, sha2))[0] == 202
        bed.gitlab.delete_branch(bed.project_id, "topic")
        assert post(server, "Push Hook", branch_deleted_hook(project, "topic"))[0] == 202
        readiness: set[int] = set()

        def outage_lasted() -> bool:
            assert server.process.poll() is None, f"serve exited:\n{server.log()}"
            assert status_of(server, "/healthz") == 200
            readiness.add(status_of(server, "/readyz"))
            return time.monotonic() - stopped_at >= OUTAGE
        poll("a 20 s API outage", outage_lasted, timeout=OUTAGE + 30, interval=0.5)
        assert readiness == {503}  # not ready while the API is gone, and it says so

        apiserver.start()
        wait_for("the API server to answer again", lambda: api_answers(testbed.kubeconfig),
                 timeout=60)
        back_at = time.monotonic()
        assert set(control_plane.restart_the_dead()) <= {"kube-controller-manager",
                                                         "kube-scheduler"}
        # Within one interval every change is under way (teardowns start within one
        # interval, also when several are due) ...
        topic = project.branch_key("topic")
        lagging: list[list[str]] = [[]]

        def under_way() -> bool:
            lagging[0] = not_under_way(core_api, deploying=[key2], ending=[key1, topic])
            return not lagging[0]
        try:
            wait_for("every change to be under way", under_way, timeout=INTERVAL + SLACK)
        except TimeoutError:
            pytest.fail(f"{INTERVAL + SLACK:.0f}s after the API server was back: "
                        + "; ".join(lagging[0]), pytrace=False)
        started_after = time.monotonic() - back_at
        # ... and done once the cluster's own controllers (restarted) have done their part.
        end.wait_converged(Expected(running={key2: sha2}, ended={key1, topic}),
                           timeout=INTERVAL + CONTROLLERS)
        print(f"every change under way {started_after:.1f}s and converged "
              f"{time.monotonic() - back_at:.1f}s after the API server was back")
        assert status_of(server, "/readyz") == 200
        assert server.process.poll() is None
        assert "crashed" not in server.log(), server.log()[-3000:]
        until_none(f"{key2} told once", lambda: gitlab_problems(
            bed.gitlab, project, 2, key2, running=True, core_api=core_api), timeout=30)
        until_none(f"{key1}'s GitLab environment to be stopped", lambda: gitlab_problems(
            bed.gitlab, project, 1, key1, running=False), timeout=30)
    finally:
        server.stop()
        if api_answers(testbed.kubeconfig):
            end.cleanup()  # else the private bed goes down with everything in it
