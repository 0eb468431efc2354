"""Which record and which namespace are an environment's: identity resolution.

An environment is one identity (project id and MR iid, or project id and branch),
kept under its plain key (``group-app-mr-7``) unless another identity holds that:
then under the plain key with a stable hash of the identity (README "How it
converges"). Where an identity already lives it stays, even when its plain key
has come free since. Redis and the namespaces' labels are both asked, so a
record Redis lost is found at the same key again.
"""

from __future__ import annotations

import logging

from bot.cluster.kube import NamespaceRecord
from bot.config import ProjectConfig
from bot.domain import naming, records
from bot.domain.errors import PermanentError, PreviewError
from bot.domain.model import Desired, Environment, Observed, Status
from bot.engine.core import Core
from bot.engine.orphans import is_complete

log = logging.getLogger("previewbot.identity")


class Identities:
    def __init__(self, core: Core) -> None:
        self.core = core

    def record(self, env_key: str) -> Environment | None:
        """The record of ``env_key``: Redis's, or — when Redis lost it (a wipe, a failover
        before the next pass adopts it) — the one its namespace keeps, so that a request
        starts from what was asked before (keep, extensions, owner), never from nothing.
        Namespaces of projects not in the config are not this bot's to act on."""
        env = self.core.store.get(env_key)
        if env is not None:
            return env
        return self.kept_by_namespace(env_key)

    def kept_by_namespace(self, env_key: str) -> Environment | None:
        """The record ``env_key``'s namespace keeps (None: no namespace, or not ours)."""
        namespace = self.core.kube.get_namespace(naming.namespace_name(env_key))
        if namespace is None or not namespace.managed:
            return None
        try:
            env = rebuilt(namespace)
        except ValueError:
            return None  # hand-edited: left to the pass, which says why
        if env is None or env.key != env_key or self.owner_of(env.desired) is None:
            return None
        return env

    def owner_of(self, desired: Desired, *, dry_run: bool = False) -> ProjectConfig | None:
        """The configured project a namespace's record (``desired``) is of; None when it
        is not this bot's to act on: its path is configured and the forge id matches,
        or the path is a former path of a configured project (the forge confirms the
        rename). A second installation's namespace whose project has the same path or
        number on its own forge is never taken — by the pass or by a request."""
        by_path = self.core.config.project_by_path(desired.project_path)
        if by_path is not None:
            return by_path if self.same_project(by_path, desired.project_id) else None
        return self.renamed_from(desired.project_path, desired.project_id, dry_run=dry_run)

    def renamed_from(self, old_path: str, project_id: int, *,
                     dry_run: bool = False) -> ProjectConfig | None:
        """The configured project a namespace of ``old_path`` belongs to since a rename:
        its id is configured, and the forge confirms that the old path leads to it (a
        renamed project's old path redirects) — a namespace of another installation
        whose project merely has the same number on its own forge is never taken."""
        project = self.core.project_of_id(project_id)
        if project is None or self.core.forge is None:
            return None
        # Asked once per path for a while: every pass lists the namespaces of other
        # installations too, and each must not cost a GitLab call every pass.
        cache_key = f"renamed:{project_id}:{old_path}"
        cached = self.core.store.cached(cache_key)
        if cached is None:
            try:
                found = self.core.source(project.path).project(old_path)
            except PermanentError:  # 404: not a rename
                cached = "0"
            except PreviewError as error:  # GitLab down: not now
                log.info("cannot ask GitLab whether %s was renamed to %s: %s", old_path,
                         project.path, error)
                return None
            else:
                cached = "1" if found.id == project_id else "0"
            if not dry_run:  # a "no" is asked again sooner: the rename may follow
                ttl = self.core.settings.forge.answer_cache_ttl.total_seconds()
                self.core.store.cache(cache_key, cached,
                                      ttl if cached == "1" else min(ttl, 3600.0))
        return project if cached == "1" else None

    def same_project(self, project: ProjectConfig, project_id: int) -> bool:
        """Is ``project_id`` (a namespace's label) the configured project's GitLab id? A
        second previewbot sharing the cluster may configure the same path for another
        GitLab (a staging one): its namespaces are never adopted, upgraded or torn down."""
        if project.id is not None:
            return project.id == project_id
        if self.core.forge is None:
            return True  # no GitLab to ask (set the project's `id:` to be strict)
        try:
            return self.core.project_info(project).id == project_id
        except PreviewError as error:  # cannot tell now: adopt nothing of it this pass
            log.warning("cannot confirm the GitLab id of %s (%s); its namespaces are "
                        "adopted once GitLab answers", project.path, error)
            return False

    def find(self, project: ProjectConfig, *, mr_iid: int | None, branch: str,
             project_id: int | None = None) -> Environment | None:
        """The record of (project, MR) or (project, branch), under its plain key or, when
        another identity holds that, under its identity key. ``project_id`` (GitLab's)
        when known, else the project is matched by its configured path."""
        plain = project.mr_env_key(mr_iid) if mr_iid is not None else \
            project.branch_env_key(branch)
        env = self.record(plain)
        if env is not None and self._belongs(env, project, mr_iid=mr_iid, branch=branch,
                                             project_id=project_id):
            return env
        if self.core.forge is None and project_id is None and project.id is None:
            return None  # the identity key needs GitLab's project id
        known_id = project_id or project.id or self.core.project_info(project).id
        alternative = naming.identity_key(plain, naming.identity_of(known_id, mr_iid=mr_iid,
                                                             branch=branch))
        env = self.record(alternative)
        if env is not None and env.desired.same_identity(known_id, mr_iid=mr_iid,
                                                         branch=branch):
            return env
        elsewhere = self.living_elsewhere(project, known_id, mr_iid=mr_iid, branch=branch)
        return self.record(elsewhere) if elsewhere is not None else None

    def living_elsewhere(self, project: ProjectConfig, project_id: int, *,
                         mr_iid: int | None, branch: str) -> str | None:
        """The key of the identity's namespace when it is under neither of its keys now:
        the project's slug changed since it was made (renamed in the forge, or its
        ``path:``/``slug:`` edited in the config). Identity is the project id, so the
        environment stays where it is instead of getting a second one. Only a namespace
        this bot's records know, or one that is this bot's (``owner_of``: after a rename
        and a Redis loss, once the forge confirms the rename)."""
        labels: dict[str, str | None] = {
            records.PROJECT_ID_LABEL: str(project_id),
            records.MR_IID_LABEL: None if mr_iid is None else str(mr_iid)}
        for ns in self.core.kube.list_managed_namespaces(labels):
            if mr_iid is None and ns.annotations.get(records.BRANCH) != branch:
                continue
            key = ns.labels.get(records.ENV_LABEL, "")
            if not key or naming.namespace_name(key) != ns.name:
                continue
            known = self.core.store.get(key)
            if known is not None:
                if known.desired.same_identity(project_id, mr_iid=mr_iid, branch=branch):
                    return key
                continue
            kept = self.kept_by_namespace(key)  # Redis lost it: the namespace must be ours
            if kept is not None and kept.desired.same_identity(
                    project_id, mr_iid=mr_iid, branch=branch):
                return key
        return None

    @staticmethod
    def _belongs(env: Environment, project: ProjectConfig, *, mr_iid: int | None, branch: str,
                 project_id: int | None) -> bool:
        desired = env.desired
        if project_id is not None:
            return desired.same_identity(project_id, mr_iid=mr_iid, branch=branch)
        return (desired.project_path == project.path and desired.mr_iid == mr_iid
                and (mr_iid is not None or desired.branch == branch))

    def candidate_keys(self, project: ProjectConfig, project_id: int, *,
                       mr_iid: int | None, branch: str) -> tuple[str, str]:
        """The plain key of an identity and its identity key (README "How it converges")."""
        plain = project.mr_env_key(mr_iid) if mr_iid is not None else \
            project.branch_env_key(branch)
        return plain, naming.identity_key(plain, naming.identity_of(project_id, mr_iid=mr_iid,
                                                             branch=branch))

    def env_key_for(self, project: ProjectConfig, project_id: int, *, mr_iid: int | None,
                    branch: str) -> str:
        """The key of (project, MR) or (project, branch). Stable: where this identity
        already lives (a record or a namespace labelled for it) it stays, even when its
        plain key has come free since; otherwise its plain key, unless another identity
        holds that (a record, or a namespace labelled for another project or
        environment), then the plain key with a stable hash of the identity. An identity
        whose project's slug changed since stays under the key it has."""
        plain, alternative = self.candidate_keys(project, project_id, mr_iid=mr_iid,
                                                 branch=branch)
        if self._holds(alternative, project_id, mr_iid=mr_iid, branch=branch) is True:
            return alternative
        holds_plain = self._holds(plain, project_id, mr_iid=mr_iid, branch=branch)
        if holds_plain is True:
            return plain
        elsewhere = self.living_elsewhere(project, project_id, mr_iid=mr_iid, branch=branch)
        if elsewhere is not None:
            return elsewhere
        return alternative if holds_plain is False else plain

    def _holds(self, key: str, project_id: int, *, mr_iid: int | None,
               branch: str) -> bool | None:
        """Does the identity live at ``key`` (True), another one (False), or none (None)?"""
        holder = self.core.store.get(key)
        if holder is not None:
            return holder.desired.same_identity(project_id, mr_iid=mr_iid, branch=branch)
        namespace = self.core.kube.get_namespace(naming.namespace_name(key))
        if namespace is None or not namespace.managed:
            return None
        iid_label = None if mr_iid is None else str(mr_iid)
        return (namespace.labels.get(records.PROJECT_ID_LABEL) == str(project_id)
                and namespace.labels.get(records.MR_IID_LABEL) == iid_label
                and (mr_iid is not None
                     or namespace.annotations.get(records.BRANCH, branch) == branch))


def rebuilt(ns: NamespaceRecord) -> Environment | None:
    """The record a namespace keeps (the durable one), as Redis would hold it: None
    when the namespace holds no complete previewbot record of its own name (an
    incomplete one is the orphan sweep's). ValueError: hand-edited, unreadable labels."""
    desired = records.desired_from_namespace(ns.labels, ns.annotations, ns.created_at)
    if desired is None or not is_complete(ns):
        return None
    if naming.namespace_name(desired.env_key) != ns.name:
        raise ValueError(f"its {records.ENV_LABEL} label names {desired.env_key}, "
                         "whose namespace it is not")
    status = Status.TEARING_DOWN if ns.phase == "Terminating" else Status.PENDING
    return Environment(desired, Observed(
        status=status, reason="rebuilt from cluster",
        review_environment_id=records.review_environment_id(ns.annotations)))
