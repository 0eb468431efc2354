"""Why a webhook delivery does what it does: the reason of an
:class:`bot.domain.events.Ignored` or of an :class:`bot.domain.events.Intent`.

The Merge Request, Pipeline and Push hooks share several (an MR that is not open,
the default branch), so they live together here.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.messages import quoted


def event_not_handled(event_type: str) -> str:
    return f"event type {quoted(event_type)} is not handled (only Merge Request, Pipeline, Push)"


def event_project_not_configured(path: str, project_id: int) -> str:
    return f"project {path} (id {project_id}) is not configured"


def event_approval_ignored() -> str:
    return "approval events are ignored"


def event_action_not_handled(action: str) -> str:
    return f"merge request action {quoted(action)} is not handled"


def event_mr_not_open(iid: int, state: str) -> str:
    return f"MR !{iid} is {state}; only open merge requests get an environment"


def event_default_branch(branch: str) -> str:
    return f"{branch} is the default branch; GitOps deploys it, never previewbot"


def event_waiting_for_pipeline(short_sha: str) -> str:
    return f"waiting for the pipeline of {short_sha} (deploy_on: pipeline)"


def event_nothing_relevant(iid: int) -> str:
    return f"MR !{iid} changed nothing that starts, updates or stops an environment"


def event_mr_opened(iid: int, action: str) -> str:
    return f"MR !{iid} {'reopened' if action == 'reopen' else 'opened'}"


def event_mr_new_commits(iid: int, short_sha: str) -> str:
    return f"new commits on MR !{iid} (now {short_sha})"


def event_mr_ended(iid: int, action: str) -> str:
    return f"MR !{iid} {'merged' if action == 'merge' else 'closed'}"


def _labels_named(titles: Iterable[str]) -> str:
    names = list(titles)
    return f"label{'s' if len(names) > 1 else ''} {', '.join(names)}"


def event_labels_removed(titles: Iterable[str]) -> str:
    return f"{_labels_named(titles)} removed"


def event_labels_added(titles: Iterable[str]) -> str:
    return f"{_labels_named(titles)} added"


def event_marked_draft(iid: int) -> str:
    return f"MR !{iid} marked as draft"


def event_marked_ready(iid: int) -> str:
    return f"MR !{iid} marked as ready"


def event_target_changed(iid: int, target: str) -> str:
    return f"MR !{iid} now targets {target}"


def event_pipeline_not_success(short_sha: str, status: str) -> str:
    return f"pipeline for {short_sha} is {status}; only a successful pipeline deploys"


def event_tag_ignored() -> str:
    return "tags are ignored; previews are for branches and merge requests"


def event_branch_pipeline_push_mode(branch: str) -> str:
    return f"branch pipeline of {branch} is ignored with deploy_on: push"


def event_pipeline_succeeded_mr(iid: int, short_sha: str) -> str:
    return f"pipeline succeeded for MR !{iid} ({short_sha})"


def event_pipeline_succeeded_branch(branch: str, short_sha: str) -> str:
    return f"pipeline succeeded on branch {branch} ({short_sha})"


def event_push_ignored() -> str:
    return "pushes other than branch deletions are ignored; MR updates arrive as MR hooks"


def event_not_a_branch(ref: str) -> str:
    return f"ref {quoted(ref)} is not a branch"


def event_branch_deleted(branch: str) -> str:
    return f"branch {branch} deleted"
