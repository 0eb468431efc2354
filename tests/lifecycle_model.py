"""One model of an environment's life, for property tests on any engine (issue 16).

A ``hypothesis`` state machine drives random sequences of what happens to a project's
merge requests — webhooks (open, new commit, close, reopen, merge, trigger label added
or removed, draft toggled), Slack requests by different people (up, extend, keep,
down, Redeploy), time passing (TTL expiry), a Redis wipe, a project rename and
reconcile passes — against a :class:`Driver`, and checks after every step:

- the owner of an environment never changes (it is the MR's author, alice);
- an expiry an extend or a keep gave never moves back while that life lasts;
- nothing ended on purpose (a person's down, its TTL, a close or a merge) is present
  again at the same commit unless a person asked for it;

and after every pass:

- every open MR the rules want has exactly one environment (one active record and
  one namespace, counted by identity — project id and MR iid — never by key), at its
  head commit;
- nothing that is not wanted survives (no active record, no live namespace).

It lives in ``tests/`` (beside ``tests.clock`` and ``tests.polling``) so that both the
unit tree (in-memory fakes) and the integration tree (the real test bed) import it
without one depending on the other; each tree only supplies its :class:`Driver`.

What "wanted" means follows README "How it converges" ("What a request never changes,
and when a life ends"): an open MR is wanted when the trigger rules hold (label
``preview``, not a draft) or a person brought it up in this life (manual: it survives
losing the label or becoming a draft, never a close, a merge, a down or its TTL), and
it was not ended on purpose at its head commit (a new commit, or a person's up,
starts a new life; a reopen undoes only a close).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Protocol

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from bot.domain import records
from bot.domain.errors import PreviewError
from bot.domain.model import Environment, Status, is_active
from bot.engine.intake import Intake
from bot.engine.requests import Requests, redeploy

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "gitlab"
AUTHOR = "alice"
PEOPLE = ("slack:U0ALICE", "slack:U0BOB", "slack:U0CAROL")
TRIGGER_LABEL = "preview"
IIDS = (1, 2, 3)
# Time passing: an hour, the warning window, past the TTL (48h), past max_ttl (7d).
STEPS_OF_TIME = (timedelta(hours=1), timedelta(hours=47), timedelta(days=3),
                 timedelta(days=8))
EXTENSIONS = (timedelta(hours=12), timedelta(days=2), timedelta(days=6))


def trigger_config() -> dict[str, Any]:
    """The project's trigger in the config: a label; drafts are excluded by default."""
    return {"labels": [TRIGGER_LABEL]}


@dataclass(frozen=True)
class Seen:
    """One environment as the engine holds it: a record, or a namespace's annotations."""

    key: str
    iid: int
    sha: str
    owner: str
    expires_at: datetime
    active: bool  # wanted and not gone (``is_active``)
    present: bool  # not asked to go (a down, a close, a trigger loss)
    status: Status


class Driver(Protocol):
    """An engine and its world (forge, clock, store, cluster), as the model moves them."""

    @property
    def project_id(self) -> int: ...

    @property
    def project_path(self) -> str: ...

    @property
    def requests(self) -> Requests: ...

    @property
    def intake(self) -> Intake: ...

    def now(self) -> datetime: ...

    def put_mr(self, iid: int, *, sha: str, state: str, labels: tuple[str, ...],
               draft: bool, new: bool) -> str:
        """Open (``new``) or change an MR in the forge; its ``updated_at`` (RFC 3339)."""
        ...

    def advance(self, delta: timedelta) -> None: ...

    def wipe_redis(self) -> None: ...

    def rename(self, new_path: str) -> None:
        """Rename the project in the forge, and follow it in the config."""
        ...

    def run_pass(self) -> None:
        """One full pass, followed until what it started settled (teardowns gone)."""
        ...

    def poke(self, keys: tuple[str, ...]) -> None:
        """A poke pass over ``keys``, as the workers run after a webhook or a command,
        followed until it settled."""
        ...

    def records(self) -> list[Environment]:
        """Every record the store holds (of any project)."""
        ...

    def live_namespaces(self) -> list[tuple[str, dict[str, str]]]:
        """(name, labels) of every managed namespace that is not being deleted."""
        ...

    def kept_by_namespace(self, key: str) -> Environment | None: ...


