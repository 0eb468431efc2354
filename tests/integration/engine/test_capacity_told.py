"""A creation refused for capacity is told to people, once (issue 16, item 13; SPEC §4:
"refuse new environments with a message that names the oldest ones"), on the real
test bed with the GitLab and Slack fakes over HTTP: the webhook and every later pass
meet the same refusal, the MR gets one note and the channel one message; once a slot
is free a pass creates the environment and the usual notices follow."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.domain.errors import PermanentError
from bot.domain.model import Status, is_active
from bot.engine.core import Core
from bot.engine.intake import Intake
from bot.engine.reconcile import Reconciler
from bot.engine.requests import Requests
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.slack.support import (
    CHANNEL,
    announcements,
    core_telling_slack,
)
from tests.integration.webhook_support import mr_event
from tests.polling import poll


@pytest.fixture
def core(bed: LifecycleBed, fake_slack: FakeSlack) -> Iterator[Core]:
    with core_telling_slack(bed, fake_slack, project_extra="max_envs: 1") as built:
        yield built


def test_a_capacity_refusal_is_told_once_on_the_mr_and_in_the_channel(
        bed: LifecycleBed, fake_slack: FakeSlack, core: Core) -> None:
    requests, reconciler = Requests(core), Reconciler(core)
    bed.add_mr(1)
    second = bed.add_mr(2)
    first_key, second_key = f"{bed.slug}-mr-1", f"{bed.slug}-mr-2"
    requests.request_up_mr(bed.project_path, 1, actor="gitlab:alice")
    assert reconciler.run_pass(follow=True, dry_run=False, only=[first_key]).ok
    channel_before = len(announcements(fake_slack))  # MR 1's announcement

    def our_notes() -> list[str]:
        return [n["body"] for n in bed.gitlab.notes(bed.project_id, 2)
                if "previewbot" in n["body"]]

    def refusals_in_channel() -> list[str]:
        return [m.all_text() for m in announcements(fake_slack)[channel_before:]
                if "max_envs" in m.all_text()]

    # The webhook of MR 2, then two full passes: each meets the same refusal.
    delivery = json.dumps(mr_event(bed, "open", 2, second)).encode()
    with pytest.raises(PermanentError, match="max_envs"):  # a refusal: the worker acks it
        Intake(core, requests).handle("Merge Request Hook", delivery)
    reconciler.run_pass(dry_run=False)
    reconciler.run_pass(dry_run=False)

    notes = our_notes()
    assert len(notes) == 1, notes  # told once on the MR…
    assert first_key in notes[0] and "max_envs" in notes[0] and "1" in notes[0], notes
    told = refusals_in_channel()
    assert len(told) == 1, [m.text for m in fake_slack.messages(CHANNEL)]  # …and in Slack
    assert first_key in told[0] and "max_envs" in told[0], told
    assert len(announcements(fake_slack)) == channel_before + 1  # nothing else posted
    env = requests.get(second_key)
    assert env is None or not is_active(env)  # MR 2 has no environment

    # MR 1 closes: its teardown frees the slot, and a pass creates MR 2's environment.
    bed.gitlab.update_merge_request(bed.project_id, 1, state="closed")

    def second_created() -> bool:
        reconciler.run_pass(follow=True, dry_run=False)
        created = requests.get(second_key)
        return created is not None and created.observed.status is Status.READY
    poll("MR 2's environment to be ready", second_created, timeout=120, interval=1.0)

    notes = our_notes()
    assert len(notes) == 1, notes  # the same note, now with the URL
    assert "ready" in notes[0] and "capacity" not in notes[0], notes
    assert len(refusals_in_channel()) == 1, refusals_in_channel()  # never told again
    [announced] = [m for m in announcements(fake_slack) if m.text.startswith(second_key)]
    assert "ready" in announced.text, announced.text  # the usual announcement follows
