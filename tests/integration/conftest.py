"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.cluster.testbed import Testbed
from tests.fakes.gitlab import FakeGitLab
from tests.integration.lifecycle_bed import LifecycleBed


@pytest.fixture
def bed(testbed: Testbed, fake_gitlab: FakeGitLab, redis_url: str, tmp_path: Path,
        kube_api: client.ApiClient) -> Iterator[LifecycleBed]:
    """A previewbot with its own GitLab project, Redis database and config file;
    the namespaces it created are deleted afterwards."""
    lifecycle = LifecycleBed(testbed, fake_gitlab, redis_url, tmp_path)
    yield lifecycle
    lifecycle.cleanup(client.CoreV1Api(kube_api))
