"""bot.helm against the real Helm 4 CLI and the test-bed cluster."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import pytest
from kubernetes.client.exceptions import ApiException

from bot.cluster.helm import Helm, Release, plan_recovery
from bot.domain.errors import PermanentError, StepTimeoutError, TemporaryError
from tests.conftest import Kube
from tests.polling import poll

CHARTS = Path(__file__).resolve().parents[1] / "charts"
TINY, BROKEN, SLOW = str(CHARTS / "tiny"), str(CHARTS / "broken"), str(CHARTS / "slow")
HOSTILE = ("it's \"quoted\" and 'single'\nsecond line --set x=y,z=w ünïcødé 😀 {{ .Values }} "
           "$(touch /tmp/pwned) `id` \\ # not: a comment ~ null yes")
T = TypeVar("T")




@pytest.fixture
def argvs() -> list[list[str]]:
    return []


@pytest.fixture
def adapter(helm: str, kube: Kube, argvs: list[list[str]]) -> Helm:
    return Helm(helm, kubeconfig=kube.kubeconfig, timeout=60,
                on_command=lambda argv: argvs.append(list(argv)))


def configmap_data(kube: Kube, name: str) -> dict[str, str] | None:
    try:
        return dict(kube.core.read_namespaced_config_map(name, kube.namespace).data or {})
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def test_version_is_helm_4(adapter: Helm) -> None:
    assert adapter.version().startswith("v4")
    assert adapter.major == 4


def test_install_upgrade_list_uninstall(adapter: Helm, kube: Kube) -> None:
    ns = kube.namespace
    installed = adapter.upgrade_install("tiny", TINY, ns, {"greeting": "hi"})
    assert installed == Release("tiny", ns, 1, "deployed", "tiny-0.1.0", "")
    assert configmap_data(kube, "tiny-greeting") == {"greeting": "hi"}

    # Helm 4.3.1 fact: identical chart and values still make a new revision.
    again = adapter.upgrade_install("tiny", TINY, ns, {"greeting": "hi"})
    assert again is not None and (again.revision, again.status) == (2, "deployed")
    changed = adapter.upgrade_install("tiny", TINY, ns, {"greeting": "hey"})
    assert changed is not None and changed.revision == 3
    assert configmap_data(kube, "tiny-greeting") == {"greeting": "hey"}
    latest = adapter.get_release("tiny", ns)
    assert latest is not None and latest.updated is not None  # history says when
    assert dataclasses.replace(latest, updated=None) == changed
    assert [r.status for r in adapter.history("tiny", ns)] == ["superseded", "superseded",
                                                               "deployed"]

    assert adapter.list_releases(ns) == [changed]
    assert changed in adapter.list_releases()

    assert adapter.uninstall("tiny", ns, dry_run=False) is True
    assert adapter.get_release("tiny", ns) is None
    assert configmap_data(kube, "tiny-greeting") is None
    assert adapter.uninstall("tiny", ns, dry_run=False) is False


def test_hostile_values_round_trip_and_never_reach_argv(helm: str, kube: Kube) -> None:
    argvs: list[list[str]] = []
    files: dict[str, tuple[int, object]] = {}

    def seen(argv: Sequence[str]) -> None:
        argvs.append(list(argv))
        if "-f" in argv:  # the values file exists while helm runs: private, plain JSON
            path = argv[list(argv).index("-f") + 1]
            files[path] = (stat.S_IMODE(os.stat(path).st_mode), json.loads(Path(path).read_text()))

    adapter = Helm(helm, kubeconfig=kube.kubeconfig, timeout=60, on_command=seen)
    nasty = "\x00\x01\x1b\x7f\x85\u2028\u2029\ufeff end"  # raw, these break naive YAML
    values = {"greeting": HOSTILE, "meta": {"title": HOSTILE, "branch": "--set=a", "nasty": nasty,
                                            "list": [1, 2.5, True, None, "on", "0x10", "1e3"]}}
    adapter.upgrade_install("tiny", TINY, kube.namespace, values)

    assert adapter.get_values("tiny", kube.namespace) == values
    assert configmap_data(kube, "tiny-greeting") == {"greeting": HOSTILE}
    assert argvs, "on_command saw no command"
    for argv in argvs:
        assert not any(HOSTILE in arg or "--set" in arg or "nasty" in arg for arg in argv), argv
        assert "--create-namespace" not in argv and "--wait" not in argv
    upgrade = next(argv for argv in argvs if argv[1] == "upgrade")
    assert upgrade[upgrade.index("--history-max") + 1] == "5"
    assert upgrade[upgrade.index("--namespace") + 1] == kube.namespace
    assert upgrade[upgrade.index("--kubeconfig") + 1] == kube.kubeconfig
    values_file = upgrade[upgrade.index("-f") + 1]
    assert files == {values_file: (0o600, values)}
    assert not Path(values_file).exists(), "the values file must be removed after use"


def test_broken_chart_is_a_permanent_error(adapter: Helm, kube: Kube) -> None:
    with pytest.raises(PermanentError) as raised:
        adapter.upgrade_install("broken", BROKEN, kube.namespace, {})
    assert not isinstance(raised.value, TemporaryError)
    assert "replicas" in str(raised.value)
    assert "broken" in str(raised.value) and kube.namespace in str(raised.value)
    assert kube.apps.list_namespaced_deployment(kube.namespace).items == []
    failed = adapter.get_release("broken", kube.namespace)
    assert failed is not None and failed.status == "failed"
    # A fixed chart installs over the failed first attempt.
    fixed = adapter.upgrade_install("broken", TINY, kube.namespace, {})
    assert fixed is not None and fixed.status == "deployed"


def test_dry_run_uninstall_changes_nothing(adapter: Helm, kube: Kube, argvs: list[list[str]],
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="previewbot.helm")
    adapter.upgrade_install("tiny", TINY, kube.namespace, {"greeting": HOSTILE})
    assert adapter.uninstall("tiny", kube.namespace, dry_run=True) is True
    assert "DRY-RUN: would helm uninstall tiny" in caplog.text
    assert HOSTILE not in caplog.text
    assert not any(argv[1] == "uninstall" for argv in argvs)
    release = adapter.get_release("tiny", kube.namespace)
    assert release is not None and release.status == "deployed"
    assert configmap_data(kube, "tiny-greeting") is not None


def test_missing_release_reads(adapter: Helm, kube: Kube) -> None:
    assert adapter.get_release("nope", kube.namespace) is None
    assert adapter.history("nope", kube.namespace) == []
    assert adapter.recover_pending("nope", kube.namespace, dry_run=False) == "absent"
    with pytest.raises(PermanentError, match="nope"):
        adapter.get_values("nope", kube.namespace)


def test_missing_namespace_is_not_created(adapter: Helm, kube: Kube) -> None:
    missing = f"{kube.namespace}-missing"
    with pytest.raises(PermanentError, match=missing):
        adapter.upgrade_install("tiny", TINY, missing, {})
    with pytest.raises(ApiException) as raised:
        kube.core.read_namespace(missing)
    assert raised.value.status == 404


def test_missing_binary_names_the_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-helm")
    with pytest.raises(PermanentError) as raised:
        Helm(missing).version()
    assert missing in str(raised.value) and "install Helm" in str(raised.value)


def test_unreachable_cluster_is_temporary(helm: str, kube: Kube, tmp_path: Path) -> None:
    config = Path(kube.kubeconfig).read_text()
    server = next(line.split("server:")[1].strip() for line in config.splitlines()
                  if "server:" in line)
    unreachable = tmp_path / "kubeconfig"
    unreachable.write_text(config.replace(server, "https://127.0.0.1:1"))
    with pytest.raises(TemporaryError, match="unreachable"):
        Helm(helm, kubeconfig=str(unreachable)).list_releases(kube.namespace)


def test_names_that_could_be_flags_are_refused(adapter: Helm, argvs: list[list[str]]) -> None:
    for name, namespace in (("--debug", "ns"), ("ok", "-A"), ("Upper", "ns"), ("a" * 54, "ns")):
        with pytest.raises(PermanentError):
            adapter.upgrade_install(name, TINY, namespace, {})
    with pytest.raises(PermanentError):
        adapter.upgrade_install("ok", "--set=x", "ns", {})
    assert argvs == []


def test_helm_timeout_is_temporary_and_leaves_a_failed_release(helm: str, kube: Kube) -> None:
    quick = Helm(helm, kubeconfig=kube.kubeconfig, timeout=2)
    # a step that ran out of time: retried a few times, then the environment fails
    with pytest.raises(StepTimeoutError, match="context deadline exceeded"):
        quick.upgrade_install("slow", SLOW, kube.namespace, {})
    release = quick.get_release("slow", kube.namespace)
    assert release is not None and release.status == "failed"


def kill_while_pending(helm: str, kube: Kube, adapter: Helm, *extra: str) -> Release:
    """Start an install/upgrade that blocks on a hook, SIGKILL helm once it is pending."""
    process = subprocess.Popen([helm, "upgrade", "slow", SLOW, "--install", *extra,
                                "--namespace", kube.namespace, "--kubeconfig", kube.kubeconfig,
                                "--timeout", "300s"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def pending() -> Release | None:
            release = adapter.get_release("slow", kube.namespace)
            return release if release is not None and release.status.startswith("pending") \
                else None
        release = poll("the slow release to be pending", pending)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    return release


def test_recover_a_pending_install_by_uninstalling(helm: str, kube: Kube,
                                                   adapter: Helm) -> None:
    stuck = kill_while_pending(helm, kube, adapter)
    assert (stuck.revision, stuck.status) == (1, "pending-install")
    assert adapter.get_release("slow", kube.namespace) == stuck  # still stuck after the kill
    with pytest.raises(TemporaryError, match="another operation"):
        adapter.upgrade_install("slow", SLOW, kube.namespace, {"block": False})

    assert adapter.recover_pending("slow", kube.namespace, dry_run=True) == "uninstalled"
    assert adapter.get_release("slow", kube.namespace) == stuck
    assert adapter.recover_pending("slow", kube.namespace, dry_run=False) == "uninstalled"
    assert adapter.get_release("slow", kube.namespace) is None
    installed = adapter.upgrade_install("slow", SLOW, kube.namespace, {"block": False})
    assert installed is not None and (installed.revision, installed.status) == (1, "deployed")


def test_recover_a_pending_upgrade_by_rolling_back(helm: str, kube: Kube, adapter: Helm) -> None:
    adapter.upgrade_install("slow", SLOW, kube.namespace, {"block": False})
    stuck = kill_while_pending(helm, kube, adapter, "--set", "block=true")
    assert (stuck.revision, stuck.status) == (2, "pending-upgrade")

    assert adapter.recover_pending("slow", kube.namespace, dry_run=False) == "rolled-back"
    history = adapter.history("slow", kube.namespace)
    assert [(r.revision, r.status) for r in history] == [
        (1, "superseded"), (2, "pending-upgrade"), (3, "deployed")]
    assert adapter.recover_pending("slow", kube.namespace, dry_run=False) == "none"
    upgraded = adapter.upgrade_install("slow", SLOW, kube.namespace, {"block": False})
    assert upgraded is not None and (upgraded.revision, upgraded.status) == (4, "deployed")


def revisions(*statuses: str) -> Sequence[Release]:
    return [Release("r", "ns", number, status, "c-1", "")
            for number, status in enumerate(statuses, start=1)]


@pytest.mark.parametrize(("statuses", "plan"), [
    ((), ("absent", None)),
    (("deployed",), ("none", None)),
    (("failed",), ("none", None)),
    (("pending-install",), ("uninstalled", None)),
    (("failed", "pending-upgrade"), ("uninstalled", None)),
    (("superseded", "deployed", "failed", "pending-upgrade"), ("rolled-back", 2)),
    (("deployed", "superseded", "pending-rollback"), ("rolled-back", 1)),
    (("superseded", "superseded", "pending-upgrade"), ("rolled-back", 2)),
    (("deployed", "pending-upgrade", "deployed"), ("none", None)),
])
def test_plan_recovery_decisions(statuses: tuple[str, ...],
                                 plan: tuple[str, int | None]) -> None:
    assert plan_recovery(revisions(*statuses)) == plan
