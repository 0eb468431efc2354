"""Block Kit for everything previewbot posts to Slack: the announcement, thread
replies, the expiry DM, command replies, `list`, `status` and App Home.

Only Slack formatting lives here (mrkdwn, emoji, buttons, dates); the sentences
that name a problem and its fix come from the code that finds the problem. Text that
people or GitLab wrote (branch names, reasons) is escaped, so it cannot mention
``@channel`` or forge a link. Every message also has a plain ``text``: it is the
notification and screen-reader text, and what tests read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.durations import format_duration
from bot.domain.model import Environment, HistoryEntry, Status, short_sha
from bot.domain.refusals import Refusal
from bot.engine.notify import NoticeKind
from bot.engine.permissions import GITLAB_ACTOR_PREFIX, SLACK_ACTOR_PREFIX
from handlers.slack import grammar

Block = dict[str, Any]
Blocks = list[Block]

ACTION_PREFIX, OPEN, BUTTON_EXTENSION = (grammar.ACTION_PREFIX, grammar.OPEN,
                                         grammar.BUTTON_EXTENSION)
EXTEND, KEEP, DOWN, REDEPLOY = (grammar.action_id(name) for name in
                                ("extend", "keep", "down", "redeploy"))
LIST_LIMIT = 40  # a message holds at most 50 blocks
HOME_MINE_LIMIT = 20  # a Home view holds at most 100 blocks; each environment takes 2
HOME_ALL_LIMIT = 25
HISTORY_LIMIT = 15

_STATE = {
    Status.PENDING: (":hourglass:", "Pending"),
    Status.DEPLOYING: (":hourglass_flowing_sand:", "Deploying"),
    Status.READY: (":large_green_circle:", "Ready"),
    Status.FAILED: (":red_circle:", "Failed"),
    Status.TEARING_DOWN: (":wastebasket:", "Tearing down"),
    Status.GONE: (":white_circle:", "Gone"),
}
_EVENT = {
    NoticeKind.DEPLOYING: ":hourglass_flowing_sand:",
    NoticeKind.READY: ":large_green_circle:",
    NoticeKind.FAILED: ":red_circle:",
    NoticeKind.EXTENDED: ":calendar:",
    NoticeKind.EXPIRING: ":warning:",
    NoticeKind.TEARING_DOWN: ":wastebasket:",
    NoticeKind.WAITING: ":hourglass:",
    NoticeKind.TORN_DOWN: ":wastebasket:",
}

USAGE = {sub.name: sub.usage for sub in grammar.TYPED}  # in the order of the help
NOTES = ("ENV is e.g. `app-mr-7`, `group/app!7` or `group/app@feature-x`; DURATION e.g. "
         "`30m`, `4h`, `2d`. `down`, `extend` and `keep`: the MR author, the project's "
         "GitLab Maintainers and Owners, and previewbot admins. `up`: workspace members.")


# --- small pieces -------------------------------------------------------------------


def escape(text: str) -> str:
    """mrkdwn-safe: no forged links, mentions or formatting from & < >."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def who(actor: str) -> str:
    """An actor as Slack shows it: Slack users as mentions, others with where they acted."""
    if actor.startswith(SLACK_ACTOR_PREFIX):
        return f"<@{escape(actor.removeprefix(SLACK_ACTOR_PREFIX))}>"
    if actor.startswith(GITLAB_ACTOR_PREFIX):
        return f"{escape(actor.removeprefix(GITLAB_ACTOR_PREFIX))} (GitLab)"
    if actor.startswith("cli:"):
        return f"{escape(actor.removeprefix('cli:'))} (CLI)"
    return escape(actor) or "someone"


def when(moment: datetime) -> str:
    """A date Slack shows in each reader's time zone, UTC as the fallback."""
    utc = moment.astimezone(UTC)
    return (f"<!date^{int(utc.timestamp())}^{{date_short_pretty}} {{time}}|"
            f"{utc:%Y-%m-%d %H:%M} UTC>")


