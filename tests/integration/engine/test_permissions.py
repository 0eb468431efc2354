"""Who may act (``bot.engine.permissions``) with the real GitLab client and the real
Slack people lookup, each talking HTTP to its fake; the cache runs on a moved clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import Settings
from bot.domain.errors import NotAllowedError
from bot.domain.model import Desired, Environment
from bot.engine.core import Core
from bot.engine.permissions import Permissions
from bot.runtime.wiring import build_core
from handlers.slack.api import web_client
from handlers.slack.people import SlackPeople
from tests.fakes.gitlab import FakeGitLab
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed, config_yaml

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


class MovableClock:
    def __init__(self) -> None:
        self.moment = T0

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


def people(bed: LifecycleBed, slack: FakeSlack) -> None:
    """alice: MR author (private e-mail); bob: Maintainer with a public e-mail; carol:
    Owner known only through slack_users; dave: Developer; mallory: nobody; a guest."""
    gitlab = bed.gitlab
    gitlab.add_user("alice", email="alice@corp.example")
    bob = gitlab.add_user("bob", email="bob@corp.example",
                          public_email="bob@corp.example")
    carol = gitlab.add_user("carol", email="carol@corp.example")
    dave = gitlab.add_user("dave", email="dave@corp.example", public_email="dave@corp.example")
    for user, level in ((bob, 40), (carol, 50), (dave, 30)):
        gitlab.add_member(bed.project_id, int(user["id"]), level)
    for user_id, email in (("U0ALICE", "alice@corp.example"), ("U0BOB", "bob@corp.example"),
                           ("U0DAVE", "dave@corp.example"), ("U0MALLORY", "m@corp.example")):
        slack.add_user(user_id, email)
    slack.add_user("U0GUEST", "guest@partner.example", guest=True)
    (bed.tmp / "previewbot.yaml").write_text(
        "slack_admins: [U0ADMIN]\nslack_users: {carol: U0CAROL}\n"
        + config_yaml(bed.project_path))


def permissions_for(bed: LifecycleBed, slack: FakeSlack, clock: MovableClock,
                    gitlab_token: str | None = None) -> Permissions:
    environ = {**bed.environ(), "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_API_URL": slack.url}
    if gitlab_token:
        environ["GITLAB_TOKEN"] = gitlab_token
    settings = Settings.from_env(environ)
    core: Core = build_core(settings, clock=clock)
    return Permissions(core.config, core.forge, core.clock, SlackPeople(web_client(settings)),
                       ttl=timedelta(minutes=5))


def mr_env(bed: LifecycleBed, owner: str = "alice") -> Environment:
    return Environment(Desired(env_key=f"{bed.slug}-mr-1", project_path=bed.project_path,
                               project_id=bed.project_id, branch="feature-1", sha="a" * 40,
                               created_at=T0, expires_at=T0 + timedelta(days=2), mr_iid=1,
                               owner=owner))


@pytest.mark.parametrize(("user", "allowed"), [
    ("U0ALICE", True),    # the MR author, by e-mail (the bot's admin token sees it)
    ("U0BOB", True),      # a Maintainer, by public e-mail
    ("U0CAROL", True),    # an Owner, through slack_users
    ("U0ADMIN", True),    # slack_admins
    ("U0DAVE", False),    # a Developer
    ("U0MALLORY", False),
    ("U0GUEST", False),
])
def test_who_may_change(bed: LifecycleBed, fake_slack: FakeSlack, clock: MovableClock,
                        user: str, allowed: bool) -> None:
    people(bed, fake_slack)
    permissions = permissions_for(bed, fake_slack, clock)
    env = mr_env(bed)
    assert permissions.may_change(user, env) is allowed
    if allowed:
        permissions.check_change(user, "down", env)
        return
    with pytest.raises(NotAllowedError) as refused:
        permissions.check_change(user, "down", env)
    assert str(refused.value) == (
        f"you may not tear down {env.key} ({bed.project_path}!1): only its author (alice), "
        f"the GitLab Maintainers and Owners of {bed.project_path} (bob, carol) or a previewbot "
        "admin (<@U0ADMIN>) may; ask one of them (people whose GitLab e-mail is private are "
        "matched through `slack_users`)")


def test_private_emails_need_the_map_without_an_admin_token(
        bed: LifecycleBed, fake_slack: FakeSlack, clock: MovableClock) -> None:
    people(bed, fake_slack)
    bed.gitlab.add_user("reader", email="reader@corp.example")
    bed.gitlab.add_token("glpat-reader", "reader")  # not an admin: sees public e-mails only
    permissions = permissions_for(bed, fake_slack, clock, gitlab_token="glpat-reader")
    env = mr_env(bed)
    assert not permissions.may_change("U0ALICE", env)  # alice's e-mail is private
    assert permissions.may_change("U0BOB", env)  # bob's is public
    assert permissions.slack_id_of("carol") == "U0CAROL"


def test_owners_written_as_actors(bed: LifecycleBed, fake_slack: FakeSlack,
                                  clock: MovableClock) -> None:
    people(bed, fake_slack)
    permissions = permissions_for(bed, fake_slack, clock)
    assert permissions.owns("U0BOB", mr_env(bed, owner="slack:U0BOB"))
    assert permissions.owns("U0BOB", mr_env(bed, owner="gitlab:bob"))
    assert not permissions.owns("U0BOB", mr_env(bed, owner="cli:root"))
    assert not permissions.owns("U0BOB", mr_env(bed, owner=""))


def test_lookups_are_cached_briefly(bed: LifecycleBed, fake_slack: FakeSlack,
                                    fake_gitlab: FakeGitLab, clock: MovableClock) -> None:
    people(bed, fake_slack)
    permissions = permissions_for(bed, fake_slack, clock)
    env = mr_env(bed)

    def calls() -> tuple[int, int]:
        return len(fake_gitlab.requests), len(fake_slack.calls)

    assert not permissions.may_change("U0MALLORY", env)
    first = calls()
    assert first[0] > 0 and first[1] > 0
    assert not permissions.may_change("U0MALLORY", env)
    assert permissions.may_change("U0BOB", env)  # everything needed is cached already
    assert calls() == first
    clock.moment = T0 + timedelta(minutes=5, seconds=1)
    assert not permissions.may_change("U0MALLORY", env)
    assert calls()[0] > first[0] and calls()[1] > first[1]  # asked again


@pytest.mark.parametrize(("user", "allowed"), [
    ("U0MALLORY", True),  # a full member of the workspace
    ("U0GUEST", False),   # a guest
    ("U0NOBODY", False),  # unknown to Slack
    ("U0ADMIN", True),    # admins, even unknown to users.info
    ("U0CAROL", True),    # people in slack_users
])
def test_who_may_bring_up(bed: LifecycleBed, fake_slack: FakeSlack, clock: MovableClock,
                          user: str, allowed: bool) -> None:
    people(bed, fake_slack)
    permissions = permissions_for(bed, fake_slack, clock)
    project = permissions.config.projects[0]
    if allowed:
        permissions.check_up(user, project)
        return
    with pytest.raises(NotAllowedError, match="not guests or external people"):
        permissions.check_up(user, project)
