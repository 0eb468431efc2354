"""A delivery that takes longer than ``claim_idle`` to handle (GitLab slow to answer, a
busy machine) is handled once: its live worker renews it, so neither a sibling thread
of the same process nor another replica takes it over as if that worker had died.
Real `previewbot serve` processes (``claim_idle`` 2 s), real Redis, the GitLab fake."""

from __future__ import annotations

import json
import re

import pytest

from bot.domain.model import Status
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.webhook_support import Server, mr_event, post, start_server
from tests.polling import poll

HANDLED = re.compile(r"^delivery (\S+) \(Merge Request Hook\): ")


def messages(server: Server) -> list[str]:
    return [json.loads(line)["message"] for line in server.log().splitlines()
            if line.startswith("{")]


def wait_for_the_first_pass(servers: list[Server]) -> None:
    """The leader's pass at start is over: with ``reconcile_interval`` 1h no other pass
    reads the MR, so the intake's read is the one that hangs."""
    poll("the leader's first pass", lambda: any(
        m.startswith('Job "reconcile') and "executed" in m
        for server in servers for m in messages(server)), timeout=60)


@pytest.mark.parametrize("replicas", [1, 2])
def test_a_delivery_slower_than_claim_idle_is_handled_once(bed: LifecycleBed,
                                                           replicas: int) -> None:
    bed.configure(reconcile_interval="1h")  # no periodic pass reads the MR meanwhile
    servers = [start_server(bed, name=f"replica{i}") for i in range(replicas)]
    iid = 61
    env_key = f"{bed.slug}-mr-{iid}"
    try:
        wait_for_the_first_pass(servers)
        sha = bed.add_mr(iid)
        # The intake's read of the MR answers after 7 s: 3.5 claim_idles.
        bed.gitlab.hang_next(1, seconds=7, method="GET", path_contains=f"/merge_requests/{iid}")
        code, _ = post(servers[0], "Merge Request Hook", mr_event(bed, "open", iid, sha))
        assert code == 202
        poll(f"{env_key} to be ready",
             lambda: (e := bed.core().store.get(env_key)) is not None
             and e.observed.status is Status.READY, timeout=120)
    finally:
        for server in servers:  # a graceful stop lets every handling finish first
            server.stop()
    lines = [m for server in servers for m in messages(server)]
    handled = [found.group(1) for m in lines if (found := HANDLED.match(m))]
    assert len(handled) == 1, handled
    assert not [m for m in lines if "taken over" in m]
    history = [h.action for h in bed.core().store.history(env_key)]
    assert history.count("webhook") == 1, history