def remaining(expires_at: datetime, now: datetime) -> str:
    """"in 1d23h", "in 4h30m", "in 12m", "in 40s" (the two largest units), or "expired"."""
    left = int((expires_at - now).total_seconds())
    if left <= 0:
        return "expired"
    unit = 3600 if left >= 86_400 else 60 if left >= 60 else 1
    return "in " + format_duration(timedelta(seconds=left - left % unit))


_SLACK_ACTOR = re.compile(SLACK_ACTOR_PREFIX + r"([UW][A-Z0-9]+)")


def prose(text: str) -> str:
    """Text from the core (a reason, a history detail) for mrkdwn: escaped, with the
    Slack actors in it (``slack:U…``) shown as mentions."""
    return _SLACK_ACTOR.sub(r"<@\1>", escape(text))


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _context(*texts: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": t[:3000]}
                                            for t in texts if t]}


def _button(text: str, action_id: str, value: str, *, style: str | None = None,
            url: str | None = None, confirm: Block | None = None) -> Block:
    button: Block = {"type": "button", "text": {"type": "plain_text", "text": text},
                     "action_id": action_id, "value": value}
    if style:
        button["style"] = style
    if url:
        button["url"] = url
    if confirm:
        button["confirm"] = confirm
    return button


def _plain(text: str) -> Block:
    return {"type": "plain_text", "text": text}


def buttons(env: Environment, *, block_id: str | None = None) -> Block | None:
    """Open (once ready), Extend 24h, Keep until merge, Tear down (confirmed), Redeploy;
    None for an environment that is gone or going."""
    observed, desired = env.observed, env.desired
    if not desired.present or observed.status in (Status.GONE, Status.TEARING_DOWN):
        return None
    elements: Blocks = []
    if observed.status is Status.READY and observed.url:
        elements.append(_button("Open", OPEN, env.key, url=observed.url, style="primary"))
    elements.append(_button(f"Extend {BUTTON_EXTENSION}", EXTEND, env.key))
    if desired.is_mr and not desired.keep:
        elements.append(_button("Keep until merge", KEEP, env.key))
    confirm = {"title": _plain("Tear down?"),
               "text": {"type": "mrkdwn",
                        "text": f"This deletes `{env.key}` ({escape(desired.label)}) and "
                                "everything in it."},
               "confirm": _plain("Tear down"), "deny": _plain("Cancel"), "style": "danger"}
    elements.append(_button("Tear down", DOWN, env.key, style="danger", confirm=confirm))
    elements.append(_button("Redeploy", REDEPLOY, env.key))
    block: Block = {"type": "actions", "elements": elements}
    if block_id:
        block["block_id"] = block_id[:255]
    return block


def _title(env: Environment) -> str:
    desired = env.desired
    label = escape(desired.label)
    linked = f"<{desired.mr_url}|{label}>" if desired.mr_url.startswith("http") else label
    return f"*{linked}* · `{env.key}`"


def _facts(env: Environment, now: datetime) -> str:
    desired, observed = env.desired, env.observed
    parts = [f"commit `{short_sha(desired.sha)}`"]
    if desired.owner:
        parts.append(f"by {who(desired.owner) if ':' in desired.owner else escape(desired.owner)}")
    if desired.present and observed.status is not Status.GONE:
        kept = " (kept until the MR closes)" if desired.keep else ""
        parts.append(f"expires {when(desired.expires_at)} "
                     f"({remaining(desired.expires_at, now)}){kept}")
    return " · ".join(parts)


