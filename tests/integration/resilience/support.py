"""What the resilience tests share: GitLab-shaped hooks for any project, replicas of
`previewbot serve`, and the end state they assert.

The end state is read where an operator would read it: the namespaces and their
annotations, Helm's releases, the records (`previewbot status`'s data), and what GitLab
and Slack were told (the fakes record every call). Every check says what differs.
"""

from __future__ import annotations

import copy
import json
import subprocess
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from bot.domain import records
from bot.domain.model import Environment, Status
from bot.gitlab.review import note_marker
from bot.state.queue import DeliveryQueue
from tests.fakes.gitlab import FakeGitLab
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.records import PostedMessage
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.slack.support import CHANNEL, slack_environ, states
from tests.integration.webhook_support import Server, fixture, start_server
from tests.polling import wait_for

MANAGED = f"{records.MANAGED_BY_LABEL}={records.MANAGED_BY_VALUE}"
BOT_USER = "previewbot"  # the GitLab fake's token user


@dataclass(frozen=True)
class Project:
    """A GitLab project of the fake, as the bot's config names it."""

    id: int
    path: str

    @property
    def slug(self) -> str:
        return self.path.replace("/", "-")

    def key(self, iid: int) -> str:
        return f"{self.slug}-mr-{iid}"

    def branch_key(self, branch: str) -> str:
        return f"{self.slug}-{branch}"


def bed_project(bed: LifecycleBed) -> Project:
    return Project(bed.project_id, bed.project_path)


def add_project(gitlab: FakeGitLab) -> Project:
    path = f"t{uuid.uuid4().hex[:8]}/app"
    return Project(int(gitlab.add_project(path)["id"]), path)


def new_sha() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex[:8]


# --- hooks, shaped like GitLab's documented examples (tests/fixtures/gitlab) -------------

_MR_FIXTURES = {"open": "merge_request_open", "reopen": "merge_request_open",
                "update": "merge_request_update_commits", "close": "merge_request_close",
                "merge": "merge_request_merge"}
_MR_STATES = {"open": "opened", "reopen": "opened", "update": "opened", "close": "closed",
              "merge": "merged"}


def gitlab_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def mr_hook(project: Project, action: str, iid: int, sha: str, *, updated_at: datetime,
            oldrev: str | None = None, branch: str | None = None) -> dict[str, Any]:
    payload = copy.deepcopy(fixture(_MR_FIXTURES[action]))
    payload["project"].update(id=project.id, path_with_namespace=project.path,
                              default_branch="main")
    attributes = payload["object_attributes"]
    attributes.update(iid=iid, source_branch=branch or f"feature-{iid}",
                      target_branch="main", action=action, state=_MR_STATES[action],
                      updated_at=gitlab_time(updated_at), target_project_id=project.id,
                      source_project_id=project.id)
    attributes["last_commit"]["id"] = sha
    attributes.pop("oldrev", None)
    if oldrev is not None:
        attributes["oldrev"] = oldrev
    return payload


def pipeline_hook(project: Project, iid: int, sha: str, *,
                  created_at: datetime) -> dict[str, Any]:
    payload = copy.deepcopy(fixture("pipeline_success_mr"))
    payload["project"].update(id=project.id, path_with_namespace=project.path,
                              default_branch="main")
    stamp = gitlab_time(created_at)
    payload["object_attributes"].update(sha=sha, ref=f"feature-{iid}", status="success",
                                        created_at=stamp, finished_at=stamp)
    payload["merge_request"].update(iid=iid, source_branch=f"feature-{iid}",
                                    target_branch="main", state="opened")
    return payload


def branch_deleted_hook(project: Project, branch: str) -> dict[str, Any]:
    payload = copy.deepcopy(fixture("push_branch_deleted"))
    payload["project"].update(id=project.id, path_with_namespace=project.path,
                              default_branch="main")
    payload.update(ref=f"refs/heads/{branch}", after="0" * 40, project_id=project.id)
    return payload


# --- replicas --------------------------------------------------------------------------


def start_replica(bed: LifecycleBed, name: str, *, slack: FakeSlack | None = None,
                  **env: str) -> Server:
    """One `previewbot serve` of the bed (Slack on when ``slack`` is given)."""
    extra = slack_environ(slack) if slack is not None else {}
    return start_server(bed, name=name, **{**extra, **env})


def working_on(servers: Iterable[Server], line: str, timeout: float = 90) -> Server:
    """The replica whose log shows ``line`` (e.g. ``<ENV>: waiting``): the one doing it."""
    candidates = list(servers)
    return wait_for(f"a replica to log {line!r}",
                    lambda: next((s for s in candidates if line in s.log()), None),
                    timeout=timeout, interval=0.05)


# --- the cluster -----------------------------------------------------------------------


def preview_namespaces(core_api: client.CoreV1Api,
                       projects: Iterable[Project]) -> dict[str, client.V1Namespace]:
    """The bot's namespaces of ``projects`` (Terminating ones too). By project path: the
    fakes of tests running in parallel number their projects alike, paths are unique."""
    paths = {p.path for p in projects}
    return {ns.metadata.name: ns for ns in core_api.list_namespace(label_selector=MANAGED).items
            if (ns.metadata.annotations or {}).get(records.PROJECT_PATH) in paths}


