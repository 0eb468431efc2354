"""Who may act on an environment from Slack (README "Slack app").

- ``down``, ``extend`` and ``keep`` (commands and buttons): the MR's author, the
  project's GitLab Maintainers and Owners, and ``slack_admins``.
- ``up`` and ``Redeploy``: every *member*, which here means a full member of the
  Slack workspace the app is installed in — not a guest (single- or
  multi-channel), not a person from another organisation (Slack Connect), not a
  bot or a deactivated account — plus the people in ``slack_users`` and the
  admins. Why not GitLab project membership: GitLab shows e-mail addresses only
  to admin tokens, so most developers could not be matched to a member and would
  be locked out; the workspace is the organisation's own identity boundary; and
  ``up`` only deploys code already in the project (an open MR or an existing
  branch, both checked with GitLab), bounded by TTL and ``max_envs``, and
  destroys nothing.

A person is matched from GitLab to Slack by the ``slack_users`` map, else by the
GitLab user's e-mail (``Forge.user_email``: the public one unless the
token is an admin's) looked up in Slack (``users.lookupByEmail``). Owners that
name a Slack user directly (``slack:U…``: a branch environment brought up from
Slack) need no lookup. Lookups are cached briefly (``ttl``) on the injectable
clock; misses too, so a stranger pressing buttons costs no API calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from bot.config import Config, ProjectConfig
from bot.domain.errors import NotAllowedError
from bot.domain.model import Clock, Environment
from bot.engine.ports import Forge
from bot.engine.settings import ForgeSettings

SLACK_ACTOR_PREFIX = "slack:"
GITLAB_ACTOR_PREFIX = "gitlab:"
T = TypeVar("T")


def slack_actor(user_id: str) -> str:
    """How a Slack user is written in history, audit and as a branch environment's owner."""
    return SLACK_ACTOR_PREFIX + user_id


@dataclass(frozen=True, slots=True)
class Person:
    """A person of the chat workspace as its directory shows them (Slack: ``users.info``)."""

    user_id: str
    email: str = ""  # "" when Slack does not show it
    guest: bool = False  # single/multi-channel guest, or from another organisation
    bot: bool = False
    deleted: bool = False

    @property
    def is_member(self) -> bool:
        return not (self.guest or self.bot or self.deleted)


class PeopleDirectory(Protocol):
    """The chat side of the lookups (Slack's, over its Web API, in handlers.slack)."""

    def person(self, user_id: str) -> Person | None:
        """The user behind a Slack user id; None when Slack knows none."""
        ...

    def user_id_for_email(self, email: str) -> str | None:
        """The Slack user id with this e-mail; None when there is none."""
        ...


class TtlCache:
    """A small in-process cache whose entries expire after ``ttl`` on ``clock``."""

    def __init__(self, clock: Clock, ttl: timedelta) -> None:
        self._clock = clock
        self._ttl = ttl
        self._entries: dict[object, tuple[datetime, object]] = {}
        self._lock = threading.Lock()

    def get(self, key: object, compute: Callable[[], T]) -> T:
        now = self._clock.now()
        with self._lock:
            found = self._entries.get(key)
        if found is not None and found[0] > now:
            return found[1]  # type: ignore[return-value]
        value = compute()  # errors are not cached: the next call asks again
        with self._lock:
            self._entries[key] = (now + self._ttl, value)
        return value


class Permissions:
    """Built from the config, the forge and the clock alone (not the core): the Slack
    notifier needs it, and the core needs the notifier."""

    def __init__(self, config: Config, forge: Forge | None, clock: Clock,
                 directory: PeopleDirectory, *, ttl: timedelta | None = None) -> None:
        self.config = config
        self.forge = forge
        self.directory = directory
        self._cache = TtlCache(clock, ForgeSettings().people_cache_ttl if ttl is None else ttl)

    # -- lookups -----------------------------------------------------------
    def slack_id_of(self, owner: str) -> str | None:
        """The Slack user id of an owner or GitLab username; None when unknown."""
        if owner.startswith(SLACK_ACTOR_PREFIX):
            return owner.removeprefix(SLACK_ACTOR_PREFIX) or None
        username = owner.removeprefix(GITLAB_ACTOR_PREFIX)
        if not username or ":" in username:  # "cli:root": nobody in Slack
            return None
        mapped = self.config.slack_users.get(username)
        if mapped:
            return mapped
        forge = self.forge
        if forge is None:
            return None
        email = self._cache.get(("email", username.lower()), lambda: forge.user_email(username))
        if not email:
            return None
        return self._cache.get(("slack-id", email.lower()),
                               lambda: self.directory.user_id_for_email(email))

    def maintainers(self, env: Environment) -> tuple[str, ...]:
        """GitLab usernames of the project's Maintainers and Owners."""
        if self.forge is None:
            return ()
        source, project_id = self.forge.source(env.desired.project_path), env.desired.project_id
        return self._cache.get(("maintainers", project_id),
                               lambda: source.maintainers(project_id))

    def owns(self, user_id: str, env: Environment) -> bool:
        """Is ``user_id`` the environment's author (MR author, or who brought a branch up)?"""
        return bool(env.desired.owner) and self.slack_id_of(env.desired.owner) == user_id

    # -- decisions ---------------------------------------------------------
    def may_change(self, user_id: str, env: Environment) -> bool:
        """May ``user_id`` tear down, extend or keep ``env``? Cheapest checks first."""
        config = self.config
        if user_id in config.slack_admins or self.owns(user_id, env):
            return True
        maintainers = self.maintainers(env)
        mapped = {name.lower() for name, slack_id in config.slack_users.items()
                  if slack_id == user_id}
        if any(name.lower() in mapped for name in maintainers):
            return True
        return any(self.slack_id_of(name) == user_id for name in maintainers)

    def check_change(self, user_id: str, action: str, env: Environment) -> None:
        """Raise NotAllowedError naming who may, unless ``user_id`` may ``action`` ``env``."""
        if self.may_change(user_id, env):
            return
        raise NotAllowedError(not_allowed(
            action, env.key, env.desired.label, author=env.desired.owner,
            project_path=env.desired.project_path, maintainers=self.maintainers(env),
            admins=self.config.slack_admins))

    def check_up(self, user_id: str, project: ProjectConfig) -> None:
        """Raise NotAllowedError unless ``user_id`` is a member (see the module's docstring)."""
        config = self.config
        if user_id in config.slack_admins or user_id in config.slack_users.values():
            return
        person = self._cache.get(("person", user_id), lambda: self.directory.person(user_id))
        if person is None or not person.is_member:
            raise NotAllowedError(up_not_allowed(project.path, config.slack_admins))


# --- texts: who may act (the engine's permissions, shown in Slack) ------------

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


def _listing(items: Iterable[str]) -> str:
    return ", ".join(items)