def _headline(env: Environment, kind: NoticeKind | None, reason: str,
              now: datetime) -> tuple[str, str]:
    """(mrkdwn, plain) of the announcement's state line."""
    observed = env.observed
    status = {NoticeKind.DEPLOYING: Status.DEPLOYING, NoticeKind.READY: Status.READY,
              NoticeKind.FAILED: Status.FAILED, NoticeKind.TEARING_DOWN: Status.TEARING_DOWN,
              NoticeKind.WAITING: Status.PENDING, NoticeKind.TORN_DOWN: Status.GONE}.get(
                  kind, observed.status) if kind else observed.status
    emoji, name = _STATE[status]
    url = observed.url if status is Status.READY else ""
    detail = reason or (observed.reason if status in (Status.FAILED, Status.TEARING_DOWN,
                                                      Status.GONE) else "")
    if kind is NoticeKind.EXPIRING:
        expiry = (f"expires {when(env.desired.expires_at)} "
                  f"({remaining(env.desired.expires_at, now)}) — extend it to keep it")
        link = f" — <{url}>" if url else ""
        return (f":warning: *Expiring*{link}\n{expiry}",
                f"expiring: {env.desired.expires_at:%Y-%m-%d %H:%M} UTC")
    if status is Status.DEPLOYING:  # with what it waits for, if told (e.g. its image)
        waits = f" — {prose(reason)}" if reason else ""
        return (f"{emoji} *{name}* `{short_sha(env.desired.sha)}`…{waits}",
                f"deploying {short_sha(env.desired.sha)}" + (f": {reason}" if reason else ""))
    if url:
        return f"{emoji} *{name}* — <{url}>", f"ready: {url}"
    if detail:
        return f"{emoji} *{name}* — {prose(detail)}", f"{name.lower()}: {detail}"
    return f"{emoji} *{name}*", name.lower()


# --- the announcement and its thread ---------------------------------------------------


def announcement(env: Environment, now: datetime, *, kind: NoticeKind | None = None,
                 reason: str = "", note: str = "") -> tuple[str, Blocks]:
    """The one message per environment, as it should read now."""
    line, plain = _headline(env, kind, reason, now)
    gone = kind is NoticeKind.TORN_DOWN or env.observed.status is Status.GONE
    blocks: Blocks = [_section(f"{_title(env)}\n{line}"), _context(_facts(env, now), note)]
    actions = None if gone else buttons(env)
    if actions is not None:
        blocks.append(actions)
    return f"{env.key} ({escape(env.desired.label)}): {escape(plain)}", blocks


def event_reply(env: Environment, kind: NoticeKind, reason: str,
                now: datetime) -> tuple[str, Blocks]:
    """The thread reply for one lifecycle event (EXPIRING carries an Extend button)."""
    emoji = _EVENT[kind]
    if kind is NoticeKind.DEPLOYING:
        text = f"deploying {short_sha(env.desired.sha)}"
    elif kind is NoticeKind.READY:
        text = f"ready: {env.observed.url}"
    elif kind is NoticeKind.EXPIRING:
        text = f"expires {remaining(env.desired.expires_at, now)}"
    else:
        text = kind.value.replace("-", " ")
    detail = f" — {reason}" if reason and kind is not NoticeKind.READY else ""
    blocks: Blocks = [_section(f"{emoji} {prose(text + detail)}")]
    if kind is NoticeKind.EXPIRING:
        blocks.append({"type": "actions", "elements": [
            _button(f"Extend {BUTTON_EXTENSION}", EXTEND, env.key, style="primary")]})
    return f"{env.key}: {escape(text + detail)}", blocks


def expiry_dm(env: Environment, reason: str, channel: str) -> tuple[str, Blocks]:
    """The direct message to the author: expiring soon, with Extend."""
    text = f"Your preview environment {env.key} ({escape(env.desired.label)}) {escape(reason)}"
    blocks: Blocks = [
        _section(f":warning: Your preview environment {_title(env)} {escape(reason)}."),
        _context(f"Announced in <#{escape(channel)}>."),
        {"type": "actions", "elements": [
            _button(f"Extend {BUTTON_EXTENSION}", EXTEND, env.key, style="primary")]},
    ]
    return text, blocks


def pressed(action_id: str, user_id: str) -> str:
    """The announcement's note after a button: what was done, by whom."""
    return f"{grammar.PRESSED.get(action_id, 'changed')} by <@{escape(user_id)}>"


