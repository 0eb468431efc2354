"""Which record and which namespace are an environment's: identity resolution.

An environment is one identity (project id and MR iid, or project id and branch),
kept under its plain key (``group-app-mr-7``) unless another identity holds that:
then under the plain key with a stable hash of the identity (README "How it
converges"). Where an identity already lives it stays, even when its plain key
has come free since. Redis and the namespaces' labels are both asked, so a
record Redis lost is found at the same key again.
"""

from __future__ import annotations

from bot.config import ProjectConfig
from bot.domain import naming, records
from bot.domain.model import Environment
from bot.engine.core import Core


class Identities:
    def __init__(self, core: Core) -> None:
        self.core = core

    def find(self, project: ProjectConfig, *, mr_iid: int | None, branch: str,
             project_id: int | None = None) -> Environment | None:
        """The record of (project, MR) or (project, branch), under its plain key or, when
        another identity holds that, under its identity key. ``project_id`` (GitLab's)
        when known, else the project is matched by its configured path."""
        plain = project.mr_env_key(mr_iid) if mr_iid is not None else \
            project.branch_env_key(branch)
        env = self.core.store.get(plain)
        if env is not None and self._belongs(env, project, mr_iid=mr_iid, branch=branch,
                                             project_id=project_id):
            return env
        if self.core.forge is None and project_id is None and project.id is None:
            return None  # the identity key needs GitLab's project id
        known_id = project_id or project.id or self.core.project_info(project).id
        alternative = naming.identity_key(plain, naming.identity_of(known_id, mr_iid=mr_iid,
                                                             branch=branch))
        env = self.core.store.get(alternative)
        if env is not None and env.desired.same_identity(known_id, mr_iid=mr_iid,
                                                         branch=branch):
            return env
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
        environment), then the plain key with a stable hash of the identity."""
        plain, alternative = self.candidate_keys(project, project_id, mr_iid=mr_iid,
                                                 branch=branch)
        if self._holds(alternative, project_id, mr_iid=mr_iid, branch=branch) is True:
            return alternative
        holds_plain = self._holds(plain, project_id, mr_iid=mr_iid, branch=branch)
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