@dataclass
class MR:
    """What the forge shows of one MR, and what the model knows of its environment."""

    iid: int
    sha: str
    labelled: bool
    draft: bool
    state: str = "opened"
    updated_at: str = ""
    manual: bool = False  # a person brought it up in this life
    # (sha, how) of a deliberate end: how is "purpose" (down, TTL) or "closed"
    ended: tuple[str, str] | None = None
    max_expiry: datetime | None = None  # the latest expiry an extend/keep gave

    @property
    def labels(self) -> tuple[str, ...]:
        return (TRIGGER_LABEL, "backend") if self.labelled else ("backend",)

    @property
    def trigger_holds(self) -> bool:
        return self.labelled and not self.draft

    @property
    def wanted(self) -> bool:
        if self.state != "opened":
            return False
        if self.ended is not None and self.ended[0] == self.sha:
            return False
        return self.trigger_holds or self.manual


def mr_hook(project_id: int, project_path: str, mr: MR, action: str, *,
            oldrev: str | None = None,
            previous: dict[str, Any] | None = None) -> bytes:
    """A Merge Request Hook as GitLab sends it (from the documented example fixtures).
    ``previous``: the ``changes`` of an update ({"labels": (...)} or {"draft": bool})."""
    name = {"open": "merge_request_open", "reopen": "merge_request_open",
            "update": "merge_request_update_labels", "close": "merge_request_close",
            "merge": "merge_request_merge"}[action]
    payload: dict[str, Any] = copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text()))
    payload["project"].update(id=project_id, path_with_namespace=project_path,
                              default_branch="main")
    payload["user"] = {"id": 7, "name": "Alice", "username": AUTHOR}
    attributes = payload["object_attributes"]
    labels = [{"id": 300 + i, "title": t} for i, t in enumerate(mr.labels)]
    state = {"close": "closed", "merge": "merged"}.get(action, "opened")
    attributes.update(iid=mr.iid, source_branch=branch(mr.iid), target_branch="main",
                      updated_at=mr.updated_at, action=action, state=state,
                      draft=mr.draft, work_in_progress=mr.draft, labels=labels,
                      source_project_id=project_id, target_project_id=project_id)
    attributes["last_commit"] = {"id": mr.sha}
    attributes.pop("oldrev", None)
    if oldrev is not None:
        attributes["oldrev"] = oldrev
    payload["labels"] = labels
    changes: dict[str, Any] = {}
    for what, before in (previous or {}).items():
        if what == "labels":
            changes["labels"] = {"previous": [{"id": 300 + i, "title": t}
                                              for i, t in enumerate(before)],
                                 "current": labels}
        else:
            changes[what] = {"previous": before, "current": mr.draft}
    payload["changes"] = changes
    return json.dumps(payload).encode()


def branch(iid: int) -> str:
    return f"feature-{iid}"