def headline(blocks: Blocks) -> str:
    """The first section's text: a reply's gist, e.g. for the App Home notice."""
    for block in blocks:
        if block.get("type") == "section" and "text" in block:
            return str(block["text"]["text"])
    return ""


# --- command replies ---------------------------------------------------------------------


def usage(subcommand: str | None) -> str:
    if subcommand in USAGE:
        return "Usage: " + USAGE[subcommand]
    return "Usage:\n" + "\n".join(f"• {line}" for line in USAGE.values())


def help_reply(topic: str | None = None) -> tuple[str, Blocks]:
    lines = [USAGE[topic]] if topic in USAGE else list(USAGE.values())
    text = "*previewbot* — a preview environment per merge request\n" + "\n".join(
        f"• {line}" for line in lines)
    return text, [_section(text), _context(NOTES)]


def error_reply(message: str, subcommand: str | None) -> tuple[str, Blocks]:
    text = f":warning: {escape(message)}"
    return f"{message}\n{usage(subcommand)}", [_section(text), _context(usage(subcommand))]


def refusal(message: str) -> tuple[str, Blocks]:
    return message, [_section(f":no_entry: {escape(message)}")]


def done(message: str, env: Environment | None = None,
         now: datetime | None = None) -> tuple[str, Blocks]:
    """A confirmation, with the environment's line and buttons when given."""
    blocks: Blocks = [_section(f":white_check_mark: {message}")]
    if env is not None and now is not None:
        blocks.append(_context(_facts(env, now)))
    return message, blocks


def deploying(env: Environment, channel: str) -> str:
    return (f"Deploying {escape(env.desired.label)} at `{short_sha(env.desired.sha)}` as "
            f"`{env.key}`; its announcement in <#{escape(channel)}> follows it.")


def extended(env: Environment, capped: bool) -> str:
    cap = " (capped: at most max_ttl after creation)" if capped else ""
    return f"`{env.key}` now expires {when(env.desired.expires_at)}{cap}."


def kept(env: Environment) -> str:
    return (f"`{env.key}` is kept until its merge request closes "
            f"(at most {when(env.desired.expires_at)}).")


def tearing_down(env: Environment) -> str:
    return f"Tearing down `{env.key}` ({escape(env.desired.label)})."


def redeploying(env: Environment) -> str:
    return f"Redeploying `{env.key}` at `{short_sha(env.desired.sha)}`."


def env_line(env: Environment, now: datetime) -> str:
    desired, observed = env.desired, env.observed
    emoji, name = _STATE[observed.status]
    url = f" · <{observed.url}|open>" if observed.status is Status.READY and observed.url else ""
    owner = f" · {who(desired.owner) if ':' in desired.owner else escape(desired.owner)}" \
        if desired.owner else ""
    kept = ", kept" if desired.keep else ""
    return (f"`{env.key}`{url} · {emoji} {name.lower()} · {escape(desired.label)}{owner} · "
            f"expires {remaining(desired.expires_at, now)}{kept}")


def env_list(envs: list[Environment], now: datetime, scope: str) -> tuple[str, Blocks]:
    if not envs:
        text = f"No active environments ({scope})."
        return text, [_section(text), _context(USAGE["up"])]
    shown = envs[:LIST_LIMIT]
    text = f"{len(envs)} active environment(s) ({scope})"
    blocks: Blocks = [_section(f"*{escape(text)}*")]
    blocks += [_section(env_line(env, now)) for env in shown]
    if len(envs) > len(shown):
        blocks.append(_context(f"…and {len(envs) - len(shown)} more: "
                               "`/preview list PROJECT` narrows it down."))
    return text + "\n" + "\n".join(env.key for env in shown), blocks


