"""/healthz and /readyz of a real `previewbot serve`: ready only while Redis and the
Kubernetes API answer; alive as long as the process serves."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.webhook_support import Server, free_port, start_server
from tests.polling import poll
from tests.redis_server import private_redis


def get(server: Server, path: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(server.url + path, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_ready_only_while_redis_and_kubernetes_answer(bed: LifecycleBed,
                                                     tmp_path: Path) -> None:
    with private_redis(tmp_path) as redis:
        server = start_server(bed, REDIS_URL=redis.url)
        try:
            assert get(server, "/readyz") == (200, {"redis": "ok", "kubernetes": "ok"})
            redis.pause()
            code, body = poll("/readyz to say Redis is down",
                              lambda: (answer := get(server, "/readyz"))[0] == 503 and answer,
                              timeout=30)
            assert code == 503 and body["kubernetes"] == "ok"
            assert "Redis" in body["redis"]
            assert get(server, "/healthz") == (200, {"status": "ok"})  # alive, not ready
            redis.resume()
            poll("/readyz to recover", lambda: get(server, "/readyz")[0] == 200, timeout=30)
        finally:
            server.stop()


def test_not_ready_without_the_kubernetes_api(bed: LifecycleBed, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "unreachable.kubeconfig"
    kubeconfig.write_text(re.sub(r"server: https://127\.0\.0\.1:\d+",
                                 f"server: https://127.0.0.1:{free_port()}",
                                 Path(bed.testbed.kubeconfig).read_text()))
    server = start_server(bed, KUBECONFIG=str(kubeconfig))
    try:
        code, body = get(server, "/readyz")
        assert code == 503 and body["redis"] == "ok"
        assert "Kubernetes API is unreachable" in body["kubernetes"]
    finally:
        server.stop()
