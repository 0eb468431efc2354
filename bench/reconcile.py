"""The reconcile pass at 1,000 and 10,000 environments over 20 projects.

    .venv/bin/python bench/reconcile.py [--sizes 1000,10000] [--projects 20]

Needs a running test bed (`make cluster-up`). The bench seeds a steady state: per
environment an open MR in the GitLab fake (at the environment's commit), a READY
record in a leased Redis database and its namespace on the cluster (labels and
annotations exactly as the bot writes them, created in bulk through the Kubernetes
API; no Helm release and no pods: a settled record and namespace need no Helm
call). Sizes grow in place (the 10,000 include the 1,000) and everything is
removed at the end.

Each size is measured in a fresh process (bench/reconcile_pass.py) wired exactly as
`previewbot reconcile` is (`bot.runtime.wiring`), running the real
`Reconciler.run_pass`: a cold full pass (new connections, as the CLI), a warm full
pass (as the leader's periodic job), and a single-environment poke (as a worker
after a webhook). Counted from the bench side, without changing behaviour: HTTP
requests to GitLab (wrapping `requests.Session.send`, cross-checked with the fake's
own count), Kubernetes API requests (wrapping the client's urllib3 pool), Redis
round trips (wrapping `redis.Connection.send_packed_command`: one per command or
pipeline), and the process's peak RSS (after wiring = the baseline, and after the
passes).

Prints JSON. Targets (issue 10): cost grows linearly with environments; the 10k
pass makes ≤ 120 GitLab calls; peak RSS ≤ 200 MB at 10k.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, leased_redis, running_bed, say
from bot.cluster.values import namespace_for
from bot.config import Settings
from bot.domain import records
from bot.domain.model import Desired, Environment, Observed, Status
from bot.runtime.wiring import build_core
from tests.fakes.gitlab import FakeGitLab

CHART = REPO / "charts" / "preview-app"
TARGET_GITLAB_CALLS_10K = 120
TARGET_RSS_MB_10K = 200.0
SHA = "b" * 40


def config_yaml(paths: list[str]) -> str:
    projects = "".join(f"""
  - path: {path}
    values:
      image: {{repository: registry.example.com/app}}
      containerPort: 80
""" for path in paths)
    return f"""
reconcile_interval: 60s
defaults:
  domain: preview.test
  channel: C0PREVIEWS
  chart: {CHART}
  routing: istio
  ttl: 48h
  max_ttl: 7d
