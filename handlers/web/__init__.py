"""HTTP adapter (Starlette): GitLab webhooks, Slack (mounted from handlers.slack), health,
readiness.

The webhook endpoint authenticates before it reads the body, caps the body at
1 MiB, answers `ignored` for events previewbot does not act on, and otherwise
puts the delivery into the durable queue *before* answering 202 — GitLab does
not retry a failed delivery, so nothing accepted may be lost.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import metrics
from bot.config import Config
from bot.domain import messages
from bot.domain.errors import PermanentError, TemporaryError
from bot.engine.health import Check
from bot.gitlab.hooks import Ignored, decide
from bot.state.queue import DeliveryQueue

log = logging.getLogger("previewbot.web")
MAX_BODY = 1024 * 1024

# The answers the webhook endpoint gives GitLab (shown under Settings → Webhooks →
# Recent events); the Slack endpoint answers a body over MAX_BODY the same way.
WEBHOOK_UNAUTHORIZED = "unauthorized"
WEBHOOK_TOO_LARGE = "body larger than 1 MiB"
WEBHOOK_NOT_JSON_TYPE = "Content-Type must be application/json"
WEBHOOK_NO_EVENT_HEADER = "missing X-Gitlab-Event header"
WEBHOOK_BAD_JSON = "body is not valid JSON"
WEBHOOK_QUEUE_DOWN = "queue unavailable (Redis is down); resend the delivery from GitLab later"


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True)
class WebDeps:
    config: Config
    queue: DeliveryQueue
    webhook_secret: str
    readiness: Callable[[], list[Check]]
    # POST /slack/events (Bolt, handlers.slack); None: Slack not configured or Socket Mode.
    slack_events: Callable[[Request], Awaitable[Response]] | None = None


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: an answer that quotes a delivery
    (an "ignored" reason naming its project) can always be sent, even when the
    delivery carried text UTF-8 cannot encode (a lone UTF-16 surrogate)."""

    def render(self, content: object) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _reply(status: int, body: dict[str, str], started: float, outcome: str) -> JSONResponse:
    metrics.WEBHOOKS.labels(outcome=outcome).inc()
    metrics.WEBHOOK_LATENCY.observe(time.perf_counter() - started)
    return AsciiJSONResponse(body, status_code=status)


async def read_capped(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def gitlab_webhook(deps: WebDeps) -> Callable[[Request], object]:
    secret = deps.webhook_secret.encode("utf-8")

    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        # Starlette decodes header bytes as latin-1: this gives back the bytes sent.
        token = request.headers.get("x-gitlab-token", "").encode("latin-1")
        if not hmac.compare_digest(token, secret):
            return _reply(401, {"error": WEBHOOK_UNAUTHORIZED}, started, "unauthorized")
        try:
            body = await read_capped(request)
        except BodyTooLarge:
            return _reply(413, {"error": WEBHOOK_TOO_LARGE}, started, "too_large")
        event_type = request.headers.get("x-gitlab-event", "")
        payload, problem = _parse(request, body, event_type)
        if payload is None:
            return _reply(400, {"error": problem}, started, "malformed")
        try:
            decision = decide(event_type, payload, deps.config)
        except PermanentError as error:
            return _reply(400, {"error": str(error)}, started, "malformed")
        if isinstance(decision, Ignored):
            return _reply(200, {"status": "ignored", "reason": decision.reason}, started,
                          "ignored")
        dedupe = (request.headers.get("idempotency-key")
                  or request.headers.get("x-gitlab-event-uuid"))
        try:
            result = await run_in_threadpool(deps.queue.enqueue, event_type, body, dedupe)
        except TemporaryError as error:
            log.error("webhook refused, queue unavailable: %s", error)
            return _reply(503, {"error": WEBHOOK_QUEUE_DOWN}, started,
                          "unavailable")
        if result == "duplicate":
            return _reply(200, {"status": "duplicate"}, started, "duplicate")
        return _reply(202, {"status": "queued"}, started, "queued")

    return endpoint


def _parse(request: Request, body: bytes,
           event_type: str) -> tuple[dict[str, Any] | None, str]:
    """(the JSON object, "") or (None, what is wrong with the delivery)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return None, WEBHOOK_NOT_JSON_TYPE
    if not event_type:
        return None, WEBHOOK_NO_EVENT_HEADER
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, WEBHOOK_BAD_JSON
    except RecursionError:  # nested deeper than the parser's stack: no GitLab payload is
        return None, messages.WEBHOOK_TOO_DEEP
    if not isinstance(payload, dict):
        return None, messages.webhook_not_object()
    return payload, ""


def create_app(deps: WebDeps) -> Starlette:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        checks = await run_in_threadpool(deps.readiness)
        body = {c.name: ("ok" if c.ok else c.detail) for c in checks}
        return JSONResponse(body, status_code=200 if all(c.ok for c in checks) else 503)

    async def prometheus(_: Request) -> Response:
        try:
            for part, count in (await run_in_threadpool(deps.queue.stats)).items():
                metrics.QUEUE_DEPTH.labels(part=part).set(count)
        except TemporaryError:
            pass  # Redis down: counted in previewbot_dependency_errors_total; serve the rest
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/webhooks/gitlab", gitlab_webhook(deps), methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
    ]
    if deps.slack_events is not None:
        routes.append(Route("/slack/events", deps.slack_events, methods=["POST"]))
    return Starlette(routes=routes)
