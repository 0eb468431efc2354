"""Helm CLI adapter: argv lists only (never a shell), values only through a file.

Helm 4 is the primary target; Helm 3 keeps working where flags differ:
``helm list`` needs ``--all`` on Helm 3 to include failed/pending releases, and
Helm 4 rejects that flag because it lists every status by default.

Facts found by experiment with Helm 4.3.1 (see tests/integration/cluster/test_helm.py):

- ``upgrade --install`` with identical chart and values still creates a new
  revision (1 → 2), so callers should skip it when nothing changed.
- Killed with SIGKILL mid-install/upgrade, helm leaves the release in
  ``pending-install``/``pending-upgrade`` and every later upgrade fails with
  "another operation (install/upgrade/rollback) is in progress". On SIGTERM it
  cancels cleanly and marks the revision ``failed`` instead, so on our own
  timeout we send SIGTERM first. ``recover_pending`` repairs a stuck release.
- ``rollback`` works on a release whose latest revision is pending; the stale
  pending revision stays in the history, only the latest revision counts.
- ``upgrade --install`` after a failed first install just installs again.
- Uninstall does not remove hook resources (they are not part of the release);
  deleting the namespace does.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import metrics
from bot.domain.errors import (
    AccessError,
    DeployInterrupted,
    PermanentError,
    StepTimeoutError,
    TemporaryError,
)
from bot.domain.plan import PENDING_RELEASE_STATES

log = logging.getLogger("previewbot.helm")
HISTORY_MAX = 5
LIST_MAX = 100_000  # `--max 0` means "the storage default", not "everything"
GOOD = ("deployed", "superseded")
# Errors of the cluster's state or of the network between, never of the inputs: retried
# with backoff (the pass tries a FAILED environment again), not left for a new commit.
# Lowercase substrings of Helm's stderr (see `classify` for the order they are tried in).
TRANSIENT_PATTERNS = (
    # an admission webhook that cannot be called (an ingress controller rolling out, its
    # Service without endpoints): not a webhook that *denied* the object, which is final
    "failed calling webhook",
    "no endpoints available for service",
    "http2: client connection lost",
    "client.timeout exceeded",  # Go's HTTP client timeout
    "net/http: request canceled",
    "no such host",  # DNS
    "etcdserver: request timed out",
    "etcdserver: leader changed",
    "connection refused",
    "connection reset",
    "i/o timeout",
    "tls handshake",  # "TLS handshake timeout"
    "no route to host",
    "unexpected eof",
    "kubernetes cluster unreachable",
    "the server is currently unable to handle the request",  # 503
    "unable to return a response in the time allotted",  # 504
    "too many requests",
    "context canceled",
)
# Another writer at work on the release or its objects (another replica's helm, a
# controller): retried after its delay as it stands — nothing failed, nobody is told.
BUSY_PATTERNS = (
    "the object has been modified",
    "another operation (install/upgrade/rollback) is in progress",
)
# Helm's own --timeout ran out (a hook or a wait): worth a few retries, not forever.
_TIMED_OUT = ("timed out waiting for the condition", "context deadline exceeded")
# Anything else that timed out (not Helm's own --timeout, matched above): transient.
_OTHER_TIMEOUT = "timed out"
_ACCESS_DENIED = (" is forbidden: ", "unauthorized", "you must be logged in to the server")
# The cluster's admission said no to an object (previewbot's policy, Pod Security, a
# webhook that answered): the same inputs are refused again, so it is final. Tried
# before _ACCESS_DENIED, whose " is forbidden: " such a refusal also contains.
POLICY_DENIED = ("validatingadmissionpolicy", "violates podsecurity", "denied the request",
                 "denied request")
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# Characters YAML does not accept raw inside a quoted scalar (or reads as line breaks).
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    revision: int
    status: str
    chart: str  # "<chart name>-<chart version>"
    app_version: str
    updated: datetime | None = None  # when this revision last changed (history only)


def parse_helm_time(text: object) -> datetime | None:
    """Helm's ``2026-12-01T05:27:57.693437714Z`` (nanoseconds) as an aware datetime."""
    if not isinstance(text, str) or not text:
        return None
    head, dot, rest = text.partition(".")
    if dot:  # keep microseconds: fromisoformat takes at most 6 digits
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Helm:
    def __init__(self, binary: str = "helm", *, kubeconfig: str | None = None,
                 timeout: float = 600.0,
                 on_command: Callable[[Sequence[str]], None] | None = None) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.timeout = timeout
        self._on_command = on_command
        self._version: str | None = None
        self._running: set[subprocess.Popen[str]] = set()
        self._running_lock = threading.Lock()

    def version(self) -> str:
        """The client version, e.g. "v4.3.1" (asked once, then cached)."""
        if self._version is None:
            self._version = self._run(["version", "--template", "{{.Version}}"],
                                      what="helm version").strip()
        return self._version

    @property
    def major(self) -> int:
        found = re.match(r"v?(\d+)\.", self.version())
        if found is None:
            raise PermanentError(f"cannot read the Helm version from {self.version()!r} "
                                 f"({self.binary}); install Helm 4")
        return int(found.group(1))

    def list_releases(self, namespace: str | None = None) -> list[Release]:
        """Every release in every status (failed and pending too); all namespaces when None."""
        args = ["list", "-o", "json", "--max", str(LIST_MAX)]
        args += ["--all"] if self.major < 4 else []
        args += ["-A"] if namespace is None else ["--namespace", _checked(namespace, 63)]
        items = json.loads(self._run(args, what="helm list") or "[]") or []
        return [Release(item["name"], item["namespace"], int(item["revision"]), item["status"],
                        item["chart"], item.get("app_version") or "") for item in items]

    def get_release(self, name: str, namespace: str) -> Release | None:
        history = self.history(name, namespace)
        return history[-1] if history else None

    def history(self, name: str, namespace: str) -> list[Release]:
        """All stored revisions, oldest first; empty when the release does not exist."""
        args = ["history", _checked(name, 53), "--namespace", _checked(namespace, 63),
                "-o", "json"]
        out = self._run_or_none(
            args, what=f"helm history of release {name} in namespace {namespace}")
        items = json.loads(out or "[]") or []
        return sorted((Release(name, namespace, int(item["revision"]), item["status"],
                               item["chart"], item.get("app_version") or "",
                               parse_helm_time(item.get("updated")))
                       for item in items), key=lambda release: release.revision)

    def get_values(self, name: str, namespace: str) -> dict[str, Any]:
        """The values the release was installed with (not the chart defaults)."""
        args = ["get", "values", _checked(name, 53), "--namespace", _checked(namespace, 63),
                "-o", "json"]
        values = json.loads(self._run(
            args, what=f"helm get values of release {name} in namespace {namespace}") or "{}")
        return dict(values or {})

    def upgrade_install(self, name: str, chart: str, namespace: str,
                        values: Mapping[str, Any]) -> Release:
        """Install or upgrade without waiting for readiness.

        Never creates the namespace (the engine does, with ownership labels) and never
        puts a value on the command line: values go through a private JSON file.
        """
        if chart.startswith("-") or not chart:
            raise PermanentError(f"chart reference {chart!r} for release {name} is not valid")
        args = ["upgrade", _checked(name, 53), chart, "--install",
                "--namespace", _checked(namespace, 63), "--history-max", str(HISTORY_MAX),
                "--timeout", self._helm_timeout(), "-o", "json"]
        with _values_file(values) as path:
            out = self._run([*args, "-f", path],
                            what=f"helm upgrade --install of release {name} in namespace "
                                 f"{namespace} (chart {chart})")
        data = json.loads(out)
        meta = data["chart"]["metadata"]
        return Release(data["name"], data["namespace"], int(data["version"]),
                       data["info"]["status"], f"{meta['name']}-{meta['version']}",
                       meta.get("appVersion") or "")

    def uninstall(self, name: str, namespace: str, *, dry_run: bool) -> bool:
        """Remove the release; False when there is none."""
        if self.get_release(name, namespace) is None:
            return False
        args = ["uninstall", _checked(name, 53), "--namespace", _checked(namespace, 63),
                "--timeout", self._helm_timeout()]
        if dry_run:
            log.info("DRY-RUN: would helm %s", " ".join(args))
            return True
        out = self._run_or_none(
            args, what=f"helm uninstall of release {name} in namespace {namespace}")
        return out is not None

    def recover_pending(self, name: str, namespace: str, *, dry_run: bool) -> str:
        """Unstick a release left pending by a crash; returns what it did.

        "rolled-back" (to the last good revision), "uninstalled" (never deployed),
        "none" (latest revision not pending) or "absent" (no such release).
        """
        action, target = plan_recovery(self.history(name, namespace))
        if action in ("none", "absent"):
            return action
        what = f"release {name} in namespace {namespace}"
        if action == "uninstalled":
            log.warning("release %s is stuck pending and was never deployed: uninstalling", what)
            self.uninstall(name, namespace, dry_run=dry_run)
            return action
        args = ["rollback", _checked(name, 53), str(target), "--namespace",
                _checked(namespace, 63), "--history-max", str(HISTORY_MAX),
                "--timeout", self._helm_timeout()]
        if dry_run:
            log.info("DRY-RUN: would helm %s", " ".join(args))
            return action
        log.warning("%s is stuck pending: rolling back to revision %s", what, target)
        self._run(args, what=f"helm rollback of {what} to revision {target}")
        return action

    def stop_running(self, grace: float) -> int:
        """Shutting down: SIGTERM every helm still running (Helm then marks its release
        failed instead of leaving it pending), SIGKILL what is left after ``grace``
        seconds. Returns how many were running."""
        with self._running_lock:
            running = list(self._running)
        for process in running:
            with suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        return len(running)

    def _track(self, process: subprocess.Popen[str], started: bool) -> None:
        with self._running_lock:
            if started:
                self._running.add(process)
            else:
                self._running.discard(process)

    def _helm_timeout(self) -> str:
        return f"{max(1, int(self.timeout))}s"

    def _run(self, args: Sequence[str], *, what: str) -> str:
        """Run helm and return its stdout; a non-zero exit raises."""
        found = self._run_or_none(args, what=what)
        if found is None:
            raise PermanentError(f"{what} failed: the release does not exist")
        return found

    def _run_or_none(self, args: Sequence[str], *, what: str) -> str | None:
        """Like ``_run``, but None when helm says "release: not found"."""
        argv = [self.binary, *args]
        if self.kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        if self._on_command is not None:
            self._on_command(list(argv))
        log.debug("running %s", argv)
        code, out, err = _execute(argv, self.binary, self.timeout + 30, self._track)
        if code == 0:
            return out
        if "release: not found" in err:
            return None
        raise classify(what, err)


