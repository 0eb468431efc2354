"""Real `previewbot serve` processes and GitLab-shaped webhook deliveries for tests."""

from __future__ import annotations

import contextlib
import copy
import http.client
import json
import signal
import socket
import subprocess
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.lifecycle_bed import PREVIEWBOT, REPO, LifecycleBed
from tests.polling import poll

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab"
SECRET = "webhook-secret-for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    log_path: Path

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metric(self, name: str, **labels: str) -> float:
        wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
                         if labels else "")
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(wanted + " "):
                    return float(line.split()[-1])
        return 0.0


def start_server(bed: LifecycleBed, *, name: str = "serve", **env: str) -> Server:
    port = free_port()
    log_path = bed.tmp / f"{name}-{port}.log"
    environ = {**bed.environ(), "PREVIEWBOT_HOST": "127.0.0.1", "PREVIEWBOT_PORT": str(port),
               "GITLAB_WEBHOOK_SECRET": SECRET, "PREVIEWBOT_CLAIM_IDLE": "2s", **env}
    with log_path.open("w") as log:
        process = subprocess.Popen([PREVIEWBOT, "serve"], cwd=REPO, env=environ, stdout=log,
                                   stderr=subprocess.STDOUT, text=True)
    server = Server(f"http://127.0.0.1:{port}", process, log_path)

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"previewbot serve exited:\n{server.log()}")
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    poll("previewbot serve to answer /healthz", healthy, timeout=30)
    return server


def post(server: Server, event_type: str, payload: dict[str, Any] | bytes, *,
         token: str | None = SECRET, headers: dict[str, str] | None = None,
         content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
    """POST a delivery as GitLab does; (status, JSON body).

    A server may answer (413) and close before a large body is fully sent: the
    answer is still read after the client's write fails."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sent = {"Content-Type": content_type, "X-Gitlab-Event": event_type,
            "X-Gitlab-Event-UUID": str(uuid.uuid4()), **(headers or {})}
    if token is not None:
        sent["X-Gitlab-Token"] = token
    connection = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=10)
    try:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.request("POST", "/webhooks/gitlab", body=body, headers=sent)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def mr_event(bed: LifecycleBed, action: str, iid: int, sha: str, *,
             updated_at: str = "2026-11-26T10:00:00Z", branch: str | None = None,
             oldrev: str | None = None) -> dict[str, Any]:
    """A Merge Request Hook shaped like GitLab's documented example, for this bed."""
    name = {"open": "merge_request_open", "update": "merge_request_update_commits",
            "close": "merge_request_close", "merge": "merge_request_merge",
            "approved": "merge_request_approved"}[action]
    payload = copy.deepcopy(fixture(name))
    payload["project"].update(id=bed.project_id, path_with_namespace=bed.project_path)
    attributes = payload["object_attributes"]
    attributes.update(iid=iid, source_branch=branch or f"feature-{iid}", updated_at=updated_at,
                      action=action, target_branch="main")
    attributes["last_commit"]["id"] = sha
    attributes.pop("oldrev", None)
    if oldrev is not None:
        attributes["oldrev"] = oldrev
    return payload


def pipeline_event(bed: LifecycleBed, iid: int, sha: str, *,
                   finished_at: str = "2026-11-26T10:00:00Z") -> dict[str, Any]:
    payload = copy.deepcopy(fixture("pipeline_success_mr"))
    payload["project"].update(id=bed.project_id, path_with_namespace=bed.project_path)
    # Pipelines are ordered by created_at: a re-run of an old pipeline stays old.
    payload["object_attributes"].update(sha=sha, ref=f"feature-{iid}", status="success",
                                        created_at=finished_at, finished_at=finished_at)
    payload["merge_request"].update(iid=iid, source_branch=f"feature-{iid}",
                                    target_branch="main", state="opened")
    return payload


def branch_deleted_event(bed: LifecycleBed, branch: str) -> dict[str, Any]:
    payload = copy.deepcopy(fixture("push_branch_deleted"))
    payload["project"].update(id=bed.project_id, path_with_namespace=bed.project_path)
    payload.update(ref=f"refs/heads/{branch}", after="0" * 40, project_id=bed.project_id)
    return payload
