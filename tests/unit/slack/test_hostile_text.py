"""5,000 hostile branch names, MR authors and reasons (people and GitLab write them)
through every Slack message previewbot builds about an environment: nothing of them
becomes a Slack control sequence — no <!channel>, no foreign link, no mention — in the
blocks that show nor in the `text` that notifies (README "Slack app", the module's promise)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.domain import naming
from bot.domain.model import Desired, Environment, HistoryEntry, Observed, Status
from bot.engine.notify import NoticeKind
from handlers.slack import formatting
from tests.slack_text import injected, texts_of

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
# "slack:U0BOB" in a core text is an actor, mentioned on purpose (formatting.prose); a raw
# "<@U0EVE>" written by someone must never become a mention.
HOSTILE = ["<!channel>", "<!here|here>", "<!everyone>", "<!subteam^S0ALL|all>", "<@U0EVE>",
           "<#C0OTHER>", "<http://evil.test|click here>", "<mailto:x@evil.test>",
           "&lt;!channel&gt;", "a>b<c", "*bold* _it_ ~s~ `code`", "slack:U0BOB", "\u202e",
           "x" * 500]
TEXT = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=80),
                 st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=3).map("".join))


def environment(branch: str, owner: str, reason: str, status: Status, mr: bool) -> Environment:
    key = "group-app-mr-7" if mr else naming.branch_env_key("group-app", branch or "x")
    desired = Desired(env_key=key, project_path="group/app", project_id=42,
                      branch=branch, sha="c" * 40, created_at=NOW - timedelta(hours=1),
                      expires_at=NOW + timedelta(hours=47), mr_iid=7 if mr else None,
                      mr_url="https://gitlab.example.com/group/app/-/merge_requests/7"
                      if mr else "", owner=owner)
    observed = Observed(status=status, reason=reason,
                        url=f"https://{key}.preview.example.com")
    return Environment(desired, observed)


def check(texts: list[str]) -> None:
    bad = injected(texts, people={"U0ALICE", "U0BOB"}, channels={"C0PREVIEWS"},
                   link_prefixes=["https://gitlab.example.com/"],
                   preview_domain="preview.example.com")
    assert bad == [], bad


@settings(max_examples=5000, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@example(branch="<!channel>", owner="<!here>", reason="<!everyone>", mr=False,
         status=Status.READY, kind=NoticeKind.READY)
# An owner is a GitLab username (never a ':') or the bot's "slack:<id>" of a person.
@given(branch=TEXT, owner=st.one_of(TEXT.filter(lambda s: ":" not in s), st.just(
    "slack:U0ALICE")), reason=TEXT, mr=st.booleans(),
       status=st.sampled_from(list(Status)), kind=st.sampled_from(list(NoticeKind)))
def test_hostile_text_never_becomes_a_slack_control_sequence(
        branch: str, owner: str, reason: str, mr: bool, status: Status,
        kind: NoticeKind) -> None:
    env = environment(branch, owner, reason, status, mr)
    # (`note` is the bot's own mrkdwn — who pressed which button — not hostile text.)
    text, blocks = formatting.announcement(env, NOW, kind=kind, reason=reason)
    check(texts_of({"text": text, "blocks": blocks}))
    text, blocks = formatting.event_reply(env, kind, reason, NOW)
    check(texts_of({"text": text, "blocks": blocks}))
    text, blocks = formatting.expiry_dm(env, reason, "C0PREVIEWS")
    check(texts_of({"text": text, "blocks": blocks}))
    history = [HistoryEntry(NOW, reason or "x", f"gitlab:{owner}", reason)]
    _, blocks = formatting.status_reply(env, history, NOW)  # ephemeral: the blocks show
    check(texts_of({"blocks": blocks}))
    _, blocks = formatting.env_list([env, replace(env, observed=Observed())], NOW, reason)
    check(texts_of({"blocks": blocks}))
    check([formatting.deploying(env, "C0PREVIEWS"), formatting.tearing_down(env),
           formatting.env_line(env, NOW)])
    check(texts_of({"blocks": formatting.home_view([env], [env], NOW)["blocks"]}))
