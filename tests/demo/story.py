"""The demo's story: one merge request's life, and a draft's, told through the real bot.

Every event reaches `previewbot serve` the way it does in production — a Merge
Request Hook signed with the webhook secret, a `/preview` command signed like Slack
signs it — and every Slack message the bot sends is shown as it arrives. The story
never sleeps: it polls the Slack stand-in, the cluster and GitLab with deadlines,
and it checks what it tells (the URL appears only once the release is ready; the
teardowns really removed the namespaces). Chapters:

1. MR !N opened → deployed, announced with its URL once ready;
2. a new commit → upgraded (the same announcement, edited);
3. `/preview extend` from Slack;
4. a draft MR: the webhook is ignored (drafts are not wanted), `/preview up` brings it
   up by hand with a short lifetime;
5. MR !N merged → torn down;
6. the draft's TTL runs out → a warning in the thread and a DM, then the reaper.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from bot.domain.naming import mr_env_key, project_slug
from bot.state.store import Store
from tests.cluster.testbed import READY_AFTER, Testbed
from tests.demo import wire
from tests.demo.console import Console
from tests.demo.processes import REPO, DemoError, DemoState, demo_dir
from tests.demo.slack_view import Directory, render
from tests.fakes.control import FakesClient
from tests.polling import wait_for

T = TypeVar("T")
CHANNEL, CHANNEL_NAME = "C0PREVIEWS", "previews"
ALICE = "U0ALICE"  # the MR author: alice@example.com in GitLab and in Slack
BOB = "U0BOB"  # a Maintainer of the project
DOMAIN = "preview.example.com"
APP_STARTS_IN = "4s"  # the demo app's pods become Ready this long after they start
DRAFT_TTL = "40s"
WARN_BEFORE = "20s"
RECONCILE_INTERVAL = "5s"
CHAPTERS = 6
DEPLOY_TIMEOUT = 120.0


def project_path() -> str:
    return os.environ.get("PREVIEWBOT_DEMO_PROJECT", "demo/shop")


def config_yaml(path: str) -> str:
    """The demo's previewbot.yaml: the repository's preview chart, and short times so a
    TTL runs out within the story."""
    return f"""# Written by `make demo` (tests/demo/story.py). Short times: the story's TTL runs out
# within a minute. The pods carry {READY_AFTER}: the test bed's kwok makes them Ready
# only {APP_STARTS_IN} after they start, like an app that takes a moment to boot.
reconcile_interval: {RECONCILE_INTERVAL}
defaults:
  domain: {DOMAIN}
  channel: {CHANNEL}
  chart: {REPO / "charts" / "preview-app"}
  routing: istio
  ttl: 48h
  max_ttl: 7d
  warn_before: {WARN_BEFORE}
  ready_timeout: 90s
projects:
  - path: {path}
    values:
      image: {{repository: registry.example.com/{path}}}
      containerPort: 80
      podAnnotations: {{"{READY_AFTER}": "{APP_STARTS_IN}"}}
"""


def project_id_for(path: str) -> int:
    """The demo project's GitLab id: stable per checkout and project, and far from the ids
    tests give their projects (1, 2, 42…). A bot's orphan sweep and identity checks go by
    project id, so the demo's serve and the tests' bots on one cluster never meet."""
    return 70_000 + zlib.crc32(f"{demo_dir()}:{path}".encode()) % 20_000


def new_sha() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex[:8]


@dataclass
class EnvReport:
    """What the summary says about one environment."""

    key: str
    happened: list[str] = field(default_factory=list)
    url: str = ""


@dataclass
class Watched:
    """What the story last saw of an environment in the cluster."""

    namespace: str
    deployment: str
    seen: str = "absent"
    going_since: float | None = None  # when its teardown was first seen (time.time())


class SlackFeed:
    """The Slack stand-in's calls, fetched as they arrive and shown once each."""

    def __init__(self, fakes: FakesClient, console: Console, directory: Directory) -> None:
        self._fakes = fakes
        self._console = console
        self.directory = directory
        self.calls: list[dict[str, Any]] = []
        self._offset = len(fakes.slack("calls"))  # earlier runs' messages are not this story's

    def fetch(self) -> list[dict[str, Any]]:
        new: list[dict[str, Any]] = self._fakes.slack("calls", after=self._offset)
        self._offset += len(new)
        self.calls.extend(new)
        return new

    def show(self, calls: list[dict[str, Any]]) -> None:
        for call in calls:
            self._console.slack(render(call, self.directory, self._console.style))

    def find(self, predicate: Callable[[dict[str, Any]], bool],
             since: int = 0) -> dict[str, Any] | None:
        return next((c for c in self.calls[since:] if predicate(c)), None)


