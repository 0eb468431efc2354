"""Merge Request Hook → Intent (README "GitLab webhooks").

- ``close`` / ``merge`` → DOWN, whatever the trigger rules say: an environment
  made by hand (``/preview up group/app!7``) goes too; with none, DOWN is a no-op.
- ``open`` / ``reopen`` / ``update`` of an MR that is not ``opened`` (label edits
  on a merged MR send ``update``) or whose source is the default branch → Ignored.
- ``open`` / ``reopen`` → UP at ``last_commit.id`` when the trigger rules hold;
  with ``deploy_on: pipeline`` → Ignored, the Pipeline Hook brings it up.
- ``update``: the rules before the event (from ``changes``) and after decide.
  They stopped holding (trigger label removed, marked as draft, target branch
  changed) → DOWN. New commits (``oldrev``) → UP at the new head (Ignored with
  ``deploy_on: pipeline``). They started holding (trigger label added, marked
  as ready) → UP at the head in both modes: no new pipeline will come for it.
  Anything else (title, description, assignees) → Ignored.
- ``approved`` / ``unapproved`` / ``approval`` / ``unapproval`` / unknown → Ignored.

``trigger.paths`` cannot be checked from a hook: UPs then carry ``check_paths``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from bot.config import Rule, Trigger, TriggerInputs
from bot.domain.events import Ignored, Intent
from bot.domain.model import EndKind, short_sha
from bot.gitlab.hooks import reasons
from bot.gitlab.hooks.fields import Fields
from bot.gitlab.hooks.intent import Origin

APPROVAL_ACTIONS = frozenset({"approved", "unapproved", "approval", "unapproval"})
OPEN_ACTIONS = frozenset({"open", "reopen"})
END_ACTIONS = frozenset({"close", "merge"})
OPEN_STATE = "opened"


@dataclass(frozen=True, slots=True)
class MergeRequest:
    iid: int
    source_branch: str
    state: str
    head_sha: str | None
    target_branch: str
    updated_at: datetime | None
    now: TriggerInputs  # labels, draft and target branch: what the hook shows now


def decide_merge_request(hook: Fields, origin: Origin) -> Intent | Ignored:
    attrs = hook.obj("object_attributes")
    action = attrs.text("action")
    if action in APPROVAL_ACTIONS:
        return Ignored(reasons.event_approval_ignored())
    if action not in OPEN_ACTIONS | END_ACTIONS | {"update"}:
        return Ignored(reasons.event_action_not_handled(action))
    mr = read_merge_request(hook, attrs)
    if action in END_ACTIONS:
        return origin.down(mr_iid=mr.iid, branch=mr.source_branch,
                           reason=reasons.event_mr_ended(mr.iid, action),
                           end_kind=EndKind.MR_CLOSED, updated_at=mr.updated_at)
    if mr.state != OPEN_STATE:
        return Ignored(reasons.event_mr_not_open(mr.iid, mr.state))
    if mr.source_branch == origin.default_branch:
        return Ignored(reasons.event_default_branch(mr.source_branch))
    if action == "update":
        return _update(hook, attrs, mr, origin)
    return _open(attrs, mr, origin, action)


def read_merge_request(hook: Fields, attrs: Fields) -> MergeRequest:
    last_commit = attrs.optional_obj("last_commit")
    draft = attrs.optional_flag("draft")
    if draft is None:
        draft = attrs.optional_flag("work_in_progress") or False
    labels = hook.label_titles("labels") if hook.has("labels") else attrs.label_titles("labels")
    iid = attrs.integer("iid")
    target_branch = attrs.text("target_branch")
    return MergeRequest(
        iid=iid,
        source_branch=attrs.text("source_branch"),
        state=attrs.text("state"),
        head_sha=last_commit.commit_sha("id") if last_commit else None,
        target_branch=target_branch,
        updated_at=attrs.timestamp("updated_at"),
        now=TriggerInputs(iid=iid, labels=labels, draft=draft, target_branch=target_branch),
    )


def _open(attrs: Fields, mr: MergeRequest, origin: Origin, action: str) -> Intent | Ignored:
    failing = origin.project.trigger.failing(mr.now)
    if failing:
        return Ignored(failing[0].reason)
    sha = _head(attrs, mr)
    if origin.project.deploy_on == "pipeline":
        return Ignored(reasons.event_waiting_for_pipeline(short_sha(sha)))
    return _up(origin, mr, sha, reasons.event_mr_opened(mr.iid, action))


def _update(hook: Fields, attrs: Fields, mr: MergeRequest, origin: Origin) -> Intent | Ignored:
    trigger = origin.project.trigger
    before = previous_inputs(hook, mr.now)
    failing_now = trigger.failing(mr.now)
    failing_before = trigger.failing(before)
    if failing_now and not failing_before:
        reason = _lost_text(failing_now[0].rule, trigger, mr, before)
        return origin.down(mr_iid=mr.iid, branch=mr.source_branch, reason=reason,
                           end_kind=EndKind.TRIGGER_LOST, updated_at=mr.updated_at)
    if failing_now:
        return Ignored(failing_now[0].reason)
    if attrs.optional_text("oldrev") is not None:
        sha = _head(attrs, mr)
        if origin.project.deploy_on == "pipeline":
            return Ignored(reasons.event_waiting_for_pipeline(short_sha(sha)))
        return _up(origin, mr, sha, reasons.event_mr_new_commits(mr.iid, short_sha(sha)))
    if failing_before:
        reason = _gained_text(failing_before[0].rule, trigger, mr)
        return _up(origin, mr, _head(attrs, mr), reason)
    return Ignored(reasons.event_nothing_relevant(mr.iid))


def previous_inputs(hook: Fields, now: TriggerInputs) -> TriggerInputs:
    """The rule inputs before this event: ``changes.*.previous`` where given, else ``now``."""
    if isinstance(hook.data.get("changes"), list) and not hook.data["changes"]:
        return now  # an empty "changes" may come as [] rather than {}
    changes = hook.optional_obj("changes")
    if changes is None:
        return now
    labels = now.labels
    if changes.has("labels"):
        labels = changes.obj("labels").label_titles("previous")
    draft = now.draft
    for key in ("draft", "work_in_progress"):
        previous = changes.obj(key).optional_flag("previous") if changes.has(key) else None
        if previous is not None:
            draft = previous
            break
    target = now.target_branch
    if changes.has("target_branch"):
        target = changes.obj("target_branch").optional_text("previous") or target
    return replace(now, labels=labels, draft=draft, target_branch=target)


def _trigger_labels_in(trigger: Trigger, labels: Iterable[str] | None) -> list[str]:
    wanted = {label.casefold() for label in trigger.labels}
    return [label for label in labels or () if label.casefold() in wanted]


def _lost_text(rule: Rule, trigger: Trigger, mr: MergeRequest, before: TriggerInputs) -> str:
    if rule is Rule.LABELS:
        return reasons.event_labels_removed(_trigger_labels_in(trigger, before.labels))
    if rule is Rule.DRAFT:
        return reasons.event_marked_draft(mr.iid)
    return reasons.event_target_changed(mr.iid, mr.target_branch)


def _gained_text(rule: Rule, trigger: Trigger, mr: MergeRequest) -> str:
    if rule is Rule.LABELS:
        return reasons.event_labels_added(_trigger_labels_in(trigger, mr.now.labels))
    if rule is Rule.DRAFT:
        return reasons.event_marked_ready(mr.iid)
    return reasons.event_target_changed(mr.iid, mr.target_branch)


def _head(attrs: Fields, mr: MergeRequest) -> str:
    if mr.head_sha is None:
        raise attrs.missing("last_commit")
    return mr.head_sha


def _up(origin: Origin, mr: MergeRequest, sha: str, reason: str) -> Intent:
    return origin.up(mr_iid=mr.iid, branch=mr.source_branch, sha=sha, reason=reason,
                     updated_at=mr.updated_at)
