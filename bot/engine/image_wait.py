"""Waiting for the image: how long a deploy whose pods cannot pull their image may wait.

In push mode an MR deploys as soon as it is pushed, usually before CI has built and
pushed its image: the pods sit in ErrImagePull/ImagePullBackOff until it exists. That is
not a failure yet, so ``ready_timeout`` alone does not end it. While the commit's
pipeline has not ended (or the forge shows none yet) the deploy waits, at most the
project's ``image_wait`` since it began; once a pipeline passed, ``ready_timeout`` counts
from its end; once every pipeline of the commit ended without success, no image will
come and it fails at once.

The pipelines are asked for only after ``ready_timeout`` (most images are there by
then), and at most once per ``DeploySettings.pipeline_check_interval`` per commit
(a waiting deploy is checked every few seconds).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.config import ProjectConfig
from bot.domain.changes import CommitPipeline, PipelineState
from bot.domain.durations import format_duration
from bot.domain.errors import PermanentError, PreviewError
from bot.domain.model import Environment, short_sha
from bot.engine.core import Core

log = logging.getLogger("previewbot.image_wait")


def verdict(core: Core, env: Environment, project: ProjectConfig, began: datetime,
            images: Sequence[str], problems: Sequence[str]) -> str | None:
    """Past ``ready_timeout``, pods waiting for ``images``: why it fails now, or None
    while the commit's pipeline still has its chance."""
    now, sha = core.clock.now(), env.desired.sha
    pipelines = _pipelines(core, env)
    if pipelines is None:  # no forge: nothing to wait for beyond ready_timeout
        return not_pulled(images, project.ready_timeout, problems)
    running = [p for p in pipelines if p.state is PipelineState.RUNNING]
    passed = [p for p in pipelines if p.state is PipelineState.PASSED]
    if now - began >= project.image_wait:
        status = pipelines[0].status if pipelines else "not seen"
        return image_wait_over(images, sha, project.image_wait, status)
    if running or not pipelines:
        return None  # it may still push the image (or has not shown up yet)
    if passed:
        ended = max((p.updated_at for p in passed if p.updated_at is not None), default=began)
        if now - max(ended, began) < project.ready_timeout:
            return None
        return image_after_pipeline(images, sha, project.ready_timeout, problems)
    return pipeline_failed(images, sha, pipelines[0].status)


def _pipelines(core: Core, env: Environment) -> tuple[CommitPipeline, ...] | None:
    """The commit's pipelines, remembered briefly; None when they cannot be known (no
    forge, or one that refuses: a token without the scope), so ``ready_timeout`` alone
    applies. A forge that does not answer now counts as one that shows none yet
    (``image_wait`` still bounds the wait)."""
    desired = env.desired
    name = f"commit-pipelines:{desired.project_id}:{desired.sha}"
    try:
        cached = core.store.cached(name)
    except PreviewError:
        cached = None
    if cached is not None:
        return _decode(cached)
    try:
        found = core.source(desired.project_path).commit_pipelines(desired.project_id,
                                                                   desired.sha)
    except PermanentError as error:
        if core.forge is not None:
            log.warning("pipelines of %s not read: %s", short_sha(desired.sha), error)
        return None
    except PreviewError as error:
        log.info("pipelines of %s not read now: %s", short_sha(desired.sha), error)
        return ()
    try:
        core.store.cache(name, _encode(found), core.settings.deploy.pipeline_check_interval)
    except PreviewError as error:
        log.info("pipelines of %s not remembered: %s", short_sha(desired.sha), error)
    return found


def _encode(pipelines: tuple[CommitPipeline, ...]) -> str:
    return json.dumps([{"state": p.state.value, "status": p.status,
                        "updated_at": p.updated_at.isoformat() if p.updated_at else None}
                       for p in pipelines])


def _decode(raw: str) -> tuple[CommitPipeline, ...]:
    try:
        return tuple(CommitPipeline(PipelineState(item["state"]), str(item["status"]),
                                    datetime.fromisoformat(item["updated_at"])
                                    if item["updated_at"] else None)
                     for item in json.loads(raw))
    except (ValueError, KeyError, TypeError):
        return ()


# --- texts: what a deploy waits for, and why it stopped waiting -------------------------


def _images(images: Sequence[str]) -> str:
    return ", ".join(f"`{image}`" for image in images)


def waiting_for_image(images: Sequence[str]) -> str:
    return f"waiting for image {_images(images)}"


def not_pulled(images: Sequence[str], timeout: timedelta, problems: Sequence[str]) -> str:
    detail = "; ".join(problems) or "no details"
    return (f"image {_images(images)} not pullable after {format_duration(timeout)} "
            f"(ready_timeout): {detail}")


def image_after_pipeline(images: Sequence[str], sha: str, timeout: timedelta,
                         problems: Sequence[str]) -> str:
    detail = "; ".join(problems) or "no details"
    return (f"no image {_images(images)} {format_duration(timeout)} (ready_timeout) after "
            f"the pipeline of {short_sha(sha)} succeeded: does it push that tag? ({detail})")


def pipeline_failed(images: Sequence[str], sha: str, status: str) -> str:
    return (f"the pipeline of {short_sha(sha)} {status}; no image {_images(images)} — fix "
            "it and run it again, or push a commit")


def image_wait_over(images: Sequence[str], sha: str, wait: timedelta, status: str) -> str:
    return (f"no image {_images(images)} after {format_duration(wait)} (image_wait); the "
            f"pipeline of {short_sha(sha)}: {status} — push the image, or raise image_wait")
