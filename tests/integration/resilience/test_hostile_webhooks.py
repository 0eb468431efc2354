"""5,000 Hypothesis-mutated webhook deliveries, derived from GitLab's documented payloads,
against a real `previewbot serve`: never a 5xx, /healthz answers throughout and after,
nothing is queued from a delivery that cannot mean anything, and in the end the only
environments are those of open MRs that well-formed deliveries named — at GitLab's
commit, never at one a delivery claimed."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from kubernetes import client

from bot.domain.model import Status
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.resilience.hostile import (
    MAX_BODY,
    HostileDelivery,
    based_on,
    hostile_deliveries,
    must_not_queue,
)
from tests.integration.resilience.support import (
    EndState,
    Project,
    bed_project,
    preview_namespaces,
    queue_settled,
    start_replica,
)
from tests.integration.webhook_support import SECRET, Server
from tests.polling import poll

# The heaviest scenarios share one xdist group: never two of them at once on 2 cores.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("heavy")]
EXAMPLES = 5000
IIDS = (1, 2, 3)


class HealthWatch:
    """Asks /healthz every 0.2 s on its own thread; remembers every miss."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.misses: list[str] = []
        self.answered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.server.url + "/healthz", timeout=3) as answer:
                    if answer.status != 200:
                        self.misses.append(f"/healthz answered {answer.status}")
                self.answered += 1
            except OSError as error:
                self.misses.append(f"/healthz failed after {time.monotonic() - started:.1f}s: "
                                   f"{error}")


def send(server: Server, delivery: HostileDelivery) -> int:
    headers = {"X-Gitlab-Token": SECRET, "X-Gitlab-Event": delivery.event_type}
    if delivery.content_type:
        headers["Content-Type"] = delivery.content_type
    connection = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=20)
    try:
        # A 413 may be answered, and the connection closed, before the body is all sent.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.request("POST", "/webhooks/gitlab", body=delivery.body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@pytest.fixture
def server(bed: LifecycleBed, kube_api: client.ApiClient) -> Iterator[Server]:
    # No periodic pass during the test: only deliveries may create anything.
    bed.configure(reconcile_interval="1h")
    end = EndState(bed, client.CoreV1Api(kube_api), (bed_project(bed),))
    running = start_replica(bed, "serve")
    try:
        yield running
    finally:
        running.stop()
        end.cleanup()


def test_5000_mutated_deliveries(bed: LifecycleBed, server: Server,
                                 kube_api: client.ApiClient) -> None:
    project = bed_project(bed)
    shas = {iid: bed.add_mr(iid) for iid in IIDS}
    answers: Counter[int] = Counter()
    queued_iids: set[int] = set()

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(delivery=hostile_deliveries(project, IIDS, shas))
    def one(delivery: HostileDelivery) -> None:
        status = send(server, delivery)
        answers[status] += 1
        assert status < 500, (status, delivery.what)
        if len(delivery.body) <= MAX_BODY:
            assert status != 413, delivery.what
        why = must_not_queue(delivery)
        if why is not None:
            assert status != 202, f"queued though {why}: {delivery.what}"
        elif status == 202:
            queued_iids.update(iids_named(delivery))

    with HealthWatch(server) as health:
        one()
    assert sum(answers.values()) >= EXAMPLES, answers
    assert health.misses == [] and health.answered > 10, (health.misses, health.answered)
    with urllib.request.urlopen(server.url + "/healthz", timeout=3) as answer:
        assert answer.status == 200
    assert answers[202] > 50 and answers[400] > 500, answers  # both kinds were exercised
    print(f"answers: {dict(sorted(answers.items()))}; /healthz answered {health.answered}x")

    settled = poll("the queue to be worked off", lambda: queue_settled(bed.redis_url),
                   timeout=120)
    assert settled["parked"] == 0, settled  # what was queued could all be read
    store = bed.core().store
    poll("the deploys to finish", lambda: all(
        env.observed.status in (Status.READY, Status.GONE, Status.FAILED)
        for env in store.all()), timeout=120)
    for env in store.all():
        iid = env.desired.mr_iid
        assert iid in queued_iids and env.desired.project_path == project.path, env.desired
        mr = bed.gitlab.merge_request(bed.project_id, iid)
        assert (env.desired.branch, env.desired.sha) == (mr["source_branch"], mr["sha"])
    namespaces = set(preview_namespaces(client.CoreV1Api(kube_api), (project,)))
    assert namespaces <= {f"preview-{project.key(iid)}" for iid in queued_iids}


def test_a_lone_surrogate_is_never_a_5xx(bed: LifecycleBed, server: Server) -> None:
    """Found by the test above (it answered 500), kept apart so that the 5,000 still run:
    the generated texts leave lone surrogates to this test."""
    sha = bed.add_mr(1)
    for escaped in (False, True):
        delivery = lone_surrogate(bed_project(bed), sha, escaped=escaped)
        assert send(server, delivery) < 500, delivery.what


def lone_surrogate(project: Project, sha: str, *, escaped: bool) -> HostileDelivery:
    """A project path that is a lone UTF-16 surrogate — as raw bytes (json.loads reads
    bytes with 'surrogatepass') or as a \\ud800 escape. Either way the answer must be a
    4xx or an "ignored", never a 5xx."""
    payload = based_on("push_branch_deleted", project, 1, sha)
    payload["project"]["path_with_namespace"] = "\ud800"
    text = json.dumps(payload, ensure_ascii=escaped)
    return HostileDelivery("Push Hook", text.encode("utf-8", errors="surrogatepass"),
                           "application/json", f"lone surrogate path, escaped={escaped}")


def iids_named(delivery: HostileDelivery) -> set[int]:
    """The MR iids a delivery could be about (wherever it names one)."""
    payload = delivery.payload
    found: set[int] = set()
    if isinstance(payload, dict):
        for part in (payload.get("object_attributes"), payload.get("merge_request")):
            if isinstance(part, dict) and isinstance(part.get("iid"), int):
                found.add(part["iid"])
    return found or set(IIDS)
