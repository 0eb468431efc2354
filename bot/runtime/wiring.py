"""Wiring: settings + config file → the Core every entry point shares."""

from __future__ import annotations

from dataclasses import dataclass

from bot.cluster.helm import Helm, sweep_values_files
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


@dataclass(frozen=True)
class Parts:
    """The adapters and the config, built before the core: a notifier that needs some
    of them (Slack's) is built from these, then handed to the core."""

    config: Config
    store: Store
    kube: Kube
    helm: Helm
    forge: GitLabForge | None
    clock: Clock


def build_parts(settings: Settings, *, config: Config | None = None,
                clock: Clock | None = None, store: Store | None = None) -> Parts:
    """Adapters are lazy: nothing here talks to Redis, Kubernetes, Helm or GitLab."""
    sweep_values_files()  # values files of a killed process (they may hold values)
    forge = None
    if settings.gitlab_url and settings.gitlab_token:
        forge = GitLabForge(GitLab(settings.gitlab_url, settings.gitlab_token))
    return Parts(
        config=config or load_config(settings.config_path),
        store=store or redis_store(settings),
        kube=Kube.from_kubeconfig(settings.kubeconfig, settings.namespace_access,
                                  settings.instance, settings.namespace),
        helm=Helm(settings.helm_binary, kubeconfig=settings.kubeconfig,
                  timeout=settings.helm_timeout),
        forge=forge,
        clock=clock or SystemClock(),
    )


def build_core(settings: Settings, *, config: Config | None = None,
               notifier: Notifier | None = None, clock: Clock | None = None,
               store: Store | None = None, parts: Parts | None = None) -> Core:
    """The core over ``parts`` (built from ``settings`` when not given)."""
    if parts is not None and (config, clock, store) != (None, None, None):
        raise ValueError("build_core: give config, clock and store through parts")
    parts = parts or build_parts(settings, config=config, clock=clock, store=store)
    return Core(config=parts.config, store=parts.store, kube=parts.kube, helm=parts.helm,
                notifier=notifier or LoggingNotifier(), clock=parts.clock, forge=parts.forge)


def redis_store(settings: Settings) -> Store:
    return Store.from_url(settings.redis_url, lock_ttl=settings.lock_ttl)


def build(core: Core) -> tuple[Requests, Reconciler]:
    return Requests(core), Reconciler(core)
