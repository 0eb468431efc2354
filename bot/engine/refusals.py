"""Telling a capacity refusal that no person is waiting for, once (README: `max_envs`).

A Slack or CLI ``up`` answers the person who asked. A webhook or a pass has nobody
to answer: their refusal (``CapacityError``) is told on the MR — in the note of the
environment it would have, which later turns into "ready" — and in the project's
channel, naming the oldest environments and ``max_envs``.

Once per waiting period, not per pass: a refused MR is refused again by every pass
until a slot is free, and saying so each time would bury the channel. A period starts
with the first refusal and ends when the MR gets an environment (the usual notices
then follow); a later refusal after that (a reopen, a new commit after its end) is a
new period and is told again. Within a period, a new commit still refused only edits
the note (GitLab tells nobody of an edit), so the note names the commit that waits and
the oldest environments as they are now; the channel is told once.

What was told is remembered in Redis (cheap to ask every pass) and, durably, in the
note's hidden marker: after a Redis loss the note is read once, and an MR whose note
still tells the refusal is not told again. What could not be told (GitLab or Slack
down) is not remembered: the next refusal, in the next pass, tells it again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime

from bot.config import ProjectConfig
from bot.domain.changes import ChangeRequest
from bot.domain.errors import CapacityError
from bot.domain.refusals import Refusal
from bot.engine.requests import Requests

log = logging.getLogger("previewbot.refusals")


def told_key(project_id: int, iid: int) -> str:
    return f"capacity-told:{project_id}:{iid}"


class RefusalTeller:
    def __init__(self, requests: Requests) -> None:
        self.requests = requests
        self.core = requests.core

    def capacity(self, project: ProjectConfig, mr: ChangeRequest, sha: str,
                 error: CapacityError) -> str:
        """Tell ``error`` for ``mr`` at ``sha`` unless told in this waiting period; what
        was done: "told", "note" (a new commit: the note edited), "known", "not told"."""
        key = self.requests.identities.env_key_for(project, mr.project_id, mr_iid=mr.iid,
                                                   branch=mr.source_branch)
        refusal = Refusal(project_path=project.path, project_id=mr.project_id, mr_iid=mr.iid,
                          label=f"{project.path}!{mr.iid}", env_key=key, sha=sha,
                          mr_url=mr.web_url, reason=str(error))
        try:
            told, in_channel = self._told(project, mr, refusal)
            if told == sha and in_channel:
                return "known"
            if told != sha and not self.core.review(project.path).tell_refused(refusal):
                return "not told"
            if not in_channel:
                try:
                    self.core.notifier.refused(refusal)
                except Exception:
                    self._remember(refusal, in_channel=False)  # the note is written
                    raise
        except Exception as failure:  # GitLab or Slack down (any notifier error): the
            # part not told is not remembered, so the next refusal (pass) tells it
            log.warning("capacity refusal of %s not told yet: %s", refusal.label, failure)
            return "not told"
        self._remember(refusal, in_channel=True)
        return "note" if in_channel else "told"

    def _told(self, project: ProjectConfig, mr: ChangeRequest,
              refusal: Refusal) -> tuple[str | None, bool]:
        """The commit the note tells in this waiting period (None: nothing told in it),
        and whether the channel was told in it."""
        raw = self.core.store.cached(told_key(refusal.project_id, refusal.mr_iid))
        if raw is not None:
            try:
                fields = json.loads(raw)
                sha, at = str(fields["sha"]), datetime.fromisoformat(str(fields["at"]))
                in_channel = bool(fields["channel"])
            except (ValueError, KeyError, TypeError):
                at = None  # unreadable: ask the note
            if at is not None:
                if self._had_environment_since(project, mr, at):
                    return None, False
                return sha, in_channel
        # Redis does not know (lost, expired): the note does; read once, then remembered.
        # A channel message that had failed just before Redis was lost is not retried.
        keys = self.requests.identities.candidate_keys(project, mr.project_id, mr_iid=mr.iid,
                                                       branch=mr.source_branch)
        in_note = self.core.review(project.path).refused_at(
            mr.project_id, mr.iid, list(dict.fromkeys((refusal.env_key, *keys))))
        if in_note is None:
            return None, False
        self._remember(replace(refusal, sha=in_note), in_channel=True)
        return in_note, True

    def _had_environment_since(self, project: ProjectConfig, mr: ChangeRequest,
                               told_at: datetime) -> bool:
        """The MR got an environment after it was told: that waiting period is over.
        (Creation times are whole seconds.)"""
        env = self.requests.identities.find(project, mr_iid=mr.iid, branch=mr.source_branch,
                                            project_id=mr.project_id)
        return env is not None and env.desired.created_at >= told_at.replace(microsecond=0)

    def _remember(self, refusal: Refusal, *, in_channel: bool) -> None:
        told = {"sha": refusal.sha, "at": self.core.clock.now().isoformat(),
                "channel": in_channel}
        self.core.store.cache(told_key(refusal.project_id, refusal.mr_iid), json.dumps(told),
                              self.core.settings.forge.answer_cache_ttl.total_seconds())