def plan_recovery(history: Sequence[Release]) -> tuple[str, int | None]:
    """Decide how to unstick a release from its history (oldest first).

    Only the latest revision counts: a rollback leaves the stale pending revision
    in the history below the new deployed one.
    """
    if not history:
        return "absent", None
    latest = max(history, key=lambda release: release.revision)
    if latest.status not in PENDING_RELEASE_STATES:
        return "none", None
    earlier = [r for r in history if r.revision < latest.revision and r.status in GOOD]
    if not earlier:
        return "uninstalled", None
    deployed = [r for r in earlier if r.status == "deployed"] or earlier
    return "rolled-back", max(r.revision for r in deployed)


def _checked(name: str, limit: int) -> str:
    """Names reach argv, so they must be plain DNS labels (never flags or user text)."""
    if len(name) > limit or not _NAME.fullmatch(name):
        raise PermanentError(f"{name!r} is not a valid Helm release/namespace name "
                             f"(lowercase letters, digits and '-', at most {limit} characters)")
    return name


def _execute(argv: list[str], binary: str, timeout: float,
             track: Callable[[subprocess.Popen[str], bool], None]) -> tuple[int, str, str]:
    try:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=helm_environment(os.environ))
    except (FileNotFoundError, PermissionError, NotADirectoryError) as error:
        raise PermanentError(
            f"cannot run the Helm binary {binary!r} ({error.strerror}); install Helm 4 "
            "(https://helm.sh/docs/intro/install/) and put it on PATH or configure its path"
        ) from error
    track(process, True)
    try:
        return _finish(process, argv, timeout)
    finally:
        track(process, False)


