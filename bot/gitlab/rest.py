"""python-gitlab plumbing for `bot.gitlab`: a client that never sleeps, and error translation.

python-gitlab waits out 429 answers itself (sleeping Retry-After, up to ten times),
which would park a worker thread for minutes. `RestClient` turns that off and keeps
the Retry-After of the last 429 (per thread), so the caller gets a `TemporaryError`
whose `delay` is what GitLab asked for, and the queue does the waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gitlab
from gitlab.exceptions import GitlabAuthenticationError, GitlabError, RedirectError

from bot import metrics
from bot.domain.errors import AccessError, PermanentError, PreviewError, TemporaryError

PER_PAGE = 100  # GitLab's maximum: fewest round trips when walking lists
RATE_LIMIT_DELAY = 60.0  # seconds, when a 429 carries no usable Retry-After
FAILURE_DELAY = 10.0  # seconds, after 5xx, timeouts and refused connections
ACCESS_DELAY = 60.0  # seconds, after 401/403: someone has to fix the token first
_TEMPORARY_STATUSES = frozenset({408, 409, 425})  # timeout, resource lock, too early


class RestClient(gitlab.Gitlab):
    """`gitlab.Gitlab` that fails fast on 429 and remembers the Retry-After it got."""

    def __init__(self, url: str, token: str, *, timeout: float) -> None:
        super().__init__(url, private_token=token, timeout=timeout, per_page=PER_PAGE)
        self._last = threading.local()
        self.session.hooks["response"].append(self._remember_retry_after)

    def http_request(self, verb: str, path: str, *args: Any, **kwargs: Any) -> Any:
        kwargs["obey_rate_limit"] = False
        kwargs["retry_transient_errors"] = False
        return super().http_request(verb, path, *args, **kwargs)

    def _remember_retry_after(self, response: Any, *args: Any, **kwargs: Any) -> None:
        limited = response.status_code == 429
        self._last.retry_after = response.headers.get("Retry-After") if limited else None

    def retry_after(self) -> float | None:
        """Seconds GitLab asked to wait in this thread's last answer (a 429), if it said."""
        raw = getattr(self._last, "retry_after", None)
        try:
            return max(1.0, float(raw)) if raw is not None else None
        except ValueError:  # an HTTP date: rare enough to use the default delay
            return None

    @contextmanager
    def guard(self, action: str, subject: str) -> Iterator[None]:
        """Turn python-gitlab and transport errors raised inside into `bot.domain.errors` errors."""
        try:
            yield
        except (GitlabError, OSError) as error:
            metrics.ERRORS.labels(dependency="gitlab").inc()
            raise translate(error, action, subject, self.retry_after()) from error


def translate(
    error: Exception, action: str, subject: str, retry_after: float | None = None
) -> PreviewError:
    """The `bot.domain.errors` error for a failed call `action` (e.g. "reading") on `subject`."""
    if isinstance(error, GitlabAuthenticationError):
        return AccessError(
            f"GitLab rejected GITLAB_TOKEN (401) while {action} {subject}: the token is "
            "wrong, expired or revoked; use a token with the api scope",
            delay=ACCESS_DELAY,
        )
    if isinstance(error, RedirectError):
        return PermanentError(
            f"GitLab redirected a write while {action} {subject}: "
            "set GITLAB_URL to GitLab's final address (scheme and host)"
        )
    if isinstance(error, GitlabError) and error.response_code is not None:
        return _by_status(
            error.response_code, str(error.error_message), action, subject, retry_after
        )
    if isinstance(error, GitlabError):  # e.g. an HTML page from a proxy instead of JSON
        return TemporaryError(
            f"GitLab gave an unreadable answer while {action} {subject}: {error}",
            delay=FAILURE_DELAY,
        )
    if isinstance(error, ValueError):  # requests' InvalidURL, MissingSchema, …
        return PermanentError(f"GITLAB_URL is not usable ({error}) while {action} {subject}")
    return TemporaryError(
        f"GitLab is unreachable while {action} {subject}: {error}", delay=FAILURE_DELAY
    )


def _by_status(
    status: int, message: str, action: str, subject: str, retry_after: float | None
) -> PreviewError:
    if status == 429:
        delay = retry_after or RATE_LIMIT_DELAY
        return TemporaryError(
            f"GitLab rate-limits the bot (429) while {action} {subject}; retry in {delay:g} s",
            delay=delay,
        )
    if status >= 500 or status in _TEMPORARY_STATUSES:
        return TemporaryError(
            f"GitLab failed ({status}) while {action} {subject}: {message}", delay=FAILURE_DELAY
        )
    if status == 403:
        return AccessError(
            f"GITLAB_TOKEN lacks access (403) while {action} {subject}: it needs the api "
            f"scope and a role on the project that allows this ({message})",
            delay=ACCESS_DELAY,
        )
    if status == 401:
        return AccessError(
            f"GitLab rejected GITLAB_TOKEN (401) while {action} {subject}: the token is "
            "wrong, expired or revoked; use a token with the api scope",
            delay=ACCESS_DELAY,
        )
    if status == 404:
        return PermanentError(
            f"GitLab has no {subject} (404 while {action} it: {message}), "
            "or GITLAB_TOKEN cannot see it"
        )
    return PermanentError(f"GitLab refused ({status}) while {action} {subject}: {message}")