projects:{projects}"""


# --- the seeding parent ----------------------------------------------------------------

class Seeder:
    def __init__(self, bed: Any, gitlab: Any, redis_url: str, tmp: Path, projects: int) -> None:
        self.bed, self.gitlab, self.redis_url, self.tmp = bed, gitlab, redis_url, tmp
        run = os.urandom(3).hex()
        self.paths = [f"bench{run}/p{n:02d}" for n in range(projects)]
        self.ids = [int(gitlab.add_project(path)["id"]) for path in self.paths]
        (tmp / "previewbot.yaml").write_text(config_yaml(self.paths))
        self.api = client.CoreV1Api(config.new_client_from_config(config_file=bed.kubeconfig))
        self.namespaces: list[str] = []
        self.keys: list[str] = []
        self.core = self._core()

    def environ(self) -> dict[str, str]:
        return {**os.environ, **self.bed.environ(), "REDIS_URL": self.redis_url,
                "GITLAB_URL": self.gitlab.url, "GITLAB_TOKEN": self.gitlab.token,
                "PREVIEWBOT_CONFIG": str(self.tmp / "previewbot.yaml"),
                "PREVIEWBOT_HELM": self.bed.helm, "PYTHONPATH": str(REPO)}

    def _core(self) -> Any:
        return build_core(Settings.from_env(self.environ()))

    def grow_to(self, size: int) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        new: list[tuple[str, dict[str, str], dict[str, str]]] = []
        for n in range(len(self.keys), size):
            project, iid = n % len(self.paths), 1 + n // len(self.paths)
            path, project_id = self.paths[project], self.ids[project]
            branch = f"feature-{iid}"
            self.gitlab.add_merge_request(project_id, iid=iid, source_branch=branch,
                                          author_username="alice", sha=SHA)
            key = f"{path.replace('/', '-')}-mr-{iid}"
            desired = Desired(env_key=key, project_path=path, project_id=project_id,
                              branch=branch, sha=SHA, created_at=now,
                              expires_at=now + timedelta(days=2), mr_iid=iid, owner="alice",
                              mr_url=f"{self.gitlab.url}/{path}/-/merge_requests/{iid}")
            env = Environment(desired, Observed(status=Status.PENDING))
            wanted = self.core.wanted(env)[1]
            self.core.store.put(Environment(desired, Observed(
                status=Status.READY, url=f"https://{key}.preview.test", helm_revision=1,
                deployed_sha=SHA, deployed_hash=wanted, last_deploy_at=now,
                review_synced_hash=wanted, updated_at=now)))
            annotations = {k: v for k, v in records.namespace_annotations(desired).items()
                           if v is not None}
            annotations[records.DEPLOYED_HASH] = wanted
            new.append((namespace_for(desired), records.namespace_labels(desired),
                        annotations))
            self.keys.append(key)
        say(f"reconcile: creating {len(new)} namespaces (total {size})")
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(self._create_namespace, new))
        say(f"reconcile: namespaces created in {time.monotonic() - started:.0f} s")

    def _create_namespace(self, item: tuple[str, dict[str, str], dict[str, str]]) -> None:
        name, labels, annotations = item
        self.api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
            name=name, labels=labels, annotations=annotations)))
        self.namespaces.append(name)

    def cleanup(self, timeout: float = 900.0) -> float:
        def delete(name: str) -> None:
            """Delete, then finalize at once: these namespaces are empty (the bench made
            nothing in them), so the namespace controller's content sweep — minutes for
            10,000 on 2 cores, on a shared bed — has nothing to do."""
            try:
                self.api.delete_namespace(name)
                self.api.replace_namespace_finalize(name, client.V1Namespace(
                    metadata=client.V1ObjectMeta(name=name),
                    spec=client.V1NamespaceSpec(finalizers=[])))
            except ApiException as error:
                if error.status not in (404, 409):
                    raise

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(delete, self.namespaces))
        mine = set(self.namespaces)
        deadline = started + timeout
        while time.monotonic() < deadline:
            left = [ns.metadata.name for ns in self.api.list_namespace(
                label_selector="app.kubernetes.io/managed-by=previewbot").items
                if ns.metadata.name in mine]
            if not left:
                break
            say(f"reconcile: {len(left)} namespaces still terminating; finalizing them")
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(delete, left))
            time.sleep(1)  # polling the API server's progress, with a deadline
        return round(time.monotonic() - started, 1)

    def run_child(self) -> dict[str, Any]:
        before = len(self.gitlab.requests)
        done = subprocess.run([sys.executable, str(Path(__file__).with_name("reconcile_pass.py")),
                               self.keys[len(self.keys) // 2]], env=self.environ(),
                              capture_output=True, text=True, check=False, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"measuring process failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout)
        result["gitlab_requests_seen_by_fake"] = len(self.gitlab.requests) - before
        return result


def per_environment(result: dict[str, Any], size: int) -> float:
    return round(result["full_pass_warm"]["seconds"] * 1000 / size, 4)


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    """Targets of issue 10 (10k: ≤ 120 GitLab calls, ≤ 200 MB) and linear growth (per-
    environment cost at the largest size within 2x of the smallest's)."""
    sizes = sorted(int(s) for s in results)
    largest, smallest = results[str(sizes[-1])], results[str(sizes[0])]
    targets: dict[str, Any] = {}
    if sizes[-1] >= 10_000:
        calls = largest["full_pass_warm"]["gitlab_calls"]
        targets["gitlab_calls_10k"] = {"value": calls, "target": f"<= {TARGET_GITLAB_CALLS_10K}",
                                       "met": calls <= TARGET_GITLAB_CALLS_10K}
        rss = largest["peak_rss_mb"]
        targets["peak_rss_10k_mb"] = {"value": rss, "target": f"<= {TARGET_RSS_MB_10K}",
                                      "met": rss <= TARGET_RSS_MB_10K}
    if len(sizes) > 1:
        growth = round(per_environment(largest, sizes[-1]) /
                       per_environment(smallest, sizes[0]), 2)
        targets["linear_growth"] = {"value": growth, "target": "per-environment cost at the "
                                    "largest size <= 2x the smallest's", "met": growth <= 2.0}
    return targets


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--projects", type=int, default=20)
    args = parser.parse_args()
    bed = running_bed()
    if bed is None:
        return 1
    sizes = sorted(int(s) for s in args.sizes.split(","))
    results: dict[str, Any] = {}
    with FakeGitLab() as gitlab, tempfile.TemporaryDirectory() as tmp, \
            leased_redis(bed, "bench-reconcile") as redis_url:
        seeder = Seeder(bed, gitlab, redis_url, Path(tmp), args.projects)
        try:
            for size in sizes:
                seeder.grow_to(size)
                say(f"reconcile: measuring {size} environments")
                result = seeder.run_child()
                result["per_environment_ms"] = per_environment(result, size)
                results[str(size)] = result
                say(f"reconcile: {size}: warm pass {result['full_pass_warm']['seconds']} s, "
                    f"poke {result['poke']['seconds']} s, peak RSS {result['peak_rss_mb']} MB")
        finally:
            say("reconcile: removing the namespaces")
            cleanup_s = seeder.cleanup()
    report = {"benchmark": "reconcile pass, steady state (every environment READY)",
              "projects": args.projects, "sizes": results, "cleanup_seconds": cleanup_s,
              "targets": verdict(results)}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
