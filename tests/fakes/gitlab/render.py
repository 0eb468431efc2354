"""Render fake GitLab records as GitLab REST v4 JSON (the fields clients read).

E-mail visibility follows GitLab: a user's private `email` is shown only to
administrators (and to the user themself on `GET /user`); `public_email` is
always shown. Member listings never carry `email` (GitLab exposes it there only
to owners of enterprise groups), so a client maps members to e-mail addresses
through `GET /users/:id`.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.gitlab.records import (
    Environment,
    GitLabStore,
    Member,
    MergeRequest,
    Note,
    Pipeline,
    Project,
    User,
)


class GitLabRenderer:
    """Turns records into JSON dicts; knows the web base URL and what the viewer may see."""

    def __init__(self, store: GitLabStore, web_base: str, viewer_is_admin: bool) -> None:
        self.store = store
        self.web_base = web_base
        self.viewer_is_admin = viewer_is_admin

    def user_basic(self, user: User) -> dict[str, Any]:
        return {
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "state": "active",
            "locked": False,
            "avatar_url": None,
            "web_url": f"{self.web_base}/{user.username}",
        }

    def user(self, user: User, *, is_self: bool = False) -> dict[str, Any]:
        rendered = self.user_basic(user) | {
            "created_at": user.created_at,
            "bio": "",
            "public_email": user.public_email,
            "bot": False,
        }
        if self.viewer_is_admin or is_self:
            rendered |= {"email": user.email, "is_admin": user.is_admin}
        return rendered

    def member(self, member: Member) -> dict[str, Any]:
        return self.user_basic(self.store.users[member.user_id]) | {
            "access_level": member.access_level,
            "created_at": member.created_at,
            "expires_at": None,
            "membership_state": "active",
        }

    def project(self, project: Project) -> dict[str, Any]:
        namespace, _, path = project.path_with_namespace.rpartition("/")
        web_url = f"{self.web_base}/{project.path_with_namespace}"
        return {
            "id": project.id,
            "name": path,
            "path": path,
            "path_with_namespace": project.path_with_namespace,
            "name_with_namespace": project.path_with_namespace.replace("/", " / "),
            "namespace": {
                "id": project.id + 10_000,
                "name": namespace.rpartition("/")[2],
                "path": namespace.rpartition("/")[2],
                "kind": "group",
                "full_path": namespace,
            },
            "default_branch": project.default_branch,
            "visibility": "private",
            "web_url": web_url,
            "http_url_to_repo": f"{web_url}.git",
            "created_at": project.created_at,
            "last_activity_at": project.created_at,
        }

    def merge_request(self, mr: MergeRequest) -> dict[str, Any]:
        project = self.store.projects[mr.project_id]
        notes_count = sum(1 for _ in self.store.merge_request_notes(mr.project_id, mr.iid))
        return {
            "id": mr.id,
            "iid": mr.iid,
            "project_id": mr.project_id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "created_at": mr.created_at,
            "updated_at": mr.updated_at,
            "merged_at": mr.merged_at,
            "closed_at": mr.closed_at,
            "source_branch": mr.source_branch,
            "target_branch": mr.target_branch,
            "source_project_id": mr.project_id,
            "target_project_id": mr.project_id,
            "author": self.user_basic(self.store.users[mr.author_id]),
            "assignees": [],
            "reviewers": [],
            "labels": list(mr.labels),
            "draft": mr.draft,
            "work_in_progress": mr.draft,
            "merge_status": "can_be_merged",
            "detailed_merge_status": "draft_status" if mr.draft else "mergeable",
            "sha": mr.sha,
            "head_pipeline": mr.head_pipeline,
            "merge_commit_sha": None,
            "squash_commit_sha": None,
            "user_notes_count": notes_count,
            "references": {
                "short": f"!{mr.iid}",
                "relative": f"!{mr.iid}",
                "full": f"{project.path_with_namespace}!{mr.iid}",
            },
            "web_url": f"{self.web_base}/{project.path_with_namespace}/-/merge_requests/{mr.iid}",
        }

    def merge_request_in_list(self, mr: MergeRequest) -> dict[str, Any]:
        """As GitLab lists MRs: without ``head_pipeline`` (only a single-MR GET has it)."""
        rendered = self.merge_request(mr)
        del rendered["head_pipeline"]
        return rendered

    def pipeline(self, pipeline: Pipeline) -> dict[str, Any]:
        project = self.store.projects[pipeline.project_id]
        return {
            "id": pipeline.id,
            "iid": pipeline.id - 5000,
            "project_id": pipeline.project_id,
            "sha": pipeline.sha,
            "ref": pipeline.ref,
            "status": pipeline.status,
            "source": pipeline.source,
            "created_at": pipeline.created_at,
            "updated_at": pipeline.updated_at,
            "web_url": f"{self.web_base}/{project.path_with_namespace}/-/pipelines/{pipeline.id}",
        }

    @staticmethod
    def diffs(mr: MergeRequest) -> list[dict[str, Any]]:
        """One diff per changed path; an `(old, new)` pair is a rename."""
        rendered = []
        for entry in mr.changed_paths:
            old, new = entry if isinstance(entry, tuple) else (entry, entry)
            rendered.append(
                {
                    "old_path": old,
                    "new_path": new,
                    "a_mode": "100644",
                    "b_mode": "100644",
                    "new_file": False,
                    "renamed_file": old != new,
                    "deleted_file": False,
                    "generated_file": False,
                    "diff": f"@@ -1 +1 @@\n-old {old}\n+new {new}\n",
                }
            )
        return rendered

    def branch(self, project: Project, name: str, sha: str) -> dict[str, Any]:
        web_url = f"{self.web_base}/{project.path_with_namespace}"
        return {
            "name": name,
            "merged": False,
            "protected": name == project.default_branch,
            "default": name == project.default_branch,
            "developers_can_push": False,
            "developers_can_merge": False,
            "can_push": True,
            "web_url": f"{web_url}/-/tree/{name}",
            "commit": {
                "id": sha,
                "short_id": sha[:8],
                "title": f"Commit {sha[:8]}",
                "message": f"Commit {sha[:8]}",
                "parent_ids": [],
                "created_at": project.created_at,
                "web_url": f"{web_url}/-/commit/{sha}",
            },
        }

    def merge_request_changes(self, mr: MergeRequest) -> dict[str, Any]:
        return self.merge_request(mr) | {"changes": self.diffs(mr), "overflow": False}

    @staticmethod
    def environment(env: Environment) -> dict[str, Any]:
        return {
            "id": env.id,
            "name": env.name,
            "slug": env.slug,
            "description": None,
            "external_url": env.external_url,
            "state": env.state,
            "tier": env.tier,
            "created_at": env.created_at,
            "updated_at": env.updated_at,
            "auto_stop_at": None,
            "auto_stop_setting": "always",
            "last_deployment": None,
        }

    def note(self, note: Note) -> dict[str, Any]:
        mr = self.store.merge_requests[(note.project_id, note.mr_iid)]
        return {
            "id": note.id,
            "type": None,
            "body": note.body,
            "author": self.user_basic(self.store.users[note.author_id]),
            "created_at": note.created_at,
            "updated_at": note.updated_at,
            "system": False,
            "noteable_id": mr.id,
            "noteable_type": "MergeRequest",
            "noteable_iid": note.mr_iid,
            "project_id": note.project_id,
            "resolvable": False,
            "confidential": False,
            "internal": False,
        }
