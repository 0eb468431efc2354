"""GitLab webhook deliveries → what should happen to which environment (README "GitLab webhooks").

:func:`decide` is pure: no I/O, no clock. It reads the ``X-Gitlab-Event``
header and the JSON body and answers an :class:`Intent` (UP at a commit, or
DOWN) or :class:`Ignored` with a reason. A body that is valid JSON but not
shaped like GitLab's payload raises :class:`PermanentError` naming the field.

- The project is looked up by ``project.path_with_namespace`` (case-insensitive),
  then by ``project.id``; unknown → Ignored. The default branch is never
  previewbot's (GitOps deploys it): anything for it is Ignored.
- Merge Request Hook: see :mod:`bot.gitlab.hooks.merge_request`.
- Pipeline Hook: only ``status: success`` of a branch (not a tag) acts.
  With a ``merge_request`` (open) → UP for that MR at ``object_attributes.sha``
  in both ``deploy_on`` modes (with ``push`` it repeats the MR's head: a no-op).
  ``trigger.target_branches`` is checked here; the hook carries no labels or
  draft state, so the intake applies the rest from the MR as GitLab shows it.
  Without one → a branch UP (``mr_iid`` None) with ``deploy_on: pipeline``,
  Ignored with ``push``. The caller applies a branch UP only to an environment
  that already exists for that branch — an MR environment of an open MR from
  it, or a branch environment made with ``/preview up PROJECT@BRANCH``; it
  never creates one.
- Push Hook: a branch deleted (``after`` all zeros) → DOWN of that branch's
  environment (``mr_iid`` None). Other pushes, tags → Ignored: MR updates arrive
  as Merge Request Hooks.
- Any other ``X-Gitlab-Event`` → Ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.config import Config, TriggerInputs
from bot.domain.events import Ignored, Intent, IntentKind
from bot.domain.model import EndKind, short_sha
from bot.gitlab.hooks import reasons
from bot.gitlab.hooks.fields import Fields, parse_gitlab_time
from bot.gitlab.hooks.intent import Origin
from bot.gitlab.hooks.merge_request import decide_merge_request

__all__ = ["Ignored", "Intent", "IntentKind", "decide", "parse_gitlab_time"]

MERGE_REQUEST_HOOK = "Merge Request Hook"
PIPELINE_HOOK = "Pipeline Hook"
PUSH_HOOK = "Push Hook"
BRANCH_PREFIX = "refs/heads/"
TAG_PREFIX = "refs/tags/"

Handler = Callable[[Fields, Origin], Intent | Ignored]


def decide(event_type: str, payload: Mapping[str, Any], config: Config) -> Intent | Ignored:
    """What the delivery ``payload`` of header ``X-Gitlab-Event: event_type`` asks for."""
    handler = _HANDLERS.get(event_type.strip())
    if handler is None:
        return Ignored(reasons.event_not_handled(event_type))
    hook = Fields.top(payload, event_type.strip())
    origin = _origin(hook, config)
    if isinstance(origin, Ignored):
        return origin
    return handler(hook, origin)


def _origin(hook: Fields, config: Config) -> Origin | Ignored:
    project = hook.obj("project")
    path = project.text("path_with_namespace")
    project_id = project.integer("id")
    # A configured id wins: a project renamed or moved keeps its id, and a path now
    # used by another project (same name, new id) is not mistaken for ours.
    configured = config.project_by_id(project_id)
    if configured is None:
        by_path = config.project_by_path(path)
        configured = by_path if by_path is not None and by_path.id in (None, project_id) \
            else None
    if configured is None:
        return Ignored(reasons.event_project_not_configured(path, project_id))
    user = hook.optional_obj("user")
    username = user.optional_text("username") if user else hook.optional_text("user_username")
    return Origin(configured, project_id, project.text("default_branch"), username or "")


def _pipeline(hook: Fields, origin: Origin) -> Intent | Ignored:
    attrs = hook.obj("object_attributes")
    sha = attrs.commit_sha("sha")
    status = attrs.text("status")
    if status != "success":
        return Ignored(reasons.event_pipeline_not_success(short_sha(sha), status))
    if attrs.optional_flag("tag"):
        return Ignored(reasons.event_tag_ignored())
    merge_request = hook.optional_obj("merge_request")
    if merge_request is not None:
        return _merge_request_pipeline(merge_request, attrs, origin, sha)
    branch = attrs.text("ref").removeprefix(BRANCH_PREFIX)
    if branch == origin.default_branch:
        return Ignored(reasons.event_default_branch(branch))
    if origin.project.deploy_on == "push":
        return Ignored(reasons.event_branch_pipeline_push_mode(branch))
    return origin.up(mr_iid=None, branch=branch, sha=sha,
                     reason=reasons.event_pipeline_succeeded_branch(branch, short_sha(sha)),
                     updated_at=attrs.timestamp("created_at"), from_pipeline=True)


def _merge_request_pipeline(
    merge_request: Fields, attrs: Fields, origin: Origin, sha: str
) -> Intent | Ignored:
    iid = merge_request.integer("iid")
    state = merge_request.optional_text("state")
    if state is not None and state != "opened":
        return Ignored(reasons.event_mr_not_open(iid, state))
    branch = merge_request.optional_text("source_branch") or attrs.text("ref")
    if branch == origin.default_branch:
        return Ignored(reasons.event_default_branch(branch))
    target = merge_request.optional_text("target_branch")
    failing = origin.project.trigger.failing(TriggerInputs(iid=iid, target_branch=target))
    if failing:
        return Ignored(failing[0].reason)
    return origin.up(mr_iid=iid, branch=branch, sha=sha,
                     reason=reasons.event_pipeline_succeeded_mr(iid, short_sha(sha)),
                     updated_at=attrs.timestamp("created_at"), from_pipeline=True)


def _push(hook: Fields, origin: Origin) -> Intent | Ignored:
    ref = hook.text("ref")
    if ref.startswith(TAG_PREFIX):
        return Ignored(reasons.event_tag_ignored())
    if not ref.startswith(BRANCH_PREFIX):
        return Ignored(reasons.event_not_a_branch(ref))
    branch = ref.removeprefix(BRANCH_PREFIX)
    if set(hook.text("after")) != {"0"}:  # 40 zeros; 64 in SHA-256 repositories
        return Ignored(reasons.event_push_ignored())
    if branch == origin.default_branch:
        return Ignored(reasons.event_default_branch(branch))
    return origin.down(mr_iid=None, branch=branch, updated_at=None,
                       end_kind=EndKind.BRANCH_DELETED,
                       reason=reasons.event_branch_deleted(branch))


_HANDLERS: dict[str, Handler] = {
    MERGE_REQUEST_HOOK: decide_merge_request,
    PIPELINE_HOOK: _pipeline,
    PUSH_HOOK: _push,
}