class LifecycleModel(RuleBasedStateMachine):
    """The state machine; a subclass sets ``make_driver`` (called once per example)."""

    make_driver: ClassVar[Callable[[], Driver]]
    close_driver: ClassVar[Callable[[Driver], None]] = staticmethod(lambda _: None)
    max_renames: ClassVar[int] = 2

    def __init__(self) -> None:
        super().__init__()
        self.driver = type(self).make_driver()
        self.mrs: dict[int, MR] = {}
        self.commits = 0
        self.renames = 0
        self.alive: set[int] = set()  # MRs with an environment at the last look

    def teardown(self) -> None:
        type(self).close_driver(self.driver)

    # -- helpers -----------------------------------------------------------------------
    def _sha(self) -> str:
        self.commits += 1
        return f"{self.commits:08x}" + "c0ffee00" * 4

    def _forge(self, mr: MR, *, new: bool = False) -> None:
        mr.updated_at = self.driver.put_mr(mr.iid, sha=mr.sha, state=mr.state,
                                           labels=mr.labels, draft=mr.draft, new=new)

    def _hook(self, mr: MR, action: str, **extra: Any) -> bool:
        """Deliver a hook as GitLab does: retried (here: at once, a few times) while the
        bot answers "try again"; True when it was taken."""
        body = mr_hook(self.driver.project_id, self.driver.project_path, mr, action, **extra)
        for _ in range(3):
            try:
                handled = self.driver.intake.handle("Merge Request Hook", body)
                self.driver.poke(handled.env_keys)  # as `serve` does after a delivery
                return True
            except PreviewError:
                continue
        return False

    def _seen(self) -> dict[int, list[Seen]]:
        """Every environment of this project by MR iid: the records, and for a key
        Redis lost, what its live namespace keeps."""
        found: dict[int, list[Seen]] = {}
        keys: set[str] = set()
        for env in self.driver.records():
            d = env.desired
            if d.project_id != self.driver.project_id or d.mr_iid is None:
                continue
            keys.add(env.key)
            found.setdefault(d.mr_iid, []).append(Seen(
                env.key, d.mr_iid, d.sha, d.owner, d.expires_at, is_active(env),
                d.present, env.observed.status))
        for name, labels in self.driver.live_namespaces():
            if labels.get(records.PROJECT_ID_LABEL) != str(self.driver.project_id):
                continue
            key = name.removeprefix("preview-")
            if key in keys:
                continue
            kept = self.driver.kept_by_namespace(key)
            if kept is None or kept.desired.mr_iid is None:
                continue
            d = kept.desired
            found.setdefault(d.mr_iid, []).append(Seen(
                key, d.mr_iid, d.sha, d.owner, d.expires_at, is_active(kept),
                d.present, kept.observed.status))
        return found

    def _alive(self, iid: int) -> list[Seen]:
        return [s for s in self._seen().get(iid, []) if s.active]

    def _key(self, mr: MR) -> str:
        """How a person names it in Slack: group/app!7 (the bot resolves the key)."""
        return f"{self.driver.project_path}!{mr.iid}"

    def _lives_end(self) -> None:
        """A life that ended forgets what it was given (manual, extensions); one its TTL
        ended (in a pass, or in the poke after any request) ended on purpose."""
        seen = self._seen()
        now = self.driver.now()
        for mr in self.mrs.values():
            mine = seen.get(mr.iid, [])
            if any(s.active for s in mine):
                self.alive.add(mr.iid)
                continue
            if mr.iid in self.alive:
                self.alive.discard(mr.iid)
                for s in mine:
                    if s.present and s.expires_at <= now and s.status is Status.GONE:
                        mr.ended = (s.sha, "purpose")
            mr.manual = False
            mr.max_expiry = None

    # -- webhooks ------------------------------------------------------------------------
    @initialize(labelled=st.sampled_from((True, False)), draft=st.sampled_from((False, True)))
    def start(self, labelled: bool, draft: bool) -> None:
        """Every example starts with an MR open: without one nothing has a life."""
        self.open_mr(labelled, draft)

    @precondition(lambda self: len(self.mrs) < len(IIDS))
    # Mostly MRs the rules want (labelled, ready): those are the ones with a life.
    @rule(labelled=st.sampled_from((True, True, False)),
          draft=st.sampled_from((False, False, True)))
    def open_mr(self, labelled: bool, draft: bool) -> None:
        iid = IIDS[len(self.mrs)]
        mr = MR(iid, self._sha(), labelled, draft)
        self.mrs[iid] = mr
        self._forge(mr, new=True)
        self._hook(mr, "open")

    def _open(self, index: int) -> MR | None:
        mrs = [m for m in self.mrs.values() if m.state == "opened"]
        return mrs[index % len(mrs)] if mrs else None

    def _any(self, index: int) -> MR | None:
        mrs = list(self.mrs.values())
        return mrs[index % len(mrs)] if mrs else None

    @precondition(lambda self: self.mrs)
    @rule(index=st.integers(0, 2))
    def push(self, index: int) -> None:
        mr = self._open(index)
        if mr is None:
            return
        old = mr.sha
        mr.sha = self._sha()
        self._forge(mr)
        self._hook(mr, "update", oldrev=old)

    @precondition(lambda self: self.mrs)
    @rule(index=st.integers(0, 2))
    def toggle_label(self, index: int) -> None:
        mr = self._open(index)
        if mr is None:
            return
        before = mr.labels
        mr.labelled = not mr.labelled
        self._forge(mr)
        self._hook(mr, "update", previous={"labels": before})

    @precondition(lambda self: self.mrs)
    @rule(index=st.integers(0, 2))
    def toggle_draft(self, index: int) -> None:
        mr = self._open(index)
        if mr is None:
            return
        mr.draft = not mr.draft
        self._forge(mr)
        self._hook(mr, "update", previous={"draft": not mr.draft})

    @precondition(lambda self: self.mrs)
    @rule(index=st.integers(0, 2), merge=st.booleans())
    def close(self, index: int, merge: bool) -> None:
        mr = self._open(index)
        if mr is None:
            return
        mr.state = "merged" if merge else "closed"
        self._forge(mr)
        alive = self._alive(mr.iid)
        if not self._hook(mr, "merge" if merge else "close"):
            return  # not taken: the pass finds it closed (and checks that)
        # A close ends its life; a deliberate end at this commit stays one (a reopen
        # does not undo a person's down or a TTL).
        if mr.ended is None or mr.ended[0] != mr.sha:
            for seen in alive:
                mr.ended = (seen.sha, "closed")
        mr.manual = False

    @precondition(lambda self: any(m.state == "closed" for m in self.mrs.values()))
    @rule(index=st.integers(0, 2))
    def reopen(self, index: int) -> None:
        closed = [m for m in self.mrs.values() if m.state == "closed"]
        mr = closed[index % len(closed)]
        mr.state = "opened"
        self._forge(mr)
        if mr.ended is not None and mr.ended[1] == "closed":
            mr.ended = None  # EndKind.MR_CLOSED: a reopen brings it back
        self._hook(mr, "reopen")

    # -- Slack ----------------------------------------------------------------------------
    @precondition(lambda self: self.mrs)
    @rule(index=st.integers(0, 2), person=st.sampled_from(PEOPLE))
    def slack_up(self, index: int, person: str) -> None:
        mr = self._any(index)
        assert mr is not None
        try:
            env = self.driver.requests.request_up_mr(self.driver.project_path, mr.iid,
                                                     actor=person, manual=True)
            self.driver.poke((env.key,))  # as the Slack handler does
        except PreviewError:
            return  # not open, or its old life is still ending: refused, nothing changed
        assert mr.state == "opened", f"up accepted for !{mr.iid}, which is {mr.state}"
        mr.manual = True
        mr.ended = None  # a person asked: it comes back, even at the same commit

    @precondition(lambda self: self.mrs)
    @rule(index=st.integers(0, 2), person=st.sampled_from(PEOPLE),
          duration=st.sampled_from(EXTENSIONS))
    def slack_extend(self, index: int, person: str, duration: timedelta) -> None:
        mr = self._any(index)
        assert mr is not None
        try:
            key = self.driver.requests.resolve(self._key(mr)).key
            env, _ = self.driver.requests.extend(key, duration, actor=person)
            self.driver.poke((key,))
        except PreviewError:
            return
        self._lengthened(mr, env)

    @precondition(lambda self: self.mrs)
    @rule(index=st.integers(0, 2), person=st.sampled_from(PEOPLE))
    def slack_keep(self, index: int, person: str) -> None:
        mr = self._any(index)
        assert mr is not None
        try:
            key = self.driver.requests.resolve(self._key(mr)).key
            env = self.driver.requests.keep(key, actor=person)
            self.driver.poke((key,))
        except PreviewError:
            return
        self._lengthened(mr, env)

    def _lengthened(self, mr: MR, env: Environment) -> None:
        expires = env.desired.expires_at
        if mr.max_expiry is not None:
            assert expires >= mr.max_expiry, (
                f"!{mr.iid}: an extend/keep moved its expiry back to {expires} "
                f"(it was given {mr.max_expiry})")
        mr.max_expiry = max(expires, mr.max_expiry or expires)

    @precondition(lambda self: self.mrs)
    @rule(index=st.integers(0, 2), person=st.sampled_from(PEOPLE))
    def slack_down(self, index: int, person: str) -> None:
        mr = self._any(index)
        assert mr is not None
        try:
            key = self.driver.requests.resolve(self._key(mr)).key
            env = self.driver.requests.request_down(key, reason="done", actor=person)
        except PreviewError:
            return
        self.driver.poke((key,))
        mr.ended = (env.desired.sha, "purpose")
        mr.manual = False

    @precondition(lambda self: self.mrs)
    @rule(index=st.integers(0, 2), person=st.sampled_from(PEOPLE))
    def slack_redeploy(self, index: int, person: str) -> None:
        mr = self._any(index)
        assert mr is not None
        try:
            key = self.driver.requests.resolve(self._key(mr)).key
            redeploy(self.driver.requests, key, actor=person)
            self.driver.poke((key,))
        except PreviewError:
            return  # Redeploy changes nothing of why it exists (README)

    # -- the world ----------------------------------------------------------------------
    @rule(delta=st.sampled_from(STEPS_OF_TIME))
    def time_passes(self, delta: timedelta) -> None:
        self.driver.advance(delta)

    @rule()
    def redis_wiped(self) -> None:
        self.driver.wipe_redis()

    @precondition(lambda self: self.renames < self.max_renames)
    @rule()
    def project_renamed(self) -> None:
        self.renames += 1
        group = self.driver.project_path.split("/")[0]
        self.driver.rename(f"{group}/renamed{self.renames}")

    @rule()
    def reconcile_pass(self) -> None:
        now = self.driver.now()
        ending: set[int] = set()
        for iid, before in self._seen().items():
            mr = self.mrs.get(iid)
            for s in before:
                if not s.active:
                    continue
                if s.expires_at <= now and mr is not None:
                    # its TTL ends it in this pass: on purpose, at its commit
                    mr.ended = (s.sha, "purpose")
                    ending.add(iid)
                if s.status is Status.TEARING_DOWN:
                    ending.add(iid)
        self.driver.run_pass()
        self._lives_end()
        seen = self._seen()
        # what the examples reach (pytest --hypothesis-show-statistics)
        event(f"environments after a pass: {sum(1 for m in self.mrs.values() if m.wanted)}")
        for mr in self.mrs.values():
            if mr.ended is not None:
                event(f"a pass with an MR ended on purpose ({mr.ended[1]})")
            if mr.manual:
                event("a pass with a manual environment")
        for mr in self.mrs.values():
            alive = [s for s in seen.get(mr.iid, []) if s.active]
            namespaces = [name for name, labels in self.driver.live_namespaces()
                          if labels.get(records.PROJECT_ID_LABEL) == str(self.driver.project_id)
                          and labels.get(records.MR_IID_LABEL) == str(mr.iid)]
            if mr.wanted and mr.iid not in ending:
                # (An MR whose old life was ending at the start of the pass gets its new
                # life once the old one is gone — the next pass: README "A new commit
                # for an environment at its end … starts a new life once the old one
                # is gone".)
                assert len(alive) == 1, f"!{mr.iid} is wanted: environments {alive}"
                assert alive[0].sha == mr.sha, f"!{mr.iid} at {alive[0].sha}, head {mr.sha}"
                assert len(namespaces) == 1, f"!{mr.iid} is wanted: namespaces {namespaces}"
            elif not mr.wanted:
                assert alive == [], f"!{mr.iid} is not wanted ({mr}) but survives: {alive}"
                assert namespaces == [], f"!{mr.iid} is not wanted but has {namespaces}"
            else:
                assert len(alive) <= 1, f"!{mr.iid}: environments {alive}"

    # -- what holds after every step ---------------------------------------------------
    @invariant()
    def what_holds_always(self) -> None:
        self._lives_end()
        for iid, seen in self._seen().items():
            mr = self.mrs.get(iid)
            for s in seen:
                assert s.owner == AUTHOR, f"!{iid} ({s.key}) is owned by {s.owner!r}"
                if not s.active or mr is None:
                    continue
                if mr.max_expiry is not None:
                    assert s.expires_at >= mr.max_expiry, (
                        f"!{iid}: expiry {s.expires_at} moved back from {mr.max_expiry}")
                if mr.ended is not None:
                    assert s.sha != mr.ended[0], (
                        f"!{iid} ended on purpose ({mr.ended[1]}) at {s.sha[:8]} "
                        f"is back: {s}")
