"""Session-wide test bed fixtures.

The cluster, Redis and Helm are real. The test bed starts once per session
(or is reused when `make cluster-up` already runs one); each test gets its own
namespace and its own Redis database. A missing part fails the run with its
name — it never skips.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from kubernetes import client, config

from tests.cluster import testbed as testbed_mod
from tests.cluster.redis_leases import lease_database, release_database

pytest_plugins = ["tests.fakes.fixtures"]


@pytest.fixture(scope="session")
def testbed() -> testbed_mod.Testbed:
    # up() reuses a running bed; concurrent xdist workers wait on its lock.
    try:
        bed = testbed_mod.up()
    except testbed_mod.TestbedError as error:
        pytest.fail(f"the test bed is not available: {error}", pytrace=False)
    os.environ.update(bed.environ())
    return bed


@pytest.fixture(scope="session")
def helm(testbed: testbed_mod.Testbed) -> str:
    if not os.access(testbed.helm, os.X_OK):
        pytest.fail(f"helm is missing at {testbed.helm}; `make testbed` builds it", pytrace=False)
    return testbed.helm


@dataclass(frozen=True)
class Kube:
    """A real API server, clients for it, and one fresh namespace of this test."""

    kubeconfig: str
    api: client.ApiClient
    core: client.CoreV1Api
    apps: client.AppsV1Api
    custom: client.CustomObjectsApi
    namespace: str


@pytest.fixture(scope="session")
def kube_api(testbed: testbed_mod.Testbed) -> client.ApiClient:
    return config.new_client_from_config(config_file=testbed.kubeconfig)


@pytest.fixture
def kube(testbed: testbed_mod.Testbed, kube_api: client.ApiClient) -> Iterator[Kube]:
    core = client.CoreV1Api(kube_api)
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    yield Kube(testbed.kubeconfig, kube_api, core, client.AppsV1Api(kube_api),
               client.CustomObjectsApi(kube_api), namespace)
    core.delete_namespace(namespace)


@pytest.fixture
def redis_url(testbed: testbed_mod.Testbed) -> Iterator[str]:
    """A Redis URL on the session's redis-server with a database no other test uses.

    Database 0 holds the allocator. Each test leases a database (SET NX) and frees it
    afterwards, so a long run never wraps onto a database another test still uses;
    a lease left by a killed run expires after an hour."""
    base = testbed.redis_url.rsplit("/", 1)[0]
    allocator = redis.Redis.from_url(f"{base}/0")
    owner = uuid.uuid4().hex
    database = lease_database(allocator, owner)
    if database == 0:
        pytest.fail("no free Redis database on the test bed: every one is leased",
                    pytrace=False)
    url = f"{base}/{database}"
    db = redis.Redis.from_url(url)
    db.flushdb()
    db.close()
    yield url
    release_database(allocator, database, owner)
    allocator.close()


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow scenarios (marker ``slow``) first: under xdist they then run beside the many
    short tests instead of trailing alone at the end. Nothing is deselected."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
