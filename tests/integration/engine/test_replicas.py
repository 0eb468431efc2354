"""Two replicas and a Redis pause during a long deploy, on the real test bed: the
replica that lost its lock stops before its next change, and the other never rolls
back or uninstalls a release whose helm may still be running."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bot.cluster.helm import Helm
from bot.config import Settings
from bot.engine.core import Core
from bot.engine.reconcile import PassResult, Reconciler
from bot.engine.requests import Requests
from bot.runtime.wiring import build_core
from tests.integration.lifecycle_bed import LifecycleBed
from tests.polling import poll
from tests.redis_server import private_redis

SLOW = Path(__file__).resolve().parents[1] / "charts" / "slow"  # a hook no node accepts
HELM_TIMEOUT = 25.0


def replica(bed: LifecycleBed, redis_url: str, argvs: list[Sequence[str]]) -> Core:
    settings = Settings.from_env({**bed.environ(), "REDIS_URL": redis_url,
                                  "PREVIEWBOT_LOCK_TTL": "3s"})
    core = build_core(settings)
    helm = Helm(bed.testbed.helm, kubeconfig=bed.testbed.kubeconfig, timeout=HELM_TIMEOUT,
                on_command=argvs.append)
    return replace(core, helm=helm)


def test_a_redis_pause_during_a_long_deploy_never_rolls_back_a_running_helm(
        bed: LifecycleBed, tmp_path: Path) -> None:
    bed.configure(chart=SLOW)
    bed.add_mr(70)
    env_key = f"{bed.slug}-mr-70"
    namespace = f"preview-{env_key}"
    argvs_a: list[Sequence[str]] = []
    argvs_b: list[Sequence[str]] = []
    with private_redis(tmp_path) as redis:
        a, b = replica(bed, redis.url, argvs_a), replica(bed, redis.url, argvs_b)
        Requests(a).request_up_mr(bed.project_path, 70, actor="test")
        results: list[PassResult] = []
        deploying = threading.Thread(target=lambda: results.append(
            Reconciler(a).run_pass(follow=True, dry_run=False, only=[env_key])))
        deploying.start()
        poll("replica A's helm to hold the release pending",
             lambda: (r := a.helm.get_release(env_key, namespace)) is not None
             and r.status == "pending-install", timeout=60)

        redis.pause()  # 10 s: far longer than the 3 s lock TTL
        paused_at = time.monotonic()
        poll("a 10 s Redis pause", lambda: time.monotonic() - paused_at >= 10, timeout=20)
        redis.resume()

        # Replica B now gets the lock, sees the pending release — and leaves it alone.
        seen = Reconciler(b).run_pass(follow=True, dry_run=False, only=[env_key])
        [outcome] = seen.outcomes
        assert not outcome.ok and "another helm may still be working" in outcome.detail
        assert outcome.retry_after is not None
        # The MR is merged meanwhile: the teardown waits for that helm too.
        Requests(b).request_down(env_key, reason="MR !70 merged", actor="webhook")
        [down] = Reconciler(b).run_pass(follow=True, dry_run=False, only=[env_key]).outcomes
        assert not down.ok and "another helm may still be working" in down.detail

        deploying.join(timeout=HELM_TIMEOUT + 60)
        assert not deploying.is_alive()
        [first] = results[0].outcomes
        assert not first.ok  # A's helm ran out of time; A had lost its lock by then
        assert "lost the lock" in first.detail

    for argv in [*argvs_a, *argvs_b]:
        assert argv[1] not in ("rollback", "uninstall"), argv
    assert [argv[1] for argv in argvs_a].count("upgrade") == 1
    assert "upgrade" not in [argv[1] for argv in argvs_b]
