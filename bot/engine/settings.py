"""The engine's tunables, grouped by what they tune (kopf's ``OperatorSettings`` is the
model): one object on ``Core`` instead of module constants, so a test or a tool
changes one field of one copy and nothing else.

Every default is what production runs with; what a person configures lives in the
config file (``bot.config``) and reaches the engine through ``Config``, not here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True)
class DeploySettings:
    ready_inline_wait: float = 2.0
    """Seconds a deploy waits for readiness in place before it yields its thread (the
    environment is checked again later, ``recheck_delay``)."""

    first_ready_check: float = 0.05
    """Seconds until the first readiness check after Helm returns: the controllers
    report a rollout within a few hundred milliseconds."""

    recheck_delay: float = 0.25
    """Seconds until a deploy still waiting for readiness is checked again."""

    poll_interval: float = 1.0
    """Longest pause between readiness checks during the in-place wait."""

    pipeline_check_interval: float = 10.0
    """Seconds a commit's pipelines are remembered while its deploy waits for its image
    (``bot.engine.image_wait``): the forge is not asked at every readiness check."""

    pending_grace: timedelta = timedelta(seconds=60)
    """Beyond the Helm timeout, before a release left pending (a killed helm) is stale
    and recovered."""

    max_timeouts: int = 3
    """Helm hook/wait timeouts of one environment in a row before it ends FAILED."""

    retry_base: float = 10.0
    """Seconds until a deploy that failed for a temporary reason (a webhook without
    endpoints, a lost connection) is tried again; doubled each failure in a row."""

    retry_max: float = 15 * 60.0
    """The longest wait between those retries: they go on until the deploy works or
    its inputs change."""


@dataclass(frozen=True)
class TeardownSettings:
    confirm_delay: float = 1.0
    """Seconds until a started namespace deletion is first checked again; later checks
    wait as long as it has taken so far (doubling), at most ``max_confirm_delay``."""

    max_confirm_delay: float = 60.0
    """Longest pause between two checks of a namespace still being deleted."""

    timeout: float = 120.0
    """Seconds after a namespace's deletion began before people are told, once, what
    holds it (the finalizers and the objects left); it is checked again either way."""

    record_retention: timedelta = timedelta(days=7)
    """How long records of torn-down environments are kept (their history with them)."""

    orphan_lock_wait: float = 5.0
    """Seconds the orphan sweep waits for an environment's lock; busy: the next sweep."""


@dataclass(frozen=True)
class ReconcileSettings:
    max_rounds: int = 3
    """Converge rounds per action while requests keep arriving for it."""

    follow_limit: float = 30 * 60.0
    """Seconds a following caller (the CLI's ``--wait``) waits at most."""


@dataclass(frozen=True)
class ForgeSettings:
    project_info_ttl: timedelta = timedelta(minutes=10)
    """How long a project's id and default branch are cached: a pass must not cost an
    extra forge call per project."""

    answer_cache_ttl: timedelta = timedelta(days=7)
    """How long costly answers per head commit are remembered (a change's paths match
    the trigger; the commit its note says it ended at)."""

    pipeline_recheck: timedelta = timedelta(minutes=5)
    """How long "no pipeline of this head passed yet" is believed before the change
    request is asked again (``deploy_on: pipeline``: the Pipeline Hook normally says so
    first; this bounds what a lost one costs, and what a waiting MR costs a pass)."""

    max_review_attempts: int = 5
    """Passes that try to bring the review surface up to date before giving up on it."""

    people_cache_ttl: timedelta = timedelta(minutes=5)
    """How long who-is-who answers are cached (e-mails, Slack ids, maintainers)."""


@dataclass(frozen=True)
class NoticeSettings:
    owed_max_age: timedelta = timedelta(days=1)
    """An undelivered notice older than this is dropped, not delivered late."""

    catch_up_failures: int = 3
    """Undelivered notices in a row after which the notifier is taken to be down still
    (the next tick tries again)."""

    catch_up_lock_wait: float = 1.0
    """Seconds the catch-up waits for an environment's lock; a deploy holding it: the
    next tick."""


@dataclass(frozen=True)
class EngineSettings:
    deploy: DeploySettings = field(default_factory=DeploySettings)
    teardown: TeardownSettings = field(default_factory=TeardownSettings)
    reconcile: ReconcileSettings = field(default_factory=ReconcileSettings)
    forge: ForgeSettings = field(default_factory=ForgeSettings)
    notices: NoticeSettings = field(default_factory=NoticeSettings)
