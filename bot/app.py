"""Wiring: settings + config file → the Core every entry point shares."""

from __future__ import annotations

from bot.config import Config, Settings, load_config
from bot.converge import Core
from bot.engine import Engine
from bot.gitlab import GitLab
from bot.helm import Helm
from bot.kube import Kube
from bot.model import Clock, SystemClock
from bot.notify import LoggingNotifier, Notifier
from bot.reconcile import Reconciler
from bot.store import Store


def build_core(settings: Settings, *, config: Config | None = None,
               notifier: Notifier | None = None, clock: Clock | None = None) -> Core:
    """Adapters are lazy: nothing here talks to Redis, Kubernetes, Helm or GitLab."""
    gitlab = None
    if settings.gitlab_url and settings.gitlab_token:
        gitlab = GitLab(settings.gitlab_url, settings.gitlab_token)
    return Core(
        config=config or load_config(settings.config_path),
        store=Store.from_url(settings.redis_url, lock_ttl=settings.lock_ttl),
        kube=Kube.from_kubeconfig(settings.kubeconfig),
        helm=Helm(settings.helm_binary, kubeconfig=settings.kubeconfig),
        notifier=notifier or LoggingNotifier(),
        clock=clock or SystemClock(),
        gitlab=gitlab,
    )


def build(core: Core) -> tuple[Engine, Reconciler]:
    return Engine(core), Reconciler(core)
