"""`previewbot serve`: the HTTP server, the workers and the scheduler in one process.

Run N replicas against one Redis: the queue's consumer group shares the events,
environment locks keep two replicas from converging one environment at once.
"""

from __future__ import annotations

import logging
import signal
from datetime import timedelta

import uvicorn

from bot.config import Settings
from bot.engine.health import check_all
from bot.engine.notify import FanoutNotifier, LoggingNotifier
from bot.runtime.scheduler import Scheduler
from bot.runtime.wiring import build_core, build_parts
from bot.runtime.workers import Workers
from bot.state.queue import DeliveryQueue, seal
from handlers.slack.app import SlackBot
from handlers.web import WebDeps, create_app

log = logging.getLogger("previewbot.serve")


def serve(settings: Settings) -> int:
    settings.require("gitlab_webhook_secret", "gitlab_url", "gitlab_token")
    # Slack is on when SLACK_BOT_TOKEN is set; its notifier joins the log's.
    slack = SlackBot(settings) if settings.slack_bot_token else None
    parts = build_parts(settings)
    core = build_core(settings, parts=parts,
                      notifier=FanoutNotifier(LoggingNotifier(), slack.notifier_of(parts))
                      if slack else None)
    # 12 attempts, backoff 5 s doubling to 10 min: about an hour of retrying before an
    # event is parked, so a GitLab or cluster outage does not lose MR events.
    queue = DeliveryQueue.from_url(settings.redis_url, claim_idle=settings.claim_idle,
                                max_attempts=12, backoff_max=timedelta(minutes=10),
                                key=seal.key_for(settings))
    workers = Workers(core, queue, intake_threads=settings.intake_threads)
    if slack is not None:
        slack.attach(core, queue)
    deps = WebDeps(config=core.config, queue=queue,
                   webhook_secret=settings.gitlab_webhook_secret or "",
                   readiness=lambda: check_all(core, include_optional=False),
                   slack_events=slack.endpoint() if slack else None)
    server = uvicorn.Server(uvicorn.Config(create_app(deps), host=settings.host,
                                           port=settings.port, log_level="warning",
                                           access_log=False, lifespan="off",
                                           log_config=None))  # uvicorn logs as ours do
    scheduler = Scheduler(core, parts.store, workers.consumer,
                          poke=lambda env_key, delay: queue.poke(env_key, delay=delay))
    workers.start()
    scheduler.start()
    if slack is not None:
        slack.start()
    log.info("listening on %s:%d", settings.host, settings.port)
    # uvicorn re-raises the SIGTERM/SIGINT it shut down for once it has stopped serving;
    # with these handlers that lands here instead of killing the process before the
    # workers below could stop their helm and release their locks.
    for handled in (signal.SIGTERM, signal.SIGINT):
        signal.signal(handled, _stop_requested)
    try:
        server.run()
    finally:
        if slack is not None:
            slack.stop()
        # Stop taking work, let running steps finish or stop their helm, release locks.
        workers.stop(grace=settings.shutdown_grace)
        scheduler.stop()
        log.info("stopped")
    return 0


def _stop_requested(signum: int, _frame: object) -> None:
    log.info("%s received: shutting down", signal.Signals(signum).name)
