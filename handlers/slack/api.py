"""The Slack Web API client: retries by slack_sdk, errors counted and translated.

429 (after its ``Retry-After``), 500/503 and dropped connections are retried by
slack_sdk's own retry handlers; what still fails is counted in
``previewbot_dependency_errors_total{dependency="slack"}`` and raised as the
core's ``TemporaryError`` (worth retrying later) or ``PermanentError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot import metrics
from bot.config import Settings
from bot.domain.errors import PermanentError, TemporaryError

TIMEOUT = 10  # seconds per call
# Slack's answers that a later call may not get again.
TEMPORARY_ERRORS = frozenset({"ratelimited", "service_unavailable", "fatal_error",
                              "internal_error", "request_timeout"})


def web_client(settings: Settings) -> WebClient:
    return WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url,
                     timeout=TIMEOUT, retry_handlers=[
                         ConnectionErrorRetryHandler(max_retry_count=2),
                         RateLimitErrorRetryHandler(max_retry_count=2),
                         ServerErrorRetryHandler(max_retry_count=2),
                     ])


def error_code(error: SlackApiError) -> str:
    """Slack's error string (``message_not_found``, ``users_not_found``…)."""
    return str(error.response.get("error", "")) if error.response is not None else ""


@contextmanager
def slack_errors(what: str) -> Iterator[None]:
    """Count and translate failures of the Web API calls inside."""
    try:
        yield
    except SlackApiError as error:
        metrics.ERRORS.labels(dependency="slack").inc()
        code = error_code(error)
        status = error.response.status_code if error.response is not None else 0
        if code in TEMPORARY_ERRORS or status >= 500 or status == 429:
            raise TemporaryError(slack_unavailable(what, code or f"HTTP {status}"),
                                 delay=30) from error
        raise PermanentError(slack_refused(what, code or f"HTTP {status}")) from error
    except (SlackClientError, OSError) as error:
        metrics.ERRORS.labels(dependency="slack").inc()
        raise TemporaryError(slack_unavailable(what, str(error)), delay=30) from error


# --- texts: what slack_errors raises ------------------------------------------


def slack_refused(what: str, code: str) -> str:
    return f"Slack refused {what}: {code}; check SLACK_BOT_TOKEN and the app's scopes (manifest)"


def slack_unavailable(what: str, detail: str) -> str:
    return f"Slack did not answer {what} ({detail}); check SLACK_API_URL, or wait for Slack"