def status_reply(env: Environment, history: Iterable[HistoryEntry],
                 now: datetime) -> tuple[str, Blocks]:
    desired, observed = env.desired, env.observed
    emoji, name = _STATE[observed.status]
    deployed = (f"`{short_sha(observed.deployed_sha)}`" if observed.deployed_sha else "-")
    fields = [
        f"*Status*\n{emoji} {name}" + (f" — {prose(observed.reason)}" if observed.reason
                                       else ""),
        f"*URL*\n{observed.url if observed.status is Status.READY and observed.url else '-'}",
        f"*Commit*\n`{short_sha(desired.sha)}` (deployed {deployed})",
        f"*Branch*\n{escape(desired.branch)}",
        f"*Last deploy*\n{when(observed.last_deploy_at) if observed.last_deploy_at else '-'}",
        f"*Helm revision*\n{observed.helm_revision if observed.helm_revision else '-'}",
        f"*Created*\n{when(desired.created_at)}",
        f"*Expires*\n{when(desired.expires_at)} ({remaining(desired.expires_at, now)})"
        + (", kept" if desired.keep else ""),
    ]
    entries = list(history)[:HISTORY_LIMIT]
    lines = [f"{when(h.at)} *{escape(h.action)}* by {who(h.actor)}"
             + (f" — {prose(h.detail)}" if h.detail else "") for h in entries]
    blocks: Blocks = [
        _section(_title(env)),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f[:2000]} for f in fields]},
        _section("*Who did what*\n" + ("\n".join(lines) if lines else "nothing recorded yet")),
    ]
    actions = buttons(env)
    if actions is not None:
        blocks.append(actions)
    plain = [f"{env.key}: {observed.status.value}", f"sha {desired.sha}",
             *(f"{h.action} by {h.actor} {h.detail}".rstrip() for h in entries)]
    return "\n".join(plain), blocks


# --- App Home -----------------------------------------------------------------------------


def home_view(mine: list[Environment], active: list[Environment], now: datetime,
              notice: str = "") -> Block:
    """The App Home tab: "Your environments" and "All active", with the same buttons;
    ``notice``: the outcome of the button just pressed (mrkdwn), shown on top."""
    blocks: Blocks = [_section(notice)] if notice else []
    blocks.append({"type": "header", "text": _plain("Your environments")})
    blocks += _home_entries(mine, now, HOME_MINE_LIMIT, "home-mine",
                            "None right now. `/preview up PROJECT!IID` brings one up.")
    blocks += [{"type": "divider"}, {"type": "header", "text": _plain("All active")}]
    blocks += _home_entries(active, now, HOME_ALL_LIMIT, "home-all", "No active environments.")
    blocks.append(_context(f"Updated {when(now)}. {NOTES}"))
    return {"type": "home", "blocks": blocks}


def _home_entries(envs: list[Environment], now: datetime, limit: int, prefix: str,
                  empty: str) -> Blocks:
    if not envs:
        return [_context(empty)]
    blocks: Blocks = []
    for env in envs[:limit]:
        blocks.append(_section(env_line(env, now)))
        actions = buttons(env, block_id=f"{prefix}-{env.key}")
        if actions is not None:
            blocks.append(actions)
    if len(envs) > limit:
        blocks.append(_context(f"…and {len(envs) - limit} more (`/preview list`)."))
    return blocks


def refused(refusal: Refusal) -> tuple[str, Blocks]:
    """A change request that got no environment (capacity), told once in the channel:
    not an announcement (there is no environment); that follows once it is created."""
    label = escape(refusal.label)
    linked = f"<{refusal.mr_url}|{label}>" if refusal.mr_url.startswith("http") else label
    line = (f":hourglass: *{linked}* · commit `{short_sha(refusal.sha)}`: no preview "
            f"environment yet — {prose(refusal.reason)}")
    after = "It is created by itself as soon as one is free."
    return (f"{label}: no preview environment yet — {escape(refusal.reason)}",
            [_section(line), _context(after)])


def dry_run_plan(plan: str) -> str:
    """The plan of a dry-run pass (config ``dry_run: true``): nothing was changed."""
    return f":mag: *Dry run* (config `dry_run: true`): nothing was changed.\n```\n{plan}\n```"