def helm_releases(helm: str, environ: Mapping[str, str], namespace: str) -> list[dict[str, Any]]:
    done = subprocess.run([helm, "list", "-n", namespace, "-o", "json"], env=dict(environ),
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return []
    loaded: list[dict[str, Any]] = json.loads(done.stdout or "[]")
    return loaded


def helm_history(helm: str, environ: Mapping[str, str], release: str,
                 namespace: str) -> list[dict[str, Any]]:
    done = subprocess.run([helm, "history", release, "-n", namespace, "-o", "json"],
                          env=dict(environ), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return []
    loaded: list[dict[str, Any]] = json.loads(done.stdout or "[]")
    return loaded


def namespace_or_none(core_api: client.CoreV1Api, name: str) -> client.V1Namespace | None:
    try:
        return core_api.read_namespace(name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


# --- the end state ---------------------------------------------------------------------


@dataclass
class Expected:
    """What GitLab's final state implies: env key → the sha it must run."""

    running: dict[str, str] = field(default_factory=dict)
    # Keys that must be ended (record GONE, or never made): nothing of them may remain.
    ended: set[str] = field(default_factory=set)
    # Expiries known exactly (extended, kept); the others: a TTL renewed during the test.
    expires: dict[str, datetime] = field(default_factory=dict)


@dataclass
class EndState:
    """Reads and checks the end state of one bed (any number of its projects)."""

    bed: LifecycleBed
    core_api: client.CoreV1Api
    projects: tuple[Project, ...]
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    ttl: timedelta = timedelta(hours=48)

    def problems(self, expected: Expected) -> list[str]:
        """Everything that differs from ``expected`` (empty: converged)."""
        found: list[str] = []
        namespaces = preview_namespaces(self.core_api, self.projects)
        wanted = {f"preview-{key}" for key in expected.running}
        extra = sorted(set(namespaces) - wanted)
        missing = sorted(wanted - set(namespaces))
        if extra:
            found.append(f"namespaces that should not exist: {extra}")
        if missing:
            found.append(f"namespaces missing: {missing}")
        store = self.bed.core().store
        records_now = {env.key: env for env in store.all()}
        for key, sha in sorted(expected.running.items()):
            found += self._running_problems(key, sha, namespaces.get(f"preview-{key}"),
                                            records_now.get(key), expected.expires.get(key))
        for key in sorted(expected.ended):
            env = records_now.get(key)
            if env is not None and (env.desired.present or env.observed.status
                                    is not Status.GONE):
                found.append(f"{key}: should be ended, record is {env.observed.status.value} "
                             f"(present={env.desired.present})")
        unknown = sorted(key for key, env in records_now.items()
                         if key not in expected.running and key not in expected.ended
                         and env.observed.status is not Status.GONE)
        if unknown:
            found.append(f"active records nobody asked for: {unknown}")
        return found

    def _running_problems(self, key: str, sha: str, ns: client.V1Namespace | None,
                          env: Environment | None, expires_at: datetime | None) -> list[str]:
        if env is None:
            return [f"{key}: no record"]
        found = []
        observed = env.observed
        if (env.desired.sha, observed.deployed_sha, observed.status) != (sha, sha, Status.READY):
            found.append(f"{key}: wanted ready at {sha[:8]}, record is {observed.status.value} "
                         f"desired {env.desired.sha[:8]} deployed {observed.deployed_sha[:8]} "
                         f"({observed.reason})")
        if ns is None:
            return found
        annotations = ns.metadata.annotations or {}
        if ns.status.phase != "Active":
            found.append(f"{key}: namespace is {ns.status.phase}")
        if annotations.get(records.SHA) != sha:
            found.append(f"{key}: namespace sha {annotations.get(records.SHA)} != {sha}")
        expires = annotations.get(records.EXPIRES_AT)
        if expires != records.rfc3339(env.desired.expires_at):
            found.append(f"{key}: namespace expires {expires}, record "
                         f"{records.rfc3339(env.desired.expires_at)}")
        earliest = (self.started + self.ttl).replace(microsecond=0)
        if expires_at is not None:
            if records.rfc3339(env.desired.expires_at) != records.rfc3339(expires_at):
                found.append(f"{key}: expires {env.desired.expires_at}, not {expires_at}")
        elif not earliest <= env.desired.expires_at <= datetime.now(UTC) + self.ttl:
            found.append(f"{key}: expires {env.desired.expires_at}, not a {self.ttl} TTL "
                         f"renewed since {self.started}")
        releases = helm_releases(self.bed.testbed.helm, self.bed.environ(), ns.metadata.name)
        statuses = [(r["name"], r["status"]) for r in releases]
        if statuses != [(key, "deployed")]:
            found.append(f"{key}: helm releases {statuses}")
        return found

    def wait_converged(self, expected: Expected, timeout: float) -> None:
        last: list[list[str]] = [[]]

        def converged() -> bool:
            last[0] = self.problems(expected)
            return not last[0]

        try:
            wait_for("the end state", converged, timeout=timeout, interval=1.0)
        except TimeoutError:
            pytest.fail(f"not converged after {timeout:.0f}s:\n  " + "\n  ".join(last[0]),
                        pytrace=False)

    def cleanup(self) -> None:
        for name in preview_namespaces(self.core_api, self.projects):
            try:
                self.core_api.delete_namespace(name)
            except ApiException as error:
                if error.status != 404:
                    raise


def queue_settled(url: str) -> dict[str, int] | None:
    """The queue's stats once nothing waits in it (None while something does)."""
    queue = DeliveryQueue.from_url(url)
    try:
        stats = queue.stats()
    finally:
        queue.close()
    return stats if stats["queued"] == stats["pending"] == stats["retrying"] == 0 else None


# --- what GitLab and Slack were told -----------------------------------------------------


def bot_notes(gitlab: FakeGitLab, project: Project, iid: int, key: str) -> list[dict[str, Any]]:
    marker = note_marker(key)
    return [n for n in gitlab.notes(project.id, iid)
            if n["author"]["username"] == BOT_USER and marker in n["body"]]


def review_environments(gitlab: FakeGitLab, project: Project, key: str,
                        branch: str) -> list[dict[str, Any]]:
    """The GitLab environments the bot may have made for ``key`` (``review/<branch>``, or
    its fallback ``review/<ENV>``)."""
    names = {f"review/{branch}", f"review/{key}"}
    return [e for e in gitlab.environments(project.id) if e["name"] in names]


def gitlab_problems(gitlab: FakeGitLab, project: Project, iid: int, key: str, *,
                    running: bool, branch: str | None = None,
                    core_api: client.CoreV1Api | None = None) -> list[str]:
    """GitLab told once: one note of ours on the MR, one GitLab environment, available
    with the URL while running, stopped once ended. With ``core_api``: the namespace knows
    that environment as the bot's (the sync is done, not just begun)."""
    found = []
    notes = bot_notes(gitlab, project, iid, key)
    if len(notes) != 1:
        found.append(f"{key}: {len(notes)} previewbot notes on !{iid}")
    url = f"https://{key}.preview.test"
    if running and notes and url not in notes[0]["body"]:
        found.append(f"{key}: the note does not show {url}: {notes[0]['body'][:200]!r}")
    envs = review_environments(gitlab, project, key, branch or f"feature-{iid}")
    shown = [(e["name"], e["state"], e.get("external_url")) for e in envs]
    if running and shown != [(f"review/{branch or f'feature-{iid}'}", "available", url)]:
        found.append(f"{key}: GitLab environments {shown}")
    if not running and any(state != "stopped" for _, state, _ in shown):
        found.append(f"{key}: GitLab environments {shown} (should be stopped)")
    if len(envs) > 1:
        found.append(f"{key}: {len(envs)} GitLab environments for one environment: {shown}")
    if running and core_api is not None:
        ns = namespace_or_none(core_api, f"preview-{key}")
        known = (ns.metadata.annotations or {}).get(records.REVIEW_ENVIRONMENT_ID) if ns else None
        if known not in [str(e["id"]) for e in envs]:
            found.append(f"{key}: the namespace knows GitLab environment {known}, GitLab has "
                         f"{[(e['id'], e['name']) for e in envs]}")
    return found


def stop_calls(gitlab: FakeGitLab, project: Project) -> list[str]:
    """Paths of the environment stops GitLab took (2xx)."""
    return [r.path for r in gitlab.find_requests("POST", f"/projects/{project.id}/environments/")
            if r.path.endswith("/stop") and 200 <= r.status < 300]


def announcements_of(slack: FakeSlack, key: str) -> list[PostedMessage]:
    """Top-level messages about ``key`` in the previews channel."""
    return [m for m in slack.messages(CHANNEL)
            if m.thread_ts is None and m.text.startswith(f"{key} (")]


def slack_problems(slack: FakeSlack, key: str, final_state: str) -> list[str]:
    """Slack told once: one announcement, whose last version shows ``final_state``."""
    found = announcements_of(slack, key)
    if len(found) != 1:
        return [f"{key}: {len(found)} announcements: {[m.text for m in found]}"]
    shown = states(found[0])
    if not shown or shown[-1] != final_state:
        return [f"{key}: the announcement went {shown}, not ending {final_state}"]
    return []


def until_none(what: str, problems: Callable[[], list[str]], timeout: float = 60) -> None:
    """Wait until ``problems()`` finds none; else fail with the last ones found."""
    last: list[list[str]] = [[]]

    def none_left() -> bool:
        last[0] = problems()
        return not last[0]

    try:
        wait_for(what, none_left, timeout=timeout, interval=0.5)
    except TimeoutError:
        pytest.fail(f"{what}: still after {timeout:.0f}s:\n  " + "\n  ".join(last[0]),
                    pytrace=False)
