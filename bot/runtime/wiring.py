"""Wiring: settings + config file → the Core every entry point shares."""

from __future__ import annotations

from bot.cluster.helm import Helm
from bot.cluster.kube import Kube
from bot.config import Config, Settings, load_config
from bot.domain.model import Clock, SystemClock
from bot.engine.core import Core
from bot.engine.notify import LoggingNotifier, Notifier
from bot.engine.reconcile import Reconciler
from bot.engine.requests import Requests
from bot.gitlab import GitLabForge
from bot.gitlab.client import GitLab
from bot.state.store import Store


def build_core(settings: Settings, *, config: Config | None = None,
               notifier: Notifier | None = None, clock: Clock | None = None,
               store: Store | None = None) -> Core:
    """Adapters are lazy: nothing here talks to Redis, Kubernetes, Helm or GitLab."""
    forge = None
    if settings.gitlab_url and settings.gitlab_token:
        forge = GitLabForge(GitLab(settings.gitlab_url, settings.gitlab_token))
    return Core(
        config=config or load_config(settings.config_path),
        store=store or redis_store(settings),
        kube=Kube.from_kubeconfig(settings.kubeconfig, settings.namespace_access),
        helm=Helm(settings.helm_binary, kubeconfig=settings.kubeconfig,
                  timeout=settings.helm_timeout),
        notifier=notifier or LoggingNotifier(),
        clock=clock or SystemClock(),
        forge=forge,
    )


def redis_store(settings: Settings) -> Store:
    return Store.from_url(settings.redis_url, lock_ttl=settings.lock_ttl)


def build(core: Core) -> tuple[Requests, Reconciler]:
    return Requests(core), Reconciler(core)
