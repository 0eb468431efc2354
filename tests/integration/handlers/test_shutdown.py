"""`previewbot serve` stops cleanly on SIGTERM in the middle of a deploy: it takes no new
work, stops its running helm (which then marks the release failed instead of leaving
it pending), releases its locks and exits — and the next replica converges."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from bot.engine.reconcile import Reconciler
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.webhook_support import mr_event, post, start_server
from tests.polling import poll

SLOW = Path(__file__).resolve().parents[1] / "charts" / "slow"  # a hook no node accepts


def test_sigterm_mid_deploy_stops_helm_releases_the_lock_and_exits(bed: LifecycleBed) -> None:
    bed.configure(chart=SLOW)
    sha = bed.add_mr(80)
    env_key = f"{bed.slug}-mr-80"
    namespace = f"preview-{env_key}"
    server = start_server(bed, PREVIEWBOT_HELM_TIMEOUT="300s", PREVIEWBOT_SHUTDOWN_GRACE="2s")
    core = bed.core()
    assert post(server, "Merge Request Hook", mr_event(bed, "open", 80, sha))[0] == 202
    poll("serve's helm to hold the release pending",
         lambda: (r := core.helm.get_release(env_key, namespace)) is not None
         and r.status == "pending-install", timeout=60)
    assert bed.redis().exists(f"previewbot:lock:{env_key}")

    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=60)  # grace 2 s + helm's own clean stop
    except subprocess.TimeoutExpired:
        server.kill()
        raise AssertionError(f"serve did not exit after SIGTERM:\n{server.log()}") from None
    assert server.process.returncode == 0, server.log()

    release = core.helm.get_release(env_key, namespace)
    assert release is not None and release.status == "failed"  # not left pending
    assert not bed.redis().exists(f"previewbot:lock:{env_key}")  # released, not expired
    assert "stopped 1 running helm process" in server.log()

    # the next replica converges at once: no pending release, no lock to wait out
    bed.configure()  # a chart that can become ready
    result = Reconciler(bed.core()).run_pass(follow=True, dry_run=False, only=[env_key])
    assert result.ok, [o.describe() for o in result.outcomes]
