"""One error hierarchy for the whole core.

Adapters around clients (Kubernetes, Helm, GitLab, Slack, Redis) wrap the
client's exception with ``raise … from e`` into one of these, so callers only
ever need to know: retry later (``TemporaryError``) or give up and tell a
person (``PermanentError``). ``str(error)`` is a text a person can act on.
"""

from __future__ import annotations


class PreviewError(Exception):
    """Base of every error previewbot raises on purpose."""


class TemporaryError(PreviewError):
    """Worth retrying: a dependency is down or busy. ``delay`` is seconds to wait."""

    def __init__(self, message: str, *, delay: float = 10.0) -> None:
        super().__init__(message)
        self.delay = delay


class StepTimeoutError(TemporaryError):
    """A step ran out of time (a Helm hook or wait): retried a few times, then the
    environment ends FAILED with the reason instead of retrying forever."""


class DeployInterrupted(TemporaryError):
    """The deploy tool (Helm) could not finish for a reason of the cluster or network (a
    webhook without endpoints, a lost connection): the environment is FAILED with a retry
    time and tried again with the same inputs. Any other TemporaryError during a deploy
    is a blip retried quietly after its delay."""


class AccessError(TemporaryError):
    """A dependency rejected the bot's credentials or permissions (HTTP 401/403). Never a
    refusal: an operator may be renewing the token, so the work is retried (then parked
    with this reason), and nothing asked for is dropped."""


class PermanentError(PreviewError):
    """Retrying will not help: bad input, refused by policy, broken chart."""


class ConfigError(PermanentError):
    """The configuration file or environment is invalid."""


class NotOwnedError(PermanentError):
    """An object exists but was not created by previewbot; it is never touched."""


class BadDeliveryError(PermanentError):
    """A queued webhook delivery is malformed; retrying cannot help, so it is parked at once."""


class NotAllowedError(PermanentError):
    """The person may not do this (who may is in the message); nothing was changed."""


class CapacityError(PermanentError):
    """A new environment is refused: ``scope`` (a project path, or "all projects") has
    ``limit`` environments (``max_envs``); ``oldest`` are their keys, oldest first. The
    caller that no person is waiting on (a webhook, a pass) tells the MR and the channel
    (``bot.engine.refusals``)."""

    def __init__(self, message: str, *, scope: str, limit: int,
                 oldest: tuple[str, ...]) -> None:
        super().__init__(message)
        self.scope = scope
        self.limit = limit
        self.oldest = oldest