def thread_reply(key: str, word: str) -> Callable[[dict[str, Any]], bool]:
    """The bot's thread reply for an event of ``key`` ("ready:", "extended", …)."""
    def matches(call: dict[str, Any]) -> bool:
        params = call["params"]
        return (call["method"] == "chat.postMessage" and bool(params.get("thread_ts"))
                and str(params.get("text", "")).startswith(f"{key}: {word}"))
    return matches


class Story:
    def __init__(self, console: Console, fakes: FakesClient, *, serve_url: str,
                 state: DemoState, bed: Testbed, redis_url: str, gitlab_url: str,
                 gitlab_token: str) -> None:
        self.console = console
        self.fakes = fakes
        self.serve_url = serve_url
        self.state = state
        self.bed = bed
        self.store = Store.from_url(redis_url)
        self.gitlab_url = gitlab_url
        self.gitlab_token = gitlab_token
        self.path = project_path()
        self.slug = project_slug(self.path)
        api = config.new_client_from_config(config_file=bed.kubeconfig)
        self.core_api = client.CoreV1Api(api)
        self.apps_api = client.AppsV1Api(api)
        self.watched: dict[str, Watched] = {}
        self.reports: dict[str, EnvReport] = {}
        self.project_id = 0
        self.feed = SlackFeed(fakes, console, Directory(
            users={ALICE: "alice", BOB: "bob"}, channels={CHANNEL: CHANNEL_NAME}))

    # --- setting the scene -------------------------------------------------------------

    def seed(self, fresh: bool) -> None:
        """The project, its people and their Slack accounts (once per stand-in process)."""
        if fresh:
            self.fakes.gitlab("add_user", username="alice", email="alice@example.com",
                              name="Alice Doe")
            self.fakes.gitlab("add_user", username="bob", email="bob@example.com",
                              name="Bob Maintainer")
            self.fakes.slack("add_user", user_id=ALICE, email="alice@example.com", name="alice")
            self.fakes.slack("add_user", user_id=BOB, email="bob@example.com", name="bob")
        found = self._gitlab_get(f"/projects/{urllib.parse.quote(self.path, safe='')}")
        if found is None:
            found = self.fakes.gitlab("add_project", path_with_namespace=self.path,
                                      id=project_id_for(self.path))
            users = self._gitlab_get("/users?username=bob") or []
            self.fakes.gitlab("add_member", project_id=found["id"], user_id=users[0]["id"],
                              access_level=40)
        self.project_id = int(found["id"])

    def _gitlab_get(self, path: str) -> Any:
        """GitLab's REST API, as any client reads it; None for a 404."""
        request = urllib.request.Request(self.gitlab_url + "/api/v4" + path,
                                         headers={"PRIVATE-TOKEN": self.gitlab_token})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise

    # --- waiting, watching -------------------------------------------------------------

    def wait(self, what: str, done: Callable[[], T | None],
             timeout: float = DEPLOY_TIMEOUT) -> T:
        """Poll until ``done`` answers; meanwhile show Slack messages and cluster changes
        as they happen. Slack is read before the cluster, so a message that arrives
        after a change in the cluster is always shown after it."""
        def probe() -> T | None:
            new = self.feed.fetch()
            self.look_at_cluster()
            self.feed.show(new)
            return done()

        try:
            return wait_for(what, probe, timeout=timeout, interval=0.3)
        except TimeoutError as error:
            raise DemoError(f"{error}; the bot's log: {demo_dir() / 'serve.log'}") from None

    def watch(self, key: str) -> None:
        self.watched.setdefault(key, Watched(f"preview-{key}", key))

    def look_at_cluster(self) -> None:
        for watched in self.watched.values():
            now = self._cluster_state(watched)
            if now != watched.seen:
                watched.seen = now
                self.console.step(f"cluster ▸ {now}")
                if watched.going_since is None and ("removed" in now or "terminating" in now):
                    watched.going_since = time.time()
        self.watched = {k: w for k, w in self.watched.items() if not w.seen.endswith("deleted")}

    def _cluster_state(self, watched: Watched) -> str:
        try:
            namespace = self.core_api.read_namespace(watched.namespace)
        except ApiException as error:
            if error.status != 404:
                raise
            return "absent" if watched.seen == "absent" else \
                f"namespace {watched.namespace} deleted"
        if namespace.status.phase == "Terminating":
            return f"namespace {watched.namespace} terminating"
        try:
            deployment = self.apps_api.read_namespaced_deployment(watched.deployment,
                                                                  watched.namespace)
        except ApiException as error:
            if error.status != 404:
                raise
            if watched.seen.startswith("deployment"):
                return f"deployment {watched.deployment} removed (Helm release uninstalled)"
            return f"namespace {watched.namespace} created" if watched.seen == "absent" \
                else watched.seen
        spec, status = deployment.spec, deployment.status
        tag = spec.template.spec.containers[0].image.rsplit(":", 1)[-1][:8]
        ready = status.ready_replicas or 0
        # rolled out: only pods of the current template, all of them Ready
        rolled = ((status.observed_generation or 0) >= deployment.metadata.generation
                  and (status.updated_replicas or 0) == spec.replicas
                  and (status.replicas or 0) == spec.replicas and ready == spec.replicas)
        word = "ready" if rolled else "rolling out"
        return f"deployment {watched.deployment} {word}: {ready}/{spec.replicas} pods Ready, " \
               f"image tag {tag}"

    def pod_ready_at(self, key: str, sha: str) -> datetime | None:
        """When the release's pod running ``sha`` became Ready (the cluster's clock)."""
        for pod in self.core_api.list_namespaced_pod(f"preview-{key}").items:
            if not pod.spec.containers[0].image.endswith(sha):
                continue
            for condition in pod.status.conditions or []:
                if condition.type == "Ready" and condition.status == "True":
                    moment: datetime = condition.last_transition_time
                    return moment
        return None

    def slack_command(self, text: str, user: str = ALICE) -> wire.Answer:
        response_url = self.fakes.slack("response_url", channel=CHANNEL, user=user)
        self.feed.directory.responses[urllib.parse.urlsplit(response_url).path] = user
        name = self.feed.directory.users[user]
        answer = wire.slash_command(self.serve_url, self.state.signing_secret, text,
                                    user_id=user, user_name=name, channel=CHANNEL,
                                    response_url=response_url)
        self.console.step(f"Slack → previewbot: @{name} types `/preview {text}` in "
                          f"#{CHANNEL_NAME} (form-encoded, X-Slack-Signature v0) → "
                          f"{answer.status}")
        if answer.status != 200:
            raise DemoError(f"previewbot answered the signed command with {answer.status}: "
                            f"{answer.body}")
        if answer.body.get("text"):  # a reply in the acknowledgement itself
            self.console.slack([f"Slack ▸ reply to the command · only @{name} sees this",
                                *str(answer.body["text"]).splitlines()])
        return answer

    def hook(self, mr: wire.MergeRequest, action: str, *, oldrev: str | None = None,
             expect: int = 202) -> wire.Answer:
        answer = wire.post_hook(self.serve_url, self.state.webhook_secret,
                                "Merge Request Hook",
                                wire.merge_request_hook(mr, action, oldrev=oldrev))
        self.console.step(f"GitLab → previewbot: Merge Request Hook ({action} !{mr.iid}), "
                          f"X-Gitlab-Token set → {answer.describe()}")
        if answer.status != expect:
            raise DemoError(f"the webhook was answered {answer.describe()}, expected {expect}")
        return answer

    def reply(self, key: str, word: str, since: int, what: str) -> dict[str, Any]:
        feed = self.feed
        return self.wait(what, lambda: feed.find(thread_reply(key, word), since))

    def namespace_gone(self, key: str) -> bool:
        try:
            self.core_api.read_namespace(f"preview-{key}")
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    def helm_revision(self, key: str) -> int:
        done = subprocess.run([self.bed.helm, "list", "-n", f"preview-{key}", "-o", "json"],
                              env={**os.environ, "KUBECONFIG": self.bed.kubeconfig},
                              capture_output=True, text=True, check=True)
        releases = [r for r in json.loads(done.stdout) if r["name"] == key]
        return int(releases[0]["revision"]) if releases else 0

    def gitlab_environment(self, branch: str) -> dict[str, Any] | None:
        found = [e for e in self.fakes.gitlab("environments", project_id=self.project_id)
                 if e["name"] == f"review/{branch}"]
        return found[-1] if found else None

    # --- the story ---------------------------------------------------------------------

    def play(self) -> None:
        self.console.restart_clock()
        first = self.state.next_iid
        self.state.next_iid += 2
        self.state.save()
        mr = wire.MergeRequest(self.project_id, self.path, self.gitlab_url, first,
                               "Add a checkout page", f"feature-{first}-checkout", new_sha(),
                               "alice")
        draft = wire.MergeRequest(self.project_id, self.path, self.gitlab_url, first + 1,
                                  "Draft: Try a new pricing page", f"feature-{first + 1}-pricing",
                                  new_sha(), "alice", draft=True)
        key = self.opened(mr)
        mr = self.new_commit(mr, key)
        self.extend(key)
        draft_key = self.draft_by_hand(draft)
        self.merged(mr, key)
        self.expires(draft_key)
        problems = self.fakes.info()["internal_errors"]
        if problems:
            raise DemoError("the stand-ins themselves failed:\n" + "\n".join(problems))

    def opened(self, mr: wire.MergeRequest) -> str:
        key = mr_env_key(self.slug, mr.iid)
        self.reports[key] = EnvReport(key)
        self.console.chapter(1, CHAPTERS, f"MR !{mr.iid} opened → ready with its URL")
        self.fakes.gitlab("add_branch", project_id=self.project_id, name=mr.branch, sha=mr.sha)
        self.fakes.gitlab("add_merge_request", project_id=self.project_id, iid=mr.iid,
                          source_branch=mr.branch, author_username=mr.author, sha=mr.sha,
                          title=mr.title)
        self.console.step(f"GitLab: @alice opens MR !{mr.iid} “{mr.title}” "
                          f"({mr.branch} at {mr.sha[:8]})")
        since = len(self.feed.calls)
        self.watch(key)
        self.hook(mr, "open")
        reply = self.reply(key, "ready: ", since, f"{key} to be announced ready")
        url = str(reply["params"]["text"]).split("ready: ", 1)[1].strip()
        self.check_ready_first(key, mr.sha, url, since)
        environment = self.wait("the GitLab environment and the MR note", lambda: (
            (e := self.gitlab_environment(mr.branch)) is not None
            and e.get("external_url") == url
            and self.fakes.gitlab("notes", project_id=self.project_id, iid=mr.iid) and e))
        self.console.ok(f"GitLab: environment {environment['name']} → {url} (the MR shows "
                        "“View app”) and one MR note with the URL")
        self.reports[key].url = url
        self.reports[key].happened.append("opened → ready")
        return key

    def check_ready_first(self, key: str, sha: str, url: str, since: int) -> None:
        """The URL appears in no message before the release is ready."""
        shown = self.feed.find(lambda c: url in json.dumps(c["params"]), since)
        assert shown is not None
        ready_at = self.pod_ready_at(key, sha)
        if ready_at is None:
            raise DemoError(f"{url} was announced, but no pod of {key} is Ready")
        # The cluster's condition times have whole seconds: that second's start is earlier
        # than the moment itself, so the comparison errs on the strict side.
        shown_at = datetime.fromtimestamp(shown["at"], UTC)
        if shown_at < ready_at:
            raise DemoError(f"{url} was shown at {shown_at:%H:%M:%S.%f}, before the release "
                            f"was ready ({ready_at:%H:%M:%S})")
        deploying = self.feed.find(thread_reply(key, "deploying"), since)
        after = ", after “deploying”" if deploying and deploying["at"] <= shown["at"] else ""
        self.console.ok(f"the URL was announced only once the release was ready: pod Ready at "
                        f"{ready_at:%H:%M:%S} (the app takes {APP_STARTS_IN} to start), URL "
                        f"first shown at {shown_at:%H:%M:%S}.{shown_at.microsecond // 1000:03d}"
                        f"{after}")

    def new_commit(self, mr: wire.MergeRequest, key: str) -> wire.MergeRequest:
        self.console.chapter(2, CHAPTERS, "a new commit → upgraded")
        pushed = replace(mr, sha=new_sha())
        self.fakes.gitlab("add_branch", project_id=self.project_id, name=mr.branch,
                          sha=pushed.sha)
        self.fakes.gitlab("update_merge_request", project_id=self.project_id, iid=mr.iid,
                          sha=pushed.sha)
        self.console.step(f"GitLab: @alice pushes {pushed.sha[:8]} to {mr.branch}")
        since = len(self.feed.calls)
        self.hook(pushed, "update", oldrev=mr.sha)
        reply = self.reply(key, "ready: ", since, f"{key} to be ready at {pushed.sha[:8]}")
        self.check_ready_first(key, pushed.sha,
                               str(reply["params"]["text"]).split("ready: ", 1)[1].strip(), since)
        revision = self.helm_revision(key)
        posts = [c for c in self.feed.calls if c["method"] == "chat.postMessage"
                 and not c["params"].get("thread_ts")
                 and str(c["params"].get("text", "")).startswith(f"{key} (")]
        if len(posts) != 1:
            raise DemoError(f"{key} was announced {len(posts)} times; one message, edited in "
                            "place, was expected")
        self.console.ok(f"upgraded: release {key} is at Helm revision {revision}, image tag "
                        f"{pushed.sha[:8]}; still one announcement, edited in place")
        self.reports[key].happened.append(f"new commit → upgraded (Helm revision {revision})")
        return pushed

    def extend(self, key: str) -> None:
        feed = self.feed
        self.console.chapter(3, CHAPTERS, "/preview extend from Slack")
        before = self.store.get(key)
        since = len(feed.calls)
        self.slack_command(f"extend {key} 2d")
        self.reply(key, "extended", since, f"{key} to be extended")
        self.wait("the reply to @alice", lambda: feed.find(
            lambda c: c["method"] == "response_url", since))
        after = self.store.get(key)
        assert before is not None and after is not None
        self.console.ok(f"extended by @alice (the MR's author may): expiry "
                        f"{before.desired.expires_at:%a %H:%M} → "
                        f"{after.desired.expires_at:%a %H:%M} UTC")
        self.reports[key].happened.append("/preview extend 2d")

    def draft_by_hand(self, draft: wire.MergeRequest) -> str:
        key = mr_env_key(self.slug, draft.iid)
        self.reports[key] = EnvReport(key)
        self.console.chapter(4, CHAPTERS, f"a draft MR !{draft.iid}, brought up by hand")
        self.fakes.gitlab("add_branch", project_id=self.project_id, name=draft.branch,
                          sha=draft.sha)
        self.fakes.gitlab("add_merge_request", project_id=self.project_id, iid=draft.iid,
                          source_branch=draft.branch, author_username=draft.author,
                          sha=draft.sha, title=draft.title, draft=True)
        self.console.step(f"GitLab: @alice opens draft MR !{draft.iid} “{draft.title}”")
        ignored = self.hook(draft, "open", expect=200)
        if ignored.body.get("status") != "ignored":
            raise DemoError(f"a draft's webhook was answered {ignored.body}, expected ignored")
        self.console.ok("no environment for a draft (trigger: drafts: false) — until someone "
                        "asks for one")
        since = len(self.feed.calls)
        self.watch(key)
        self.slack_command(f"up {self.path}!{draft.iid} for {DRAFT_TTL}")
        reply = self.reply(key, "ready: ", since, f"{key} to be announced ready")
        url = str(reply["params"]["text"]).split("ready: ", 1)[1].strip()
        self.check_ready_first(key, draft.sha, url, since)
        self.console.ok(f"up by hand, for {DRAFT_TTL}: a hand-made environment is never torn "
                        "down for being a draft — only merge, close, its TTL or a down end it")
        self.reports[key].url = url
        self.reports[key].happened += ["draft: webhook ignored",
                                       f"/preview up for {DRAFT_TTL} → ready"]
        return key

    def merged(self, mr: wire.MergeRequest, key: str) -> None:
        self.console.chapter(5, CHAPTERS, f"MR !{mr.iid} merged → torn down")
        self.fakes.gitlab("update_merge_request", project_id=self.project_id, iid=mr.iid,
                          state="merged")
        self.console.step(f"GitLab: MR !{mr.iid} is merged")
        since = len(self.feed.calls)
        self.watch(key)
        self.hook(mr, "merge")
        self.reply(key, "torn down", since, f"{key} to be torn down")
        self.wait(f"namespace preview-{key} to be deleted", lambda: self.namespace_gone(key))
        environment = self.wait("the GitLab environment to be stopped", lambda: (
            (e := self.gitlab_environment(mr.branch)) is not None
            and e.get("state") == "stopped" and e))
        self.console.ok(f"torn down: Helm release uninstalled, namespace preview-{key} "
                        f"deleted, GitLab environment {environment['name']} stopped")
        self.reports[key].happened.append("merged → torn down")

    def expires(self, key: str) -> None:
        feed = self.feed
        self.console.chapter(6, CHAPTERS, f"{key}'s TTL runs out → warned, then torn down")
        env = self.store.get(key)
        assert env is not None
        expires_at = env.desired.expires_at
        self.console.step(f"{key} expires at {expires_at:%H:%M:%S} UTC; the warning comes "
                          f"{WARN_BEFORE} before, a reconcile pass every {RECONCILE_INTERVAL}")
        self.watch(key)
        self.reply(key, "expires", 0, f"the expiry warning of {key}")
        self.wait("the DM to @alice", lambda: feed.find(
            lambda c: c["method"] == "chat.postMessage" and c["params"].get("channel") == ALICE
            and key in str(c["params"].get("text", ""))))
        self.console.ok("warned: a reply in the thread and a DM to @alice, each with "
                        "[Extend 24h]")
        watched = self.watched[key]  # kept: the watch list forgets a deleted namespace
        self.reply(key, "torn down", 0, f"{key} to be torn down at its TTL")
        self.wait(f"namespace preview-{key} to be deleted", lambda: self.namespace_gone(key))
        began = (watched.going_since or time.time()) - expires_at.timestamp()
        self.console.ok(f"torn down by the reaper: its teardown began {began:.0f}s after the "
                        f"expiry (a pass every {RECONCILE_INTERVAL}); the namespace is gone")
        self.reports[key].happened += ["expiry warning + DM", "TTL expired → torn down"]

    # --- the ending ----------------------------------------------------------------------

    def summary(self) -> None:
        self.console.heading("Summary")
        rows = []
        for key, report in self.reports.items():
            env = self.store.get(key)
            final = "unknown"
            if env is not None:
                final = env.observed.status.value + (f" ({env.observed.reason})"
                                                     if env.observed.reason else "")
            rows.append([key, " · ".join(report.happened), report.url or "-", final])
        self.console.table(["ENVIRONMENT", "WHAT HAPPENED", "URL", "FINAL STATE"], rows,
                           wrap={1: 44, 3: 24})

    def look_around(self, env_file: str, serve_url: str) -> None:
        first = next(iter(self.reports), mr_env_key(self.slug, 1))
        self.console.heading("Look around — the test bed, previewbot serve and the GitLab and "
                             "Slack stand-ins keep running until `make demo-down`:")
        self.console.lines([
            f"source {env_file}        # KUBECONFIG, REDIS_URL, PATH (kubectl, helm, "
            "previewbot), GITLAB_*, SLACK_*",
            "kubectl get namespaces -l app.kubernetes.io/managed-by=previewbot "
            "--show-labels",
            "helm list -A",
            "previewbot list --all",
            f"previewbot status {first}        # its history: who did what, when",
            f"previewbot up '{self.path}!{self.state.next_iid - 1}' --for 10m   "
            "# the draft again, by hand",
            "previewbot reconcile --dry-run",
            f"curl -s {serve_url}/metrics | grep '^previewbot_'",
            f"tail -f {demo_dir() / 'serve.log'}",
            "make demo-down        # stops what make demo started",
        ])
