"""Which commit of a change request ``deploy_on: pipeline`` may deploy: what its newest
passed pipeline of its current head built.

The forge's own answer for the change request, never the project's pipeline list (a
busy project pushes a pipeline off any page of it): first its head pipeline — the
newest pipeline of its current head, merged-results ones included — else its own
pipelines, newest first, for one that ran on the head itself (a retried job left the
head pipeline running, an older pipeline of the same head passed).

A merged-results pipeline runs on the merge commit of the head into the target
branch, and CI tags the image it builds with that commit (``CI_COMMIT_SHA``): so the
pipeline's sha is what is deployed (``image_tag: "{sha}"``), as the Pipeline Hook
deploys it, not the head whose image was never built. In the pipelines list such a
pipeline names only its merge commit, not the head it merged: only the head pipeline
can vouch for one.
"""

from __future__ import annotations

from bot.domain.changes import ChangeRequest
from bot.engine.ports import ChangeSource


def passed_sha(source: ChangeSource, mr: ChangeRequest) -> str:
    """The sha to deploy for ``mr`` as a single read shows it (with its head pipeline);
    "" while no pipeline of its head passed. At most one call (none when the head
    pipeline passed)."""
    if not mr.sha:
        return ""
    if mr.head_pipeline_passed and mr.head_pipeline_sha:
        return mr.head_pipeline_sha
    for pipeline in source.change_pipelines(mr.project_id, mr.iid):
        if pipeline.passed and pipeline.sha == mr.sha:
            return pipeline.sha
    return ""
