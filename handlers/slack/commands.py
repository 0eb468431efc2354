"""Running a parsed command (typed, or a button) for a Slack user, after the ack.

Each command checks who may act (``bot.engine.permissions``), records desired
state through the engine's request API and pokes the reconciler — exactly what
a webhook does; it never converges here. The answer is always a reply for the
person: the result, a refusal saying who may, or what was wrong and the usage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.domain.errors import NotAllowedError, PermanentError, TemporaryError
from bot.domain.messages import quoted, unknown_env
from bot.domain.model import Environment, is_active
from bot.engine.permissions import Permissions, slack_actor
from bot.engine.requests import Requests, redeploy
from handlers.slack import formatting
from handlers.slack.grammar import (
    Command,
    Down,
    Extend,
    Help,
    Keep,
    ListEnvs,
    Redeploy,
    Status,
    Up,
    name_of,
    suggest,
    verb_of,
)

log = logging.getLogger("previewbot.slack")


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    blocks: formatting.Blocks
    ok: bool = True
    env_key: str = ""  # the environment acted on, when one was


class Commands:
    def __init__(self, requests: Requests, permissions: Permissions,
                 poke: Callable[[str], None]) -> None:
        self.requests = requests
        self.permissions = permissions
        self.poke = poke

    @property
    def projects(self) -> list[str]:
        """Configured paths and slugs: the grammar checks PROJECT against them."""
        config = self.requests.config
        return [p.path for p in config.projects] + [p.slug for p in config.projects]

    def run(self, command: Command, user_id: str) -> Reply:
        try:
            return self._run(command, user_id)
        except NotAllowedError as error:
            return Reply(*formatting.refusal(str(error)), ok=False)
        except TemporaryError as error:
            text = command_failed_temporarily(str(error))
            return Reply(*formatting.error_reply(text, name_of(command)), ok=False)
        except PermanentError as error:
            return Reply(*formatting.error_reply(str(error), name_of(command)), ok=False)
        except Exception:
            log.exception("/preview %s by %s crashed", name_of(command), user_id)
            return Reply(*formatting.error_reply(command_crashed(), None), ok=False)

    def _run(self, command: Command, user_id: str) -> Reply:
        now = self.requests.now()
        actor = slack_actor(user_id)
        match command:
            case Help(topic):
                return Reply(*formatting.help_reply(topic))
            case ListEnvs(mine, project):
                return self._list(user_id, mine, project, now)
            case Status(text):
                env = self.resolve(text)
                return Reply(*formatting.status_reply(env, self.requests.history(env.key), now),
                             env_key=env.key)
            case Up():
                return self._up(command, user_id, actor, now)
            case Extend(text, duration):
                env = self._changeable(text, user_id, verb_of(command))
                env, capped = self.requests.extend(env.key, duration, actor=actor)
                return self._done(env, formatting.extended(env, capped), now)
            case Keep(text):
                env = self._changeable(text, user_id, verb_of(command))
                env = self.requests.keep(env.key, actor=actor)
                return self._done(env, formatting.kept(env), now)
            case Down(text):
                env = self._changeable(text, user_id, verb_of(command))
                env = self.requests.request_down(
                    env.key, reason=down_requested_in_slack(actor), actor=actor)
                return self._done(env, formatting.tearing_down(env), None)
            case Redeploy(text):
                env = self.resolve(text)
                self.permissions.check_up(user_id, self.requests.project(env.desired.project_path))
                env = redeploy(self.requests, env.key, actor=actor)
                return self._done(env, formatting.redeploying(env), now)
        raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover

    def _list(self, user_id: str, mine: bool, project: str | None, now: datetime) -> Reply:
        envs = self.requests.environments(project=project)
        if mine:
            envs = [env for env in envs if self.permissions.owns(user_id, env)]
        scope = "yours" if mine else (self.requests.project(project).path if project
                                      else "all projects")
        return Reply(*formatting.env_list(envs, now, scope))

    def _up(self, command: Up, user_id: str, actor: str, now: datetime) -> Reply:
        ref = command.ref
        assert ref.project_path is not None  # the grammar demands PROJECT
        project = self.requests.project(ref.project_path)
        self.permissions.check_up(user_id, project)
        existing = self.requests.identities.find(project, mr_iid=ref.mr_iid,
                                                 branch=ref.branch or "")
        if command.ttl is not None and existing is not None and is_active(existing):
            # A lifetime for an environment that runs already is an extend: the same
            # people may give it.
            self.permissions.check_change(user_id, verb_of(Extend(existing.key)), existing)
        if ref.mr_iid is not None:
            env = self.requests.request_up_mr(project.path, ref.mr_iid, actor=actor,
                                              ttl=command.ttl, manual=True)
        else:
            env = self.requests.request_up_branch(project.path, ref.branch or "", actor=actor,
                                                  ttl=command.ttl, manual=True)
        return self._done(env, formatting.deploying(env, project.channel), now)

    def _done(self, env: Environment, text: str, now: datetime | None) -> Reply:
        self.poke(env.key)  # the reconciler converges, as after a webhook
        return Reply(*formatting.done(text, env, now), env_key=env.key)

    def _changeable(self, text: str, user_id: str, verb: str) -> Environment:
        """``verb``: what the refusal says one may not do (``grammar.verb_of``)."""
        env = self.resolve(text)
        self.permissions.check_change(user_id, verb, env)
        return env

    def resolve(self, text: str) -> Environment:
        """The environment a person named; an unknown one gets a "did you mean"."""
        try:
            return self.requests.resolve(text)
        except PermanentError as error:
            keys = [env.key for env in self.requests.environments()]
            close = suggest(text.strip().lower(), keys)
            if close is None:
                raise
            raise PermanentError(unknown_env_suggested(text, close)) from error


# --- texts: command replies, and the reason of a teardown asked for in Slack --


def unknown_env_suggested(text: str, suggestion: str) -> str:
    return f"{unknown_env(text)}; did you mean {quoted(suggestion)}?"


def command_failed_temporarily(detail: str) -> str:
    return f"could not do that now: {detail}; nothing was changed — try again in a moment"


def command_crashed() -> str:
    return ("something went wrong on previewbot's side (it is in the bot's log); "
            "nothing may have changed — check with /preview status, then try again")


def down_requested_in_slack(actor: str) -> str:
    return f"requested in Slack by {actor}"
