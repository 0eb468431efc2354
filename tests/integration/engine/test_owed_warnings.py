"""An expiry warning owed during a Slack outage is delivered once Slack answers again,
beside the latest progress notice: a "deploying" or "ready" that fails after it never
overwrites it, and catch-up settles exactly what it delivered. Real Redis and the Slack
fake over HTTP, the clock moved by the test to inside the warning window."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.config import Settings
from bot.domain.model import Environment, Status
from bot.engine.core import Core
from bot.engine.expiry import warn_expiring
from bot.engine.notify import NoticeKind
from bot.engine.requests import Requests
from bot.runtime.wiring import build_core, build_parts
from handlers.slack.app import SlackBot
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.slack.support import (
    AUTHOR,
    CHANNEL,
    announcements,
    configure_slack,
    slack_environ,
)


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


def _slack_core(bed: LifecycleBed, fake_slack: FakeSlack, clock: MovableClock) -> Core:
    configure_slack(bed, fake_slack)
    settings = Settings.from_env(bed.environ() | slack_environ(fake_slack))
    parts = build_parts(settings, clock=clock)
    return build_core(settings, parts=parts, notifier=SlackBot(settings).notifier_of(parts))


def _near_expiry(bed: LifecycleBed, core: Core, clock: MovableClock, iid: int) -> Environment:
    bed.add_mr(iid)
    env = Requests(core).request_up_mr(bed.project_path, iid, actor="cli:root")
    clock.moment = env.desired.expires_at - timedelta(hours=1)  # inside warn_before (2h)
    return env


def _replies(fake_slack: FakeSlack) -> list[str]:
    [announcement] = announcements(fake_slack)
    return [reply.text for reply in fake_slack.thread_replies(CHANNEL, announcement.ts)]


def test_a_warning_owed_in_an_outage_is_delivered_beside_the_latest_progress(
        bed: LifecycleBed, fake_slack: FakeSlack) -> None:
    clock = MovableClock(datetime.now(UTC))
    core = _slack_core(bed, fake_slack, clock)
    env = _near_expiry(bed, core, clock, 41)

    fake_slack.set_down(True)  # HTTP 503 for every call
    assert warn_expiring(core) == [env.key]  # marked warned, not delivered: owed
    core.emit(NoticeKind.DEPLOYING, env)  # a redeploy in the outage: owed too
    ready = core.save(env, Status.READY, "ready", url=f"https://{env.key}.preview.test")
    core.emit(NoticeKind.READY, ready)  # ... and its "ready"
    assert fake_slack.messages() == []
    fake_slack.recover()

    assert core.catch_up_notices() == 2  # the warning and the latest progress
    replies = _replies(fake_slack)
    assert [r for r in replies if r.startswith(f"{env.key}: expires")] == [
        f"{env.key}: expires in 1h — expires at "
        f"{env.desired.expires_at:%Y-%m-%d %H:%M} UTC (in 1h); extend it to keep it"]
    assert [r for r in replies if r.startswith(f"{env.key}: ready")] == [
        f"{env.key}: ready: https://{env.key}.preview.test"]
    assert len(fake_slack.messages(fake_slack.dm_channel(AUTHOR))) == 1  # the author's DM

    assert core.catch_up_notices() == 0 and warn_expiring(core) == []  # told once
    assert _replies(fake_slack) == replies
    for topic in ("", "expiry"):
        assert core.store.owed_notices(topic=topic) == {}


def test_a_warning_owed_by_the_previous_version_survives_a_newer_notice(
        bed: LifecycleBed, fake_slack: FakeSlack) -> None:
    """A rolling update: a replica of the previous version owed its warning in the one
    slot per environment it knows; this version's failing "ready" keeps it owed."""
    clock = MovableClock(datetime.now(UTC))
    core = _slack_core(bed, fake_slack, clock)
    env = _near_expiry(bed, core, clock, 42)
    assert core.store.mark_expiry_warned(env.key, env.desired.expires_at)
    old = json.dumps({"kind": "expiring", "reason": "expires soon",
                      "at": clock.now().isoformat()})
    bed.redis().hset("previewbot:notices-owed", env.key, old)

    fake_slack.set_down(True)
    ready = core.save(env, Status.READY, "ready", url=f"https://{env.key}.preview.test")
    core.emit(NoticeKind.READY, ready)
    fake_slack.recover()

    assert core.catch_up_notices() == 2
    replies = _replies(fake_slack)
    assert len([r for r in replies if r.startswith(f"{env.key}: expires")]) == 1
    assert len([r for r in replies if r.startswith(f"{env.key}: ready")]) == 1
    assert core.catch_up_notices() == 0 and _replies(fake_slack) == replies


def test_a_warning_is_owed_in_the_step_that_marks_it_warned(bed: LifecycleBed) -> None:
    core = build_core(Settings.from_env(bed.environ()))
    bed.add_mr(43)
    env = Requests(core).request_up_mr(bed.project_path, 43, actor="cli:root")
    expires_at = env.desired.expires_at
    assert core.store.mark_expiry_warned(env.key, expires_at, owing="w1", topic="expiry")
    assert not core.store.mark_expiry_warned(env.key, expires_at, owing="w2", topic="expiry")
    assert not core.store.mark_expiry_warned("no-such-env", expires_at, owing="w3",
                                             topic="expiry")
    db = bed.redis()
    assert db.hget("previewbot:notices-owed:expiry", env.key) == b"w1"
    assert db.hget("previewbot:notices-owed:expiry", "no-such-env") is None
    assert core.store.owed_notice(env.key) is None  # the previous version's slot: untouched
