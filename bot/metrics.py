"""Prometheus metrics (README "Operating it"); one registry per process, `/metrics` serves it."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

ENVIRONMENTS = Gauge("previewbot_environments", "Environments by state", ["state"],
                     registry=REGISTRY)
DEPLOY_SECONDS = Histogram("previewbot_deploy_duration_seconds", "Deploy: start to ready",
                           buckets=(5, 15, 30, 60, 120, 300, 600, 1200), registry=REGISTRY)
TEARDOWN_SECONDS = Histogram("previewbot_teardown_duration_seconds", "Teardown: start to gone",
                             buckets=(1, 5, 15, 30, 60, 120, 300), registry=REGISTRY)
TEARDOWNS = Counter("previewbot_teardowns_total", "Teardowns by reason", ["reason"],
                    registry=REGISTRY)
WEBHOOKS = Counter("previewbot_webhooks_total", "GitLab webhook deliveries by outcome",
                   ["outcome"], registry=REGISTRY)
WEBHOOK_LATENCY = Histogram("previewbot_webhook_ack_seconds", "Webhook acknowledgement latency",
                            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
                            registry=REGISTRY)
DELIVERIES = Counter("previewbot_events_total", "Queued events processed by outcome", ["outcome"],
                 registry=REGISTRY)
QUEUE_DEPTH = Gauge("previewbot_queue_events", "Intake queue by part", ["part"],
                    registry=REGISTRY)
COMMANDS = Counter("previewbot_commands_total", "Slack commands by name", ["command"],
                   registry=REGISTRY)
COMMAND_LATENCY = Histogram("previewbot_command_seconds", "Slack command latency",
                            registry=REGISTRY)
BUTTONS = Counter("previewbot_buttons_total", "Slack button presses by action", ["action"],
                  registry=REGISTRY)
RECONCILE_SECONDS = Histogram("previewbot_reconcile_duration_seconds", "Reconcile pass duration",
                              buckets=(0.1, 0.5, 1, 5, 15, 60, 300), registry=REGISTRY)
ERRORS = Counter("previewbot_dependency_errors_total", "Errors by dependency", ["dependency"],
                 registry=REGISTRY)


def reason_class(reason: str) -> str:
    """Low-cardinality label for a teardown reason."""
    lowered = reason.lower()
    for word in ("merged", "closed", "ttl", "deleted", "label", "draft"):
        if word in lowered:
            return "ttl" if word == "ttl" else word
    return "requested"


DEPENDENCIES = ("gitlab", "slack", "kubernetes", "helm", "redis")
for _dependency in DEPENDENCIES:  # every series shows from the start, at 0
    ERRORS.labels(dependency=_dependency)
