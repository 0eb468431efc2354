"""What later requests never change (issue 16, items 5 and 6): the owner of an
environment is whoever created it, and a Redeploy does not change why it exists."""

from __future__ import annotations

from bot.domain.model import EndKind
from bot.engine.discovery import Discovery
from bot.engine.passes import PassContext
from bot.engine.requests import redeploy
from tests.integration.lifecycle_bed import LifecycleBed

CREATOR, OTHER, PRESSER = "slack:U0CREATOR", "slack:U0OTHER", "slack:U0PRESSER"


def test_the_owner_of_a_branch_environment_stays_whoever_brought_it_up(
        bed: LifecycleBed) -> None:
    bed.gitlab.add_branch(bed.project_id, "spike", "a" * 40)
    requests, _ = bed.wired()
    env = requests.request_up_branch(bed.project_path, "spike", actor=CREATOR, manual=True)
    assert env.desired.owner == CREATOR

    bed.gitlab.add_branch(bed.project_id, "spike", "b" * 40)  # a new commit on it
    again = requests.request_up_branch(bed.project_path, "spike", actor=OTHER, manual=True)
    pipeline = requests.request_up_branch(bed.project_path, "spike", actor="gitlab:ci-bot",
                                          sha="b" * 40)
    pressed = redeploy(requests, env.key, actor=PRESSER)

    assert [e.desired.owner for e in (again, pipeline, pressed)] == [CREATOR] * 3
    assert requests.resolve(env.key).desired.owner == CREATOR
    assert [h.actor for h in requests.history(env.key)].count(CREATOR) == 1  # who acted: kept


def test_a_redeploy_keeps_an_environment_the_trigger_made_ending_with_its_label(
        bed: LifecycleBed) -> None:
    bed.configure(project_extra="trigger: {labels: [preview]}")
    bed.add_mr(52)
    bed.gitlab.update_merge_request(bed.project_id, 52, labels=["preview"])
    requests, _ = bed.wired()
    env = requests.request_up_mr(bed.project_path, 52, actor="gitlab:alice")
    assert not env.desired.manual

    pressed = redeploy(requests, env.key, actor=PRESSER)

    assert not pressed.desired.manual  # still the trigger's
    bed.gitlab.update_merge_request(bed.project_id, 52, labels=[])
    found = Discovery(requests, PassContext(dry_run=False)).run([requests.resolve(env.key)])
    assert [(f.kind, f.label) for f in found.findings] == [
        ("down", f"{bed.project_path}!52")]
    ended = requests.resolve(env.key).desired
    assert not ended.present and ended.down_kind == EndKind.TRIGGER_LOST.value
