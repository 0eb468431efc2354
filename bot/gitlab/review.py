"""What GitLab shows of an environment: a GitLab Environment and one MR note.

The bot only ever changes the GitLab environment it made itself, known by the id
it keeps (``Observed.review_environment_id``, also on the namespace). A CI review
app of the same name is never updated, stopped or deleted: the bot then uses
``review/<ENV>`` for its own.

The MR note follows the environment: ready with the URL, failed with the reason,
held (its namespace's deletion stuck: what holds it), torn down with the reason. A
note of an environment ended on purpose (a person, its TTL) carries a hidden marker
with the commit, the durable record that discovery must not bring it back for that
commit (see ``bot.engine.discovery``).
Before there is an environment, the same note says why there is none yet (capacity,
``bot.engine.refusals``) with a hidden marker of the refused commit: edited into
"ready" once it is created, so an MR never collects a second bot note.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from bot.domain.changes import Shown
from bot.domain.errors import PreviewError, TemporaryError
from bot.domain.model import Environment, short_sha
from bot.domain.refusals import Refusal
from bot.gitlab.client import GitLab

log = logging.getLogger("previewbot.gitlab")

_ENDED = "<!-- previewbot-ended:"
_REFUSED = "<!-- previewbot-refused:"
_GITLAB_ENV_NAME = re.compile(r"[a-zA-Z0-9_/${}. -]+")


class GitLabReview:
    """The engine's ``ReviewSurface`` on GitLab. Errors of the environment and of the
    note are told apart: one failing does not keep the other from being written."""

    def __init__(self, gitlab: GitLab) -> None:
        self._gitlab = gitlab

    def describe(self, env: Environment) -> str:
        return f"GitLab environment {environment_name(env)}"

    def show(self, env: Environment, *, known_id: int | None,
             create_started_at: datetime | None) -> Shown:
        made, complete = None, True
        try:
            for name in dict.fromkeys((environment_name(env), fallback_environment_name(env))):
                made = self._gitlab.ensure_environment(
                    env.desired.project_id, name, env.observed.url, known_id=known_id,
                    create_started_at=create_started_at)
                if made is not None:
                    break
                log.warning("GitLab environment %s of project %d was not made by previewbot; "
                            "left alone", name, env.desired.project_id)
        except PreviewError as error:
            log.warning("GitLab environment of %s postponed: %s", env.key, error)
            complete = False
        complete = self._note(env, ready_note(env)) and complete
        return Shown(made, complete)

    def tell_failed(self, env: Environment) -> bool:
        return self._note(env, failed_note(env))

    def tell_held(self, env: Environment, text: str) -> bool:
        return self._note(env, held_note(env, text))

    def stop(self, env: Environment, reason: str, *, deliberate: bool) -> bool:
        environment_id = env.observed.review_environment_id
        try:
            if environment_id is not None:
                self._gitlab.stop_environment(env.desired.project_id, environment_id)
        except TemporaryError as error:
            log.warning("could not stop GitLab environment of %s: %s", env.key, error)
            return False
        except PreviewError as error:  # gone (404) or refused for good: nothing left to stop
            log.warning("GitLab environment of %s not stopped, and never will be: %s",
                        env.key, error)
        return self._note(env, torn_down_note(env, reason, deliberate=deliberate))

    def ended_at(self, project_id: int, iid: int) -> str | None:
        # The note written last is the MR's last life, whatever key it had (a project
        # renamed twice leaves notes under three keys; the oldest is the first life).
        body = self._gitlab.mr_note(project_id, iid, [ANY_NOTE_MARKER], latest=True)
        return ended_sha(body) if body else None

    def tell_refused(self, refusal: Refusal) -> bool:
        try:
            # An ended-on-purpose marker of an earlier life stays: it is the durable
            # record discovery reads after a Redis loss (see ``ended_at``).
            before = self._gitlab.mr_note(refusal.project_id, refusal.mr_iid,
                                          [note_marker(refusal.env_key)])
        except TemporaryError as error:
            log.warning("MR note of %s postponed: %s", refusal.env_key, error)
            return False
        except PreviewError:
            before = None  # unreadable for good: the write below says why
        ended = ended_sha(before) if before else None
        return self._note_at(refusal.project_id, refusal.mr_iid, refusal.env_key,
                             refused_note(refusal, ended=ended))

    def refused_at(self, project_id: int, iid: int, env_keys: list[str]) -> str | None:
        body = self._gitlab.mr_note(project_id, iid, [note_marker(key) for key in env_keys])
        return _marked_sha(body, _REFUSED) if body else None

    def _note(self, env: Environment, body: str) -> bool:
        if env.desired.mr_iid is None:
            return True
        return self._note_at(env.desired.project_id, env.desired.mr_iid, env.key, body)

    def _note_at(self, project_id: int, iid: int, env_key: str, body: str) -> bool:
        try:
            self._gitlab.upsert_mr_note(project_id, iid, note_marker(env_key), body)
        except TemporaryError as error:
            log.warning("MR note of %s postponed: %s", env_key, error)
            return False
        except PreviewError as error:  # the MR is gone (404): there is nothing to tell
            log.warning("MR note of %s not written, and never will be: %s", env_key, error)
        return True


def environment_name(env: Environment) -> str:
    """``review/<source branch>`` (README "GitLab webhooks") where GitLab accepts it
    (letters, digits, ``_/$ {}.-``, ≤ 255 characters, no leading/trailing ``/``); else
    ``review/<ENV>``, so any branch name still gets a GitLab environment."""
    name = f"review/{env.desired.branch}"
    if len(name) <= 255 and not name.endswith("/") and _GITLAB_ENV_NAME.fullmatch(name):
        return name
    return fallback_environment_name(env)


def fallback_environment_name(env: Environment) -> str:
    return f"review/{env.key}"


def note_marker(env_key: str) -> str:
    """Hidden marker that finds the bot's one note per environment on an MR."""
    return f"{ANY_NOTE_MARKER}{env_key} -->"


