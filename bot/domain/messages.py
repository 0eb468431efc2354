"""The texts several layers say, and the engine's.

A text lives beside the code that says it: :mod:`bot.config.texts`,
:mod:`bot.gitlab.hooks.reasons`, or the ``# --- texts`` section at the end of
the module that raises it. What stays here:

- what more than one layer says: :func:`quoted` (how every layer shows user
  input), ``ENV_REF_FORMS`` and :func:`unknown_env` (the engine, naming, Slack),
  :func:`up_needs_project` (the CLI and Slack, which do not import each other),
  :func:`webhook_not_object` and ``WEBHOOK_TOO_DEEP`` (the webhook endpoint and
  the intake), :func:`namespace_not_ours` and :func:`namespace_of_another` (the
  cluster and the engine);
- the texts the engine's use cases say (requests, intake, discovery, converge):
  many of them reach people through both the CLI and Slack. The MR note is the
  GitLab adapter's (``bot.gitlab.review``).

Each text names the object that is wrong and says how to fix it. User input is
shown through :func:`quoted`, so newlines, quotes and huge strings cannot break
the layout of a Slack message or a log line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from bot.domain.model import short_sha

if TYPE_CHECKING:
    from bot.domain.model import Environment

ENV_REF_FORMS = (
    "ENV (e.g. app-mr-7), PROJECT!IID (e.g. group/app!7) "
    "or PROJECT@BRANCH (e.g. group/app@feature-x)"
)
_QUOTE_LIMIT = 80


def quoted(value: object, *, limit: int = _QUOTE_LIMIT) -> str:
    """Text in double quotes, control characters escaped, cut at ``limit``.

    Anything else is shown as JSON (``true``, ``5``, ``["a"]``) so that a person
    can tell the text ``"5"`` from the number ``5`` in their YAML.
    """
    if isinstance(value, str):
        text = value if len(value) <= limit else value[:limit] + "…"
        return json.dumps(text, ensure_ascii=False)
    shown = json.dumps(value, ensure_ascii=False, default=repr)
    return shown if len(shown) <= limit else shown[:limit] + "…"


def _listing(items: Iterable[str]) -> str:
    return ", ".join(items)


# --- engine: requests, deploys, teardowns ------------------------------------


def release_busy(release: str, status: str, since: str, timeout: str) -> str:
    return (f"release {release} is {status} since {since}: another helm may still be working on "
            f"it, so it is recovered only once that is older than the Helm timeout ({timeout})")


def project_not_configured(path: str) -> str:
    return (f"project {quoted(path)} is not in the config; add it under `projects:` "
            "(previewbot check-config validates the file)")


def unknown_project(text: str, known: Iterable[str]) -> str:
    names = _listing(known) or "none configured"
    return f"unknown project {quoted(text)}; configured projects: {names}"


def unknown_env(text: str) -> str:
    return (f"no environment {quoted(text)}; `previewbot list` (or /preview list) shows them; "
            f"write it as {ENV_REF_FORMS}")


def up_needs_project(text: str) -> str:
    return (f"{quoted(text)} names no project; write PROJECT!IID (e.g. group/app!7) "
            "or PROJECT@BRANCH (e.g. group/app@feature-x)")


def mr_not_open(path: str, iid: int, state: str) -> str:
    return f"merge request {path}!{iid} is {state}; only open merge requests get an environment"


def default_branch_refused(path: str, branch: str) -> str:
    return (f"{quoted(branch)} is the default branch of {path}; it is deployed by GitOps "
            "(e.g. Argo CD), never by previewbot — pick a topic branch or an MR")


def unknown_branch(path: str, branch: str) -> str:
    return f"branch {quoted(branch)} does not exist in {path}; check the name (case matters)"


def capacity_reached(scope: str, limit: int, oldest: Iterable[Environment]) -> str:
    names = _listing(f"{e.key} ({e.desired.label}, since {e.desired.created_at:%Y-%m-%d})"
                     for e in oldest)
    return (f"capacity reached for {scope}: {limit} environment(s) max (max_envs); "
            f"tear one down first — oldest: {names}")


def gitlab_not_configured() -> str:
    return "GitLab is not configured: set GITLAB_URL and GITLAB_TOKEN"


def not_ready(release: str, timeout: float, problems: Iterable[str]) -> str:
    detail = "; ".join(problems) or "no details"
    return f"release {release} not ready after {timeout:.0f}s (ready_timeout): {detail}"


def namespace_not_gone(namespace: str, timeout: float) -> str:
    return (f"namespace {namespace} still exists {timeout:.0f}s after its deletion started "
            "(finalizers?); the next reconcile pass checks again")


# --- intake: webhooks and queued events ---------------------------------------


def webhook_not_json(detail: str) -> str:
    return f"webhook body is not valid JSON ({detail}); GitLab sends application/json"


def webhook_not_object() -> str:
    return "webhook body must be a JSON object, as GitLab sends"


def trigger_not_matched(iid: int) -> str:
    return (f"MR !{iid} does not match the project's trigger rules now "
            "(labels, draft, target branch); no environment")


def older_than_environment(iid: int) -> str:
    return (f"the teardown event of MR !{iid} is older than what the environment was last "
            "made from (delivered late); dropped")


def stale_down(iid: int) -> str:
    return f"MR !{iid} is open and matches the trigger rules now; the teardown event is stale"


WEBHOOK_TOO_DEEP = "body is nested too deeply to be a GitLab event"
def namespace_not_ours(namespace: str) -> str:
    return (f"namespace {namespace} exists but is not managed by previewbot (no label "
            "app.kubernetes.io/managed-by=previewbot); previewbot will not modify or delete "
            "it — rename or remove it, or give the project another `slug:`")


def namespace_of_another(namespace: str, labels: dict[str, str]) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in labels.items())
    return (f"namespace {namespace} is managed by previewbot for another environment or "
            f"project ({shown}); left alone — give one of the projects another `slug:`")


def waiting_for_pipeline(iid: int, sha: str, status: str) -> str:
    state = f"is {status}" if status else "has not run yet"
    return (f"MR !{iid}: the pipeline of {short_sha(sha)} {state}; with deploy_on: pipeline the "
            "environment is deployed when it succeeds (its image must exist first)")


def drift_mr_closed(iid: int, state: str) -> str:
    return f"MR !{iid} {state} (found by reconcile)"


def drift_trigger_lost(iid: int) -> str:
    return f"MR !{iid} no longer matches the trigger rules (found by reconcile)"


def discovery_lost_open() -> str:
    return "open MR without an environment (its open webhook was lost; found by reconcile)"


def discovery_new_head(old: str, new: str) -> str:
    return f"new head commit {old} → {new} (found by reconcile)"


def discovery_back(how_it_ended: str) -> str:
    return (f"open MR wants an environment again (it ended: {how_it_ended}; "
            "found by reconcile)")


def discovery_ended_before() -> str:
    return "ended on purpose at this commit (from the MR note, after Redis lost the record)"


def gave_up(attempts: int, error: str) -> str:
    return (f"gave up after {attempts} attempts that ran out of time: {error} — fix the chart "
            "(a hook or readiness that never finishes), then push a commit or run up again")


def branch_still_exists(branch: str) -> str:
    return f"branch {quoted(branch)} still exists in GitLab (a stale delete event)"


def manual_kept(env_key: str) -> str:
    return (f"{env_key} was brought up by hand: failing the trigger rules does not end it "
            "(merge, close, its TTL or an explicit down do)")


def mr_locked(iid: int) -> str:
    return f"MR !{iid} is being merged (GitLab shows it locked); asking again shortly"


def shutting_down(env_key: str) -> str:
    return f"stopped waiting for {env_key}: previewbot is shutting down; another replica goes on"


# --- engine: who may act, expiry (shown in Slack) ----------------------------

# Slack passes the verb itself (handlers.slack.grammar:Subcommand, its verb); this maps
# the action names other callers of Permissions.check_change may still pass.
_ACTION_VERBS = {"down": "tear down", "extend": "extend", "keep": "keep"}


def _admins(admins: Iterable[str]) -> str:
    mentions = [f"<@{admin}>" for admin in admins]
    return f"a previewbot admin ({_listing(mentions)})" if mentions else "a previewbot admin"


def not_allowed(action: str, env_key: str, label: str, *, author: str, project_path: str,
                maintainers: Iterable[str], admins: Iterable[str]) -> str:
    verb = _ACTION_VERBS.get(action, action)
    names = list(maintainers)
    owners = f" ({_listing(names)})" if names else ""
    by = f"its author ({author}), " if author else ""
    return (f"you may not {verb} {env_key} ({label}): only {by}the GitLab Maintainers and "
            f"Owners of {project_path}{owners} or {_admins(admins)} may; ask one of them "
            "(people whose GitLab e-mail is private are matched through `slack_users`)")


def up_not_allowed(project_path: str, admins: Iterable[str]) -> str:
    return (f"you may not bring up environments of {project_path}: `up` is open to full "
            f"members of this Slack workspace (not guests or external people); ask a member "
            f"or {_admins(admins)}")


def expiring(expires_at: datetime, remaining: str) -> str:
    """``remaining``: e.g. "1h59m" (``durations.format_duration``)."""
    return f"expires at {expires_at:%Y-%m-%d %H:%M} UTC (in {remaining}); extend it to keep it"


# --- engine: refusals of a request or an event ---------------------------------


def ended_on_purpose(label: str, sha: str) -> str:
    return (f"{label} was torn down on purpose at commit {short_sha(sha)}; a new commit, or "
            f"`up {label}` by a person, brings it back")


def pipeline_creates_nothing(iid: int) -> str:
    return (f"MR !{iid} has no environment up; in push mode a pipeline refreshes one that is "
            "up but creates none (an open, a new commit or `up` does)")


def dry_run_refusal(what: str) -> str:
    return (f"`{what}` changes nothing while the config says `dry_run: true` (plan and report "
            "only); set it to false to act")
