"""Time-to-URL and teardown time through `previewbot serve`, against bare Helm.

    .venv/bin/python bench/time_to_url.py [--rounds 10] [--modes instant,kwok10s]

Needs a running test bed (`make cluster-up`). One real `previewbot serve`
subprocess (leased Redis database, GitLab and Slack fakes on loopback) gets, per
round, a signed Merge Request Hook `open` for a new MR; the clock runs from just
before the POST to the moment the URL is on the MR (the fake GitLab answered the
note carrying it) and in Slack (the fake Slack received the announcement carrying
it), both taken from the fakes' own records. The baseline, measured in the same
rounds on the same cluster, is a bare `helm upgrade --install --create-namespace
--wait` of the same chart with the values the bot rendered. Rounds alternate
which goes first. Then the teardown: the MR is merged in GitLab and the Merge
Request Hook `merge` is posted → the namespace is gone (polled every 20 ms),
against a bare `helm uninstall --wait` plus `kubectl delete namespace --wait`.

Modes: `instant` (kwok pods Ready at once) and `kwok10s` (pods annotated
`previewbot.test/ready-after: "10s"`, Ready 10 s after they start). One warm-up
round per mode is run and reported apart. Prints JSON with medians, max (worst),
ratio and overhead in ms. Targets (issue 10): median overhead ≤ 150 ms, max ≤ 500 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import leased_redis, overhead, running_bed, say, summary, timed_ms
from tests.cluster.testbed import READY_AFTER
from tests.fakes.gitlab import FakeGitLab
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import CHART, LifecycleBed
from tests.integration.slack.support import configure_slack, start_slack_server
from tests.integration.webhook_support import mr_event, post
from tests.polling import wait_for

TARGET_MEDIAN_OVERHEAD_MS = 150.0
TARGET_MAX_OVERHEAD_MS = 500.0
MODES = {"instant": "", "kwok10s": "10s"}
POLL = 0.02  # seconds between looks at the namespace during a teardown


def wait(what: str, probe: Callable[[], Any], timeout: float, interval: float = POLL) -> Any:
    """Poll ``probe`` until it returns something truthy, with a deadline."""
    return wait_for(what, probe, timeout, interval)


class Bench:
    def __init__(self, bed: Any, slack: Any, api: Any) -> None:
        self.bed, self.slack, self.api = bed, slack, api
        self.iid = 0
        self.server: Any = None
        self.values_file = bed.tmp / "bare-values.json"
        self.bare_namespaces: list[str] = []
        self.last_timeline: list[str] = []

    # --- previewbot ----------------------------------------------------------------
    def start(self, ready_after: str) -> None:
        extra = f'podAnnotations: {{"{READY_AFTER}": "{ready_after}"}}' if ready_after else ""
        configure_slack(self.bed, self.slack, extra_values=extra)
        if self.server is not None:
            self.server.stop()
        self.server = start_slack_server(self.bed, self.slack)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def bot_up(self, timeout: float) -> tuple[str, dict[str, float]]:
        """An MR opened; ms until its URL is on the MR, in Slack, and in both."""
        self.iid += 1
        iid = self.iid
        key = f"{self.bed.slug}-mr-{iid}"
        url = f"https://{key}.preview.test"
        sha = self.bed.add_mr(iid)
        gitlab_seen, slack_seen = len(self.bed.gitlab.requests), len(self.slack.calls)
        sent_mono, sent_wall = time.monotonic(), time.time()
        status, _ = post(self.server, "Merge Request Hook", mr_event(self.bed, "open", iid, sha))
        if status != 202:
            raise RuntimeError(f"webhook answered {status}")

        def on_mr() -> float | None:
            for request in self.bed.gitlab.requests[gitlab_seen:]:
                if "/notes" in request.path and request.status < 300 and \
                        url in json.dumps(request.json):
                    return (request.at - sent_mono) * 1000
            return None

        def in_slack() -> float | None:
            for call in self.slack.calls[slack_seen:]:
                if call.method in ("chat.postMessage", "chat.update") and \
                        url in json.dumps(call.params):
                    return (call.at - sent_wall) * 1000
            return None

        mr_ms = wait(f"the URL of {key} on the MR", on_mr, timeout, interval=0.05)
        slack_ms = wait(f"the URL of {key} in Slack", in_slack, timeout, interval=0.05)
        self.last_timeline = self.timeline(key, sent_wall)
        return key, {"on_mr_ms": mr_ms, "in_slack_ms": slack_ms,
                     "url_ms": max(mr_ms, slack_ms)}

    def timeline(self, key: str, sent_wall: float) -> list[str]:
        """What serve logged about ``key`` (and its delivery), ms after the webhook was
        sent: where the time between webhook and URL goes."""
        lines = []
        for line in self.server.log().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("env") != key and f"!{key.rsplit('-', 1)[1]} " not in \
                    entry.get("message", ""):
                continue
            at = datetime.fromisoformat(entry["time"]).timestamp()
            if at + 1 < sent_wall:
                continue
            message = str(entry.get("message", "")).replace(key, "ENV")
            lines.append(f"+{(at - sent_wall) * 1000:.0f} ms {entry.get('logger')}: "
                         f"{message[:110]}")
        return lines

    def bot_down(self, key: str, timeout: float) -> float:
        """The MR merged (GitLab, then its webhook); ms until the namespace is gone."""
        iid = int(key.rsplit("-", 1)[1])
        sha = self.bed.gitlab.update_merge_request(self.bed.project_id, iid,
                                                   state="merged")["sha"]
        started = time.perf_counter()
        status, _ = post(self.server, "Merge Request Hook", mr_event(self.bed, "merge", iid, sha))
        if status != 202:
            raise RuntimeError(f"webhook answered {status}")
        wait(f"namespace preview-{key} gone", lambda: self.namespace_gone(f"preview-{key}"),
             timeout)
        return (time.perf_counter() - started) * 1000

    def namespace_gone(self, name: str) -> bool:
        try:
            self.api.read_namespace(name)
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    def save_values(self, key: str) -> None:
        done = subprocess.run([self.bed.testbed.helm, "get", "values", key, "-n",
                               f"preview-{key}", "-o", "json"], env=self.bed.environ(),
                              capture_output=True, text=True, check=True)
        self.values_file.write_text(done.stdout)

    # --- bare Helm -----------------------------------------------------------------
    def bare_up(self, name: str) -> float:
        self.bare_namespaces.append(name)
        return timed_ms([self.bed.testbed.helm, "upgrade", "--install", name, str(CHART),
                         "--namespace", name, "--create-namespace", "--wait", "--timeout", "5m",
                         "--values", str(self.values_file)], self.bed.environ(), timeout=600)

    def bare_down(self, name: str) -> float:
        environ = self.bed.environ()
        took = timed_ms([self.bed.testbed.helm, "uninstall", name, "--namespace", name,
                         "--wait"], environ, timeout=600)
        took += timed_ms([self.bed.testbed.kubectl, "delete", "namespace", name, "--wait=true",
                          "--timeout=5m"], environ, timeout=600)
        self.bare_namespaces.remove(name)
        return took

    def cleanup(self) -> None:
        for name in list(self.bare_namespaces):
            subprocess.run([self.bed.testbed.kubectl, "delete", "namespace", name,
                            "--wait=false", "--ignore-not-found"], env=self.bed.environ(),
                           capture_output=True, check=False)
        self.bed.cleanup(self.api)


def run_mode(bench: Bench, mode: str, rounds: int) -> dict[str, Any]:
    ready_after = MODES[mode]
    timeout = 120.0
    bench.start(ready_after)
    say(f"time-to-url [{mode}]: warm-up round")
    key, warm = bench.bot_up(timeout)
    bench.save_values(key)
    warm_down = bench.bot_down(key, timeout)
    bot_url: list[float] = []
    bot_mr: list[float] = []
    bot_slack: list[float] = []
    bare_up: list[float] = []
    bot_down: list[float] = []
    bare_down: list[float] = []
    for r in range(rounds):
        bare = f"bare-{mode}-{os.getpid()}-{r}"
        ups: list[tuple[str, Callable[[], Any]]] = [
            ("bot", lambda: bench.bot_up(timeout)), ("bare", lambda n=bare: bench.bare_up(n))]
        if r % 2:
            ups.reverse()
        for who, step in ups:
            if who == "bot":
                key, times = step()
                bot_url.append(times["url_ms"])
                bot_mr.append(times["on_mr_ms"])
                bot_slack.append(times["in_slack_ms"])
            else:
                bare_up.append(step())
        downs: list[tuple[str, Callable[[], float]]] = [
            ("bot", lambda k=key: bench.bot_down(k, timeout)),
            ("bare", lambda n=bare: bench.bare_down(n))]
        if r % 2:
            downs.reverse()
        for who, down in downs:
            (bot_down if who == "bot" else bare_down).append(down())
        say(f"time-to-url [{mode}] round {r + 1}/{rounds}: URL {bot_url[-1]:.0f} ms "
            f"(bare helm {bare_up[-1]:.0f} ms); teardown {bot_down[-1]:.0f} ms "
            f"(bare {bare_down[-1]:.0f} ms)")
    return {
        "pods_ready_after": ready_after or "0s", "rounds": rounds,
        "warmup": {"url_ms": round(warm["url_ms"], 1), "teardown_ms": round(warm_down, 1)},
        "serve_log_of_last_round": bench.last_timeline,
        "time_to_url": {
            "previewbot_url_on_mr_and_in_slack": summary(bot_url),
            "previewbot_url_on_mr": summary(bot_mr),
            "previewbot_url_in_slack": summary(bot_slack),
            "bare_helm_upgrade_install_wait": summary(bare_up),
            **overhead(bot_url, bare_up),
        },
        "teardown": {
            "previewbot_merge_to_namespace_gone": summary(bot_down),
            "bare_helm_uninstall_and_namespace_delete": summary(bare_down),
            **overhead(bot_down, bare_down),
        },
    }


def verdict(modes: dict[str, Any]) -> dict[str, Any]:
    targets: dict[str, Any] = {}
    for mode, result in modes.items():
        url = result["time_to_url"]
        targets[f"{mode}_median_overhead_ms"] = {
            "value": url["median_overhead_ms"], "target": f"<= {TARGET_MEDIAN_OVERHEAD_MS:g}",
            "met": url["median_overhead_ms"] <= TARGET_MEDIAN_OVERHEAD_MS}
        targets[f"{mode}_max_overhead_ms"] = {
            "value": url["max_overhead_ms"], "target": f"<= {TARGET_MAX_OVERHEAD_MS:g}",
            "met": url["max_overhead_ms"] <= TARGET_MAX_OVERHEAD_MS}
    return targets


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    bed_info = running_bed()
    if bed_info is None:
        return 1
    api = client.CoreV1Api(config.new_client_from_config(config_file=bed_info.kubeconfig))
    modes: dict[str, Any] = {}
    with FakeGitLab() as gitlab, FakeSlack() as slack, tempfile.TemporaryDirectory() as tmp, \
            leased_redis(bed_info, "bench-time-to-url") as redis_url:
        bed = LifecycleBed(bed_info, gitlab, redis_url, Path(tmp))
        bench = Bench(bed, slack, api)
        try:
            for mode in args.modes.split(","):
                modes[mode] = run_mode(bench, mode, args.rounds)
        finally:
            bench.stop()
            bench.cleanup()
    result = {"benchmark": "time to URL and teardown, previewbot serve against bare Helm",
              "modes": modes, "targets": verdict(modes)}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