def _finish(process: subprocess.Popen[str], argv: list[str],
            timeout: float) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as error:
        # SIGTERM lets helm mark the release failed instead of leaving it pending.
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        raise StepTimeoutError(f"{argv[1]} did not finish within {timeout:.0f}s and was stopped",
                               delay=30.0) from error
    return process.returncode, out, err


def classify(what: str, stderr: str) -> TemporaryError | PermanentError:
    """Helm's failure as the error the engine acts on: refused credentials, a transient
    error of the cluster or network (retried with backoff), Helm's own timeout (a few
    retries), else permanent (only a new input fixes it: the chart, values, a commit)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    tail = "\n".join(lines[-5:])[-1500:] or "(no output on stderr)"
    message = f"{what} failed: {tail}"
    metrics.ERRORS.labels(dependency="helm").inc()
    lowered = stderr.lower()
    if (any(marker in lowered for marker in POLICY_DENIED)
            and "failed calling webhook" not in lowered):
        return PermanentError(policy_refused(what, tail))
    if any(marker in lowered for marker in _ACCESS_DENIED):
        return AccessError(f"{message} — check the bot's credentials and RBAC permissions",
                           delay=60.0)
    # A webhook or API call that timed out says so too: the transient table goes first.
    if any(marker in lowered for marker in BUSY_PATTERNS):
        return TemporaryError(message, delay=10.0)
    if any(marker in lowered for marker in TRANSIENT_PATTERNS):
        return DeployInterrupted(message, delay=10.0)
    if any(marker in lowered for marker in _TIMED_OUT):
        return StepTimeoutError(message, delay=30.0)
    if _OTHER_TIMEOUT in lowered:
        return DeployInterrupted(message, delay=10.0)
    return PermanentError(message)


VALUES_PREFIX = "previewbot-values-"


def sweep_values_files(directory: str | None = None) -> list[str]:
    """Remove the values files of processes that are gone (killed before their
    ``finally``); returns what was removed. Files of live processes stay."""
    removed = []
    where = Path(directory or tempfile.gettempdir())
    for path in where.glob(f"{VALUES_PREFIX}*.json"):
        pid = path.name[len(VALUES_PREFIX):].split("-", 1)[0]
        if pid.isdecimal() and not _alive(int(pid)):
            with suppress(FileNotFoundError):
                path.unlink()
                removed.append(str(path))
    if removed:
        log.info("removed %d values file(s) left by stopped processes", len(removed))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@contextmanager
def _values_file(values: Mapping[str, Any]) -> Iterator[str]:
    """A private (0600) temporary JSON file; JSON is YAML, and nothing lands on argv."""
    try:
        text = json.dumps(values, ensure_ascii=False, allow_nan=False, sort_keys=True)
        data = _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode()
    except (TypeError, ValueError, UnicodeEncodeError) as error:
        raise PermanentError(f"the Helm values cannot be written as JSON: {error}") from error
    # The pid in the name: a file whose process died (SIGKILL skips `finally`) is swept.
    handle, path = tempfile.mkstemp(prefix=f"{VALUES_PREFIX}{os.getpid()}-", suffix=".json")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        yield path
    finally:
        os.unlink(path)


# KUBERNETES_SERVICE_*: in a pod without KUBECONFIG, Helm finds the API server by them.
_HELM_ENV_NAMES = ("PATH", "HOME", "KUBECONFIG", "TMPDIR", "HTTP_PROXY", "HTTPS_PROXY",
                   "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "SSL_CERT_FILE",
                   "SSL_CERT_DIR", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")


def helm_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What Helm (and its plugins) may see: never the bot's GitLab/Slack secrets."""
    return {name: value for name, value in environ.items()
            if name in _HELM_ENV_NAMES or name.startswith(("HELM_", "XDG_"))}


def policy_refused(what: str, detail: str) -> str:
    return (f"{what} failed: the cluster's admission refused it: {detail} — the chart or "
            "the project's values ask for something a preview may not have (README "
            "\"Security model\"); change them and push a commit")
