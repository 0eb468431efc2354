"""The Dockerfile, parsed (no Docker engine runs here): multi-stage, pinned slim
Python, the test bed's Helm version, non-root, `previewbot serve`, a HEALTHCHECK,
and a .dockerignore that lets only what the image needs into the build context."""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from bot.config.model import DEFAULT_CHART
from bot.config.settings import DEFAULT_PORT
from tests.cluster.testbed import versions

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages); joins continuation lines, drops comments."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, "a continuation line runs off the end"
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            found = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", args.strip(), re.IGNORECASE)
            assert found, line
            stages.append(Stage(found.group(1), found.group(2)))
        elif not stages:
            assert keyword == "ARG", f"only ARG may precede the first FROM: {line}"
            name, _, default = args.partition("=")
            global_args[name] = default
        else:
            stages[-1].instructions.append((keyword, args.strip()))
    return global_args, stages


GLOBAL_ARGS, STAGES = parse((REPO / "Dockerfile").read_text())
FINAL = STAGES[-1]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"not exec form: {args}"
    return [str(v) for v in value]


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        env.update(dict(re.findall(r"(\w+)=(\S+)", args)))
    return env


def test_multi_stage_with_pinned_images() -> None:
    assert len(STAGES) >= 2
    for stage in STAGES:
        assert ":" in stage.image or "@sha256:" in stage.image, stage.image
        tag = stage.image.split("@")[0].rsplit(":", 1)[1]
        assert tag != "latest"
        # a full x.y.z version, not a moving x or x.y tag
        assert re.match(r"\d+\.\d+\.\d+", tag), f"{stage.image} is not pinned to x.y.z"
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", FINAL.image), FINAL.image


def test_helm_is_the_test_beds_pinned_version() -> None:
    pinned = versions()["HELM_VERSION"]
    assert GLOBAL_ARGS["HELM_VERSION"] == pinned
    [builder] = [s for s in STAGES if s.name == "helm"]
    assert any("helm.sh/helm/v4/cmd/helm@${HELM_VERSION}" in run for run in builder.all("RUN"))
    copied = [c for c in FINAL.all("COPY") if c.startswith("--from=helm")]
    assert copied == ["--from=helm /go/bin/helm /usr/local/bin/helm"]
    assert env_of(FINAL)["PREVIEWBOT_HELM"] == "/usr/local/bin/helm"


def test_runs_as_a_non_root_user() -> None:
    [user] = FINAL.all("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric, so runAsNonRoot can verify it
    assert any(f"--uid {uid}" in run for run in FINAL.all("RUN"))


def test_previewbot_serve_is_the_entrypoint_and_port() -> None:
    [entrypoint] = FINAL.all("ENTRYPOINT")
    [cmd] = FINAL.all("CMD")
    assert exec_form(entrypoint) + exec_form(cmd) == ["previewbot", "serve"]
    assert FINAL.all("EXPOSE") == [str(DEFAULT_PORT)]
    assert env_of(FINAL)["PREVIEWBOT_LOG_FORMAT"] == "json"


def test_a_healthcheck_on_healthz() -> None:
    [healthcheck] = FINAL.all("HEALTHCHECK")
    options, _, command = healthcheck.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    assert f"http://127.0.0.1:{DEFAULT_PORT}/healthz" in " ".join(exec_form(command))


def test_the_default_chart_is_where_the_config_default_points() -> None:
    [workdir] = FINAL.all("WORKDIR")
    assert DEFAULT_CHART == "./charts/preview-app"
    assert "charts/preview-app ./charts/preview-app" in FINAL.all("COPY")
    assert workdir == "/app"


def test_writable_paths_are_under_tmp_for_a_read_only_root() -> None:
    env = env_of(FINAL)
    for name in ("HOME", "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        assert env[name].startswith("/tmp"), name


def test_no_secret_is_baked_in() -> None:
    text = (REPO / "Dockerfile").read_text()
    for word in ("TOKEN", "SECRET", "PASSWORD"):
        assert not re.search(rf"^\s*(ENV|ARG)\b.*{word}", text, re.MULTILINE | re.IGNORECASE)


# --- .dockerignore ----------------------------------------------------------------------


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes; a pattern
    matches a directory and everything below it."""
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        bare = pattern.removeprefix("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if bare == "**" or any(fnmatch.fnmatchcase(p, bare) for p in prefixes) or (
                bare.startswith("**/") and any(fnmatch.fnmatchcase(part, bare[3:])
                                               for part in parts)):
            result = not negate
    return result


def test_dockerignore_lets_in_only_what_the_image_copies() -> None:
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    sources = [args.split()[:-1] for stage in STAGES for args in stage.all("COPY")
               if not args.startswith("--from")]
    for source in (s for group in sources for s in group):
        probe = source.rstrip("/") + ("/__init__.py" if source in ("bot", "handlers") else "")
        assert not ignored(probe, patterns), f"{source} is copied but ignored"
    for secret_or_junk in (".env", ".venv/bin/python", ".testbed/kubeconfig", ".git/config",
                           "tests/conftest.py", "bot/__pycache__/x.pyc", "charts/previewbot/"
                           "values.yaml"):
        assert ignored(secret_or_junk, patterns), secret_or_junk
