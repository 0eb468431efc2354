"""/metrics of a real `previewbot serve` after a lifecycle: Prometheus' own text parser
reads it, and every series of README "Operating it" is there."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from bot.domain.model import Status
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.slack.support import (
    AUTHOR,
    configure_slack,
    send_command,
    start_slack_server,
    wait_status,
)
from tests.integration.webhook_support import mr_event, post
from tests.polling import poll


def scrape(url: str) -> dict[str, set[tuple[tuple[str, str], ...]]]:
    """Family name → the label sets of its samples, as Prometheus parses the page."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {family.name: {tuple(sorted(sample.labels.items())) for sample in family.samples}
            for family in text_string_to_metric_families(text)}


def test_every_series_of_the_spec_after_a_lifecycle(bed: LifecycleBed,
                                                     fake_slack: FakeSlack) -> None:
    configure_slack(bed, fake_slack, reconcile_interval="2s")
    server = start_slack_server(bed, fake_slack)
    try:
        sha = bed.add_mr(120)
        env_key = f"{bed.slug}-mr-120"
        assert post(server, "Merge Request Hook", mr_event(bed, "open", 120, sha))[0] == 202
        core = bed.core()
        wait_status(core, env_key, Status.READY)
        assert send_command(server.url, fake_slack, f"status {env_key}", user=AUTHOR).status \
            == 200
        bed.gitlab.update_merge_request(bed.project_id, 120, state="closed")
        assert post(server, "Merge Request Hook", mr_event(
            bed, "close", 120, sha, updated_at="2026-11-26T10:10:00Z"))[0] == 202
        wait_status(core, env_key, Status.GONE)
        poll("a full pass to count the environments by state",
             lambda: ("state", "gone") in {
                 label for labels in scrape(server.url).get("previewbot_environments", set())
                 for label in labels}, timeout=30)
        families = scrape(server.url)
    finally:
        server.stop()

    def labels(family: str, name: str) -> set[str]:
        return {value for labelset in families[family] for key, value in labelset
                if key == name}

    assert labels("previewbot_environments", "state") >= {"ready", "gone", "deploying"}
    for histogram in ("previewbot_deploy_duration_seconds",
                      "previewbot_teardown_duration_seconds",
                      "previewbot_webhook_ack_seconds", "previewbot_command_seconds",
                      "previewbot_reconcile_duration_seconds"):
        assert histogram in families, histogram  # deploy, teardown, acks, reconcile
    assert "closed" in labels("previewbot_teardowns", "reason")
    assert "queued" in labels("previewbot_webhooks", "outcome")
    assert "status" in labels("previewbot_commands", "command")
    assert labels("previewbot_dependency_errors", "dependency") == {
        "gitlab", "slack", "kubernetes", "helm", "redis"}