ANY_NOTE_MARKER = "<!-- previewbot:"  # the start of every environment's note marker


def ended_marker(sha: str) -> str:
    """Hidden in the MR note of an environment ended on purpose (by a person or its
    TTL) at commit ``sha``: after a Redis loss, discovery reads it and does not bring
    the environment back for that same commit."""
    return f"{_ENDED}{sha} -->"


def ended_sha(note_body: str) -> str | None:
    """The commit of :func:`ended_marker` in a note body; None when it has none."""
    return _marked_sha(note_body, _ENDED)


def refused_marker(sha: str) -> str:
    """Hidden in the note of an MR whose commit ``sha`` was refused an environment
    (capacity): after a Redis loss, that it was told already is read from here."""
    return f"{_REFUSED}{sha} -->"


def _marked_sha(note_body: str, prefix: str) -> str | None:
    start = note_body.find(prefix)
    if start < 0:
        return None
    end = note_body.find(" -->", start)
    sha = note_body[start + len(prefix):end] if end > 0 else ""
    return sha if sha.isalnum() else None


def ready_note(env: Environment) -> str:
    until = f"{env.desired.expires_at:%Y-%m-%d %H:%M} UTC"
    return (f"{note_marker(env.key)}\n:rocket: Preview environment ready: {env.observed.url}"
            f"\n\nDeployed commit `{short_sha(env.desired.sha)}`; it stays up until {until} "
            "(`/preview extend` in Slack keeps it longer).")


def failed_note(env: Environment) -> str:
    return (f"{note_marker(env.key)}\n:x: Preview environment of commit "
            f"`{short_sha(env.desired.sha)}` failed: {env.observed.reason}\n\nA new commit "
            f"retries it, or `/preview up {env.desired.label}` in Slack.")


def held_note(env: Environment, text: str) -> str:
    return (f"{note_marker(env.key)}\n:hourglass: Preview environment of commit "
            f"`{short_sha(env.desired.sha)}` is not gone yet: {text}")


def torn_down_note(env: Environment, reason: str, *, deliberate: bool) -> str:
    note = (f"{note_marker(env.key)}\n:wastebasket: Preview environment torn down: {reason} "
            f"(it ran commit `{short_sha(env.desired.sha)}`).")
    if deliberate:
        note += (f"\n\nIt stays down until a new commit or "
                 f"`/preview up {env.desired.label}` in Slack.\n{ended_marker(env.desired.sha)}")
    return note


def refused_note(refusal: Refusal, *, ended: str | None = None) -> str:
    note = (f"{note_marker(refusal.env_key)}\n:hourglass: No preview environment yet for "
            f"commit `{short_sha(refusal.sha)}`: {refusal.reason}.\n\nIt is created by itself "
            "as soon as one is free (this note then shows its URL); a teardown of one of "
            f"those frees a slot at once.\n{refused_marker(refusal.sha)}")
    return note + (f"\n{ended_marker(ended)}" if ended else "")
