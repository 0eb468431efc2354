"""A review surface in dicts: forge environments and one note per environment.

What the engine relies on, kept: only the environment the bot made (``known_id``) is
changed; a create whose answer was lost (``create_started_at``) is found again, not made
twice; an environment without a change request has no note; a deliberate stop leaves
the commit in the note (``ended_at``). "Lag" is the forge not taking a write (down, or
slow): ``show`` answers incomplete and the others False, and nothing changes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from bot.domain.changes import Shown
from bot.domain.model import Environment
from bot.domain.refusals import Refusal
from tests.fakes.memory.faults import Faults


@dataclass(frozen=True)
class ReviewCall:
    method: str  # "show", "tell_failed", "tell_held", "stop", "ended_at", "tell_refused"
    env_key: str
    detail: str = ""
    taken: bool = True


@dataclass(frozen=True)
class ForgeEnvironment:
    id: int
    env_key: str
    url: str
    stopped: bool = False


@dataclass(frozen=True)
class Note:
    kind: str  # "ready", "failed", "held", "stopped", "refused"
    text: str  # the URL, the reason, what holds its namespace
    ended_at: str | None = None  # the commit of a deliberate end
    refused_at: str | None = None  # the commit refused an environment (capacity)


class FakeReview:
    def __init__(self) -> None:
        self.faults = Faults(self)
        self.calls: list[ReviewCall] = []
        self.environments: dict[int, ForgeEnvironment] = {}
        self.notes: dict[tuple[int, int, str], Note] = {}  # (project id, iid, env key)
        self._lagging = 0
        self._next_id = 1
        self._lock = threading.Lock()

    def lag(self, times: int = 1) -> None:
        """The next ``times`` writes are not taken."""
        with self._lock:
            self._lagging += times

    def answer_again(self) -> None:
        """The forge takes writes again (what was not taken stays as it was)."""
        with self._lock:
            self._lagging = 0

    # -- ReviewSurface ---------------------------------------------------------------
    def describe(self, env: Environment) -> str:
        return f"fake environment {env.key}"

    def show(self, env: Environment, *, known_id: int | None,
             create_started_at: datetime | None) -> Shown:
        self.faults.check("show")
        with self._lock:
            if self._lag("show", env):
                return Shown(known_id, False)
            made = self._find(env.key, known_id, create_started_at)
            if made is None:
                made, self._next_id = self._next_id, self._next_id + 1
            self.environments[made] = ForgeEnvironment(made, env.key, env.observed.url)
            self._note(env, Note("ready", env.observed.url))
            self.calls.append(ReviewCall("show", env.key, env.observed.url))
            return Shown(made, True)

    def tell_failed(self, env: Environment) -> bool:
        self.faults.check("tell_failed")
        with self._lock:
            if self._lag("tell_failed", env):
                return False
            self._note(env, Note("failed", env.observed.reason))
            self.calls.append(ReviewCall("tell_failed", env.key, env.observed.reason))
            return True

    def tell_held(self, env: Environment, text: str) -> bool:
        self.faults.check("tell_held")
        with self._lock:
            if self._lag("tell_held", env):
                return False
            self._note(env, Note("held", text))
            self.calls.append(ReviewCall("tell_held", env.key, text))
            return True

    def stop(self, env: Environment, reason: str, *, deliberate: bool) -> bool:
        self.faults.check("stop")
        with self._lock:
            if self._lag("stop", env):
                return False
            made = env.observed.review_environment_id
            current = self.environments.get(made) if made is not None else None
            if current is not None:
                self.environments[current.id] = ForgeEnvironment(current.id, current.env_key,
                                                                 current.url, stopped=True)
            self._note(env, Note("stopped", reason,
                                 env.desired.sha if deliberate else None))
            self.calls.append(ReviewCall("stop", env.key, reason))
            return True

    def ended_at(self, project_id: int, iid: int) -> str | None:
        self.faults.check("ended_at")
        with self._lock:
            last = None  # ``notes`` is in the order written (see ``_put``)
            for (pid, note_iid, _), note in self.notes.items():
                if (pid, note_iid) == (project_id, iid):
                    last = note
            return last.ended_at if last else None

    def tell_refused(self, refusal: Refusal) -> bool:
        self.faults.check("tell_refused")
        with self._lock:
            if self._lagging > 0:
                self._lagging -= 1
                self.calls.append(ReviewCall("tell_refused", refusal.env_key, taken=False))
                return False
            where = (refusal.project_id, refusal.mr_iid, refusal.env_key)
            before = self.notes.get(where)
            self._put(where, Note("refused", refusal.reason,
                                  before.ended_at if before else None, refusal.sha))
            self.calls.append(ReviewCall("tell_refused", refusal.env_key, refusal.reason))
            return True

    def refused_at(self, project_id: int, iid: int, env_keys: list[str]) -> str | None:
        self.faults.check("refused_at")
        with self._lock:
            for key in env_keys:
                note = self.notes.get((project_id, iid, key))
                if note is not None:
                    return note.refused_at
            return None

    # -- under self._lock --------------------------------------------------------------
    def _lag(self, method: str, env: Environment) -> bool:
        if self._lagging <= 0:
            return False
        self._lagging -= 1
        self.calls.append(ReviewCall(method, env.key, taken=False))
        return True

    def _find(self, env_key: str, known_id: int | None,
              create_started_at: datetime | None) -> int | None:
        if known_id is not None and known_id in self.environments:
            return known_id
        if create_started_at is not None:  # made before, its answer lost: it is ours
            for made in self.environments.values():
                if made.env_key == env_key:
                    return made.id
        return None

    def _note(self, env: Environment, note: Note) -> None:
        if env.desired.mr_iid is not None:
            self._put((env.desired.project_id, env.desired.mr_iid, env.key), note)

    def _put(self, where: tuple[int, int, str], note: Note) -> None:
        self.notes.pop(where, None)  # written last, listed last: as GitLab's updated_at
        self.notes[where] = note
