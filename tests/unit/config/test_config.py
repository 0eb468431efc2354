from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import (
    Config,
    ProjectConfig,
    Settings,
    Trigger,
    TriggerInputs,
    load_config,
    load_config_text,
)
from bot.domain.errors import ConfigError, PermanentError

SPEC_EXAMPLE = """\
slack_admins: [U0ADMIN1]          # Slack user ids allowed every action
reconcile_interval: 60s           # reaper/reconcile period
slack_users: {jdoe: U0JDOE1}       # optional GitLab username → Slack user id
dry_run: false                    # true: plan and report, never change anything
max_parallel_teardowns: 8
defaults:
  domain: preview.example.com     # URL = https://<env>.<domain>
  ttl: 48h                        # lifetime, renewed by each deploy
  max_ttl: 7d                     # extensions never go past created + max_ttl
  warn_before: 2h                 # expiry warning with an Extend button
  channel: C0PREVIEWS             # Slack channel id for announcements
  chart: ./charts/preview-app     # local path or OCI reference
  routing: istio                  # istio | gateway-api | ingress
projects:
  - path: group/app               # GitLab path_with_namespace
    values: {image: {repository: registry.example.com/group/app}}
    image_tag: "{sha}"            # from the MR head / pipeline sha
    trigger: {labels: [], drafts: false, paths: []}
"""

BASE: dict[str, Any] = {
    "defaults": {"domain": "preview.example.com", "channel": "C0PREVIEWS"},
    "projects": [{"path": "group/app"}],
}


def load(doc: dict[str, Any]) -> Config:
    return load_config_text(yaml.safe_dump(doc), source="test.yaml")


def with_change(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    change(doc)
    return doc


# --- loading what is valid --------------------------------------------------


def test_spec_example_loads() -> None:
    config = load_config_text(SPEC_EXAMPLE, source="previewbot.yaml")
    assert config.slack_admins == ("U0ADMIN1",)
    assert config.slack_users == {"jdoe": "U0JDOE1"}
    assert (config.dry_run, config.max_parallel_teardowns) == (False, 8)
    assert config.reconcile_interval == timedelta(seconds=60)
    assert config.max_envs is None
    assert config.source == "previewbot.yaml"
    (project,) = config.projects
    assert project.path == "group/app"
    assert project.slug == "group-app"
    assert project.id is None
    assert project.values == {"image": {"repository": "registry.example.com/group/app"}}
    assert project.image_tag == "{sha}"
    assert project.trigger == Trigger()
    assert (project.domain, project.channel) == ("preview.example.com", "C0PREVIEWS")
    assert (project.ttl, project.max_ttl) == (timedelta(hours=48), timedelta(days=7))
    assert project.warn_before == timedelta(hours=2)
    assert (project.chart, project.routing, project.overlay) == (
        "./charts/preview-app",
        "istio",
        "preview",
    )
    assert (project.deploy_on, project.max_envs, project.smoke_path) == ("push", None, None)
    assert project.ready_timeout == timedelta(minutes=5)
    assert project.image_wait == timedelta(minutes=30)


def test_built_in_defaults() -> None:
    config = load(BASE)
    project = config.projects[0]
    assert config.reconcile_interval == timedelta(seconds=60)
    assert config.slack_admins == ()
    assert (config.slack_users, config.dry_run, config.max_parallel_teardowns) == ({}, False, 8)
    assert config.orphan_grace == timedelta(hours=1)
    assert (project.ttl, project.max_ttl, project.warn_before) == (
        timedelta(hours=48),
        timedelta(days=7),
        timedelta(hours=2),
    )
    assert (project.chart, project.routing) == ("./charts/preview-app", "istio")


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "previewbot.yaml"
    path.write_text(SPEC_EXAMPLE, encoding="utf-8")
    assert load_config(path).source == str(path)
    assert load_config(str(path)).projects[0].path == "group/app"


def test_missing_file_names_the_path_and_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(caught.value)
    assert "PREVIEWBOT_CONFIG" in str(caught.value)


EVERY_KEY_PROJECT: dict[str, Any] = {
    "path": "group/other",
    "slug": "other",
    "id": 42,
    "domain": "other.example.com",
    "channel": "C0OTHER",
    "ttl": "4h",
    "max_ttl": "1d",
    "warn_before": "30m",
    "chart": "oci://registry.example.com/charts/other",
    "routing": "gateway-api",
    "overlay": "dev",
    "deploy_on": "pipeline",
    "image_tag": "{branch_slug}-{short_sha}",
    "max_envs": 3,
    "ready_timeout": "10m",
    "image_wait": "1h",
    "smoke_path": "/healthz",
    "trigger": {"labels": ["preview"], "target_branches": ["main"]},
}


def test_every_defaults_key_can_be_set_per_project() -> None:
    doc = with_change(lambda d: d["projects"].append(EVERY_KEY_PROJECT))
    doc["defaults"].update({"ttl": "1d", "routing": "ingress"})
    config = load(doc)
    first, other = config.projects
    assert (first.ttl, first.routing, first.domain) == (
        timedelta(days=1),
        "ingress",
        "preview.example.com",
    )
    assert (other.slug, other.id, other.domain, other.channel) == (
        "other",
        42,
        "other.example.com",
        "C0OTHER",
    )
    assert (other.ttl, other.max_ttl, other.warn_before) == (
        timedelta(hours=4),
        timedelta(days=1),
        timedelta(minutes=30),
    )
    assert (other.routing, other.overlay, other.deploy_on) == ("gateway-api", "dev", "pipeline")
    assert (other.max_envs, other.ready_timeout, other.smoke_path) == (
        3,
        timedelta(minutes=10),
        "/healthz",
    )
    assert other.image_wait == timedelta(hours=1)
    assert other.trigger == Trigger(labels=("preview",), target_branches=("main",))


def test_values_deep_merge_and_trigger_merges_per_key() -> None:
    doc = copy.deepcopy(BASE)
    doc["defaults"]["values"] = {
        "image": {"repository": "registry/default", "pullPolicy": "IfNotPresent"},
        "replicas": 1,
        "env": ["A=1"],
    }
    doc["defaults"]["trigger"] = {"drafts": True, "labels": ["preview"]}
    doc["projects"][0]["values"] = {
        "image": {"repository": "registry/app"},
        "env": ["B=2"],
        "resources": {"limits": {"cpu": "1"}},
    }
    doc["projects"][0]["trigger"] = {"labels": ["deploy"]}
    project = load(doc).projects[0]
    assert project.helm_values() == {
        "image": {"repository": "registry/app", "pullPolicy": "IfNotPresent"},
        "replicas": 1,
        "env": ["B=2"],  # lists replace, as in Helm
        "resources": {"limits": {"cpu": "1"}},
    }
    assert project.trigger == Trigger(labels=("deploy",), drafts=True)


def test_values_are_frozen_and_helm_values_is_a_copy() -> None:
    doc = with_change(lambda d: d["projects"][0].update(values={"a": {"b": [1]}}))
    project = load(doc).projects[0]
    with pytest.raises(TypeError):
        project.values["a"]["b"] = 2  # type: ignore[index]
    fresh = project.helm_values()
    fresh["a"]["b"].append(2)
    assert project.helm_values() == {"a": {"b": [1]}}
    assert yaml.safe_dump(fresh)  # plain types: serialisable for Helm


def test_directly_built_project_freezes_values() -> None:
    values: dict[str, Any] = {"a": {"b": 1}}
    project = ProjectConfig(path="g/a", slug="g-a", domain="x.io", channel="C1", values=values)
    values["a"]["b"] = 2
    assert project.values == {"a": {"b": 1}}


def test_project_lookups() -> None:
    doc = with_change(lambda d: d["projects"].append({"path": "Group/Other", "id": 9}))
    config = load(doc)
    other = config.projects[1]
    assert config.project_by_path("group/other") is other
    assert config.project_by_slug("group-other") is other
    assert config.project_by_id(9) is other
    assert config.find_project("Group/Other") is other
    assert config.find_project("group-app") is config.projects[0]
    assert config.project_by_path("group/none") is None
    assert config.project_by_id(1) is None


def test_project_helpers() -> None:
    project = load(BASE).projects[0]
    assert project.mr_env_key(7) == "group-app-mr-7"
    assert project.branch_env_key("feature-x") == "group-app-feature-x"
    assert project.url("group-app-mr-7") == "https://group-app-mr-7.preview.example.com"


# --- image tags ---------------------------------------------------------------

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("template", "branch", "iid", "expected"),
    [
        ("{sha}", "main", 7, SHA),
        ("{short_sha}", "main", 7, "01234567"),
        ("{branch_slug}-{short_sha}", "Feature/X_1", 7, "feature-x-1-01234567"),
        ("mr-{iid}", "main", 7, "mr-7"),
        ("v{{1}}-{sha}", "main", None, f"v{{1}}-{SHA}"),
    ],
)
def test_render_image_tag(template: str, branch: str, iid: int | None, expected: str) -> None:
    project = ProjectConfig(path="g/a", slug="g-a", domain="x.io", channel="C1", image_tag=template)
    assert project.render_image_tag(sha=SHA, branch=branch, iid=iid) == expected


def test_render_image_tag_needs_an_iid_when_the_template_does() -> None:
    project = ProjectConfig(path="g/a", slug="g-a", domain="x.io", channel="C1", image_tag="{iid}")
    with pytest.raises(PermanentError, match="branch environment"):
        project.render_image_tag(sha=SHA, branch="main", iid=None)


# --- triggers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "labels", "draft", "paths", "target", "expected"),
    [
        (Trigger(), [], False, [], "main", True),
        (Trigger(), [], True, [], "main", False),
        (Trigger(drafts=True), [], True, [], "main", True),
        (Trigger(labels=("preview",)), ["bug", "Preview"], False, [], "main", True),
        (Trigger(labels=("preview", "demo")), ["bug"], False, [], "main", False),
        (Trigger(paths=("src/*",)), [], False, ["README.md", "src/a/b.py"], "main", True),
        (Trigger(paths=("src/*",)), [], False, ["README.md"], "main", False),
        (Trigger(paths=("*.py",)), [], False, [], "main", False),
        (Trigger(target_branches=("main", "release/*")), [], False, [], "release/1.2", True),
        (Trigger(target_branches=("main",)), [], False, [], "develop", False),
    ],
)
def test_trigger_matches(
    trigger: Trigger,
    labels: list[str],
    draft: bool,
    paths: list[str],
    target: str,
    expected: bool,
) -> None:
    inputs = TriggerInputs(iid=7, labels=tuple(labels), draft=draft, changed_paths=tuple(paths),
                           target_branch=target)
    assert (not trigger.failing(inputs)) is expected


# --- what is refused, and what the message says ---------------------------------

DELETE = object()

# (dotted key to change in BASE, new value or DELETE, parts the message must contain)
BAD_CHANGES: list[tuple[str, object, list[str]]] = [
    ("reconcile_intervall", "60s", ["reconcile_intervall: unknown", '"reconcile_interval"?']),
    ("defaults.tll", "4h", ["defaults.tll: unknown key", '"ttl"?', "allowed keys: channel"]),
    ("projects.0.chartt", "x", ["projects[0].chartt: unknown key", '"chart"?', "path"]),
    (
        "projects.0.trigger",
        {"lables": ["x"]},
        [
            "projects[0].trigger.lables: unknown key",
            'did you mean "labels"?',
            "allowed keys: drafts, labels, paths, target_branches",
        ],
    ),
    ("defaults.trigger", {"draft": True}, ["defaults.trigger.draft", '"drafts"?']),
    ("defaults.ttl", "3x", ["test.yaml", 'defaults.ttl "3x" is not a duration', "e.g. 30m"]),
    ("projects.0.warn_before", 5, ["projects[0].warn_before", "has no unit", "5m"]),
    ("reconcile_interval", "1 m", ["reconcile_interval", "not a duration", "e.g."]),
    ("defaults.ready_timeout", "0s", ["defaults.ready_timeout", "longer than zero"]),
    ("projects.0", {"slug": "x"}, ["projects[0].path is missing", "path: group/app"]),
    ("projects.0.path", "app", ["projects[0].path", "GitLab path, e.g. group/app"]),
    ("defaults.domain", DELETE, ["projects[0] has no domain", "set defaults.domain or"]),
    ("defaults.channel", DELETE, ["projects[0] has no channel", "C0PREVIEWS"]),
    ("projects", DELETE, ["projects is missing", "path: group/app"]),
    ("projects", [], ["projects is empty", "group/app"]),
    ("projects", {"path": "g/a"}, ["projects: expected a list"]),
    ("projects.1", {"path": "Group/App"}, ['path "Group/App" is already used by projects[0]']),
    ("projects.1", {"path": "group/App_"}, ['projects[1].slug: slug "group-app" is already']),
    ("projects.1", {"path": "g/b", "slug": "group-app"}, ["projects[1].slug", "distinct slug"]),
    ("projects.0.slug", "My App", ["projects[0].slug", "lowercase letters"]),
    ("defaults.ttl", "10d", ["defaults.ttl (10d) is longer than the default max_ttl (1w)"]),
    ("projects.0.warn_before", "2d", ["warn_before (2d) must be shorter than the default ttl"]),
    ("max_envs", 0, ["max_envs: 0 is too small", "at least 1"]),
    ("defaults.max_envs", "5", ['defaults.max_envs: expected a whole number, got "5"']),
    ("projects.0.max_envs", True, ["expected a whole number, got true"]),
    ("defaults.routing", "nginx", ['"nginx" is not allowed', "istio, gateway-api, ingress"]),
    ("projects.0.overlay", "staging", ["projects[0].overlay", "prod, dev, preview"]),
    ("projects.0.deploy_on", "merge", ["projects[0].deploy_on", "push, pipeline"]),
    (
        "projects.0.image_tag",
        "{shaa}",
        ["unknown placeholder {shaa}", "did you mean {sha}?", "{short_sha}, {branch_slug}, {iid}"],
    ),
    ("projects.0.image_tag", "{sha", ["projects[0].image_tag", "unbalanced braces"]),
    ("projects.0.image_tag", "v 1:{sha}", ["projects[0].image_tag", "Docker tag"]),
    ("defaults.domain", "https://a.example.com", ["defaults.domain", "host name only"]),
    ("defaults.domain", "Preview.Example.com", ["defaults.domain", "lowercase"]),
    ("defaults.channel", "#previews", ["defaults.channel", "channel id (e.g. C0PREVIEWS)"]),
    ("slack_admins", ["U0OK", "bob"], ["slack_admins[1]", "U0ADMIN1"]),
    ("slack_admins", "U0ADMIN1", ["slack_admins: expected a list"]),
    ("slack_users", {"jdoe": "jdoe@example.com"}, ["slack_users.jdoe", "U0ADMIN1"]),
    ("slack_users", {"j doe": "U0JDOE1"}, ["slack_users.j doe", "GitLab usernames"]),
    ("slack_users", ["jdoe"], ["slack_users: expected a mapping"]),
    ("dry_run", "yes", ["dry_run: expected true or false"]),
    ("max_parallel_teardowns", 0, ["max_parallel_teardowns: 0 is too small"]),
    ("orphan_grace", "soon", ["orphan_grace", "not a duration"]),
    ("projects.0.values", ["a"], ["projects[0].values: expected a mapping"]),
    ("defaults.values", {"a": {1: "x"}}, ["defaults.values.a: expected text keys"]),
    ("projects.0.trigger", {"labels": "x"}, ["projects[0].trigger.labels: expected a list"]),
    ("projects.0.trigger", {"paths": ["*", 3]}, ["projects[0].trigger.paths[1]: expected"]),
    ("projects.0.trigger", {"drafts": "yes"}, ["trigger.drafts: expected true or false"]),
    ("projects.0.smoke_path", "healthz", ["projects[0].smoke_path", "starting with /"]),
    ("projects.0.id", 0, ["projects[0].id: 0 is too small"]),
    ("defaults.chart", "", ["defaults.chart: expected non-empty text"]),
    ("projects.0", "group/app", ["projects[0]: expected a mapping"]),
]


def _changed(dotted: str, value: object) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    *parents, last = [int(part) if part.isdigit() else part for part in dotted.split(".")]
    target: Any = doc
    for part in parents:
        target = target.setdefault(part, {}) if isinstance(part, str) else target[part]
    if value is DELETE:
        del target[last]
    elif isinstance(last, int) and last == len(target):
        target.append(value)
    else:
        target[last] = value
    return doc


@pytest.mark.parametrize(("dotted", "value", "expected"), BAD_CHANGES)
def test_bad_config_is_refused_with_key_and_fix(
    dotted: str, value: object, expected: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(_changed(dotted, value))
    assert str(caught.value).startswith("test.yaml: ")
    for part in expected:
        assert part in str(caught.value)


_MINIMAL = "projects: [{path: group/app}]\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["empty", "projects"]),
        ("- a\n- b\n", ["top level", "a mapping"]),
        ("projects: [\n", ["not valid YAML", "line"]),
        ("defaults: {}\ndefaults: {}\n", ['"defaults" appears twice', "line 2"]),
        ("projects:\n  - path: g/a\n    ttl: 4h\n    ttl: 5h\n", ['"ttl" appears', "line 4"]),
        (  # a bad default is reported even where every project overrides it
            "defaults: {domain: a.io, channel: C1, max_ttl: forever}\n"
            "projects: [{path: g/a, max_ttl: 7d}]\n",
            ['defaults.max_ttl "forever" is not a duration'],
        ),
        (
            "defaults: {domain: a.io, channel: C1, max_ttl: 1d}\n"
            "projects: [{path: g/a, ttl: 2d}]\n",
            ["projects[0].ttl (2d) is longer than defaults.max_ttl (1d)", "at most 1d"],
        ),
        (
            "defaults: {domain: a.io, channel: C1}\n"
            "projects: [{path: g/a, id: 5}, {path: g/b, id: 5}]\n",
            ["projects[1].id: id 5 is already used by projects[0]", "correct one"],
        ),
    ],
)
def test_bad_text_is_refused_with_location(text: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, source="test.yaml")
    assert str(caught.value).startswith("test.yaml: ")
    for part in expected:
        assert part in str(caught.value)


def test_yaml_merge_keys_are_not_duplicates() -> None:
    doc = "defaults:\n  <<: {domain: a.example.com, channel: C0A}\n  domain: preview.example.com\n"
    config = load_config_text(doc + _MINIMAL, source="test.yaml")
    assert config.projects[0].domain == "preview.example.com"
    assert config.projects[0].channel == "C0A"


# --- environment variables ------------------------------------------------------


def test_settings_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.config_path == Path("./previewbot.yaml")
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.gitlab_url is None
    assert settings.kubeconfig is None
    assert settings.helm_timeout == 600.0
    assert not settings.slack_socket_mode


def test_settings_from_env() -> None:
    settings = Settings.from_env(
        {
            "PREVIEWBOT_CONFIG": "/etc/previewbot/config.yaml",
            "PREVIEWBOT_HOST": "127.0.0.1",
            "PREVIEWBOT_PORT": "9000",
            "REDIS_URL": "redis://:hunter2@redis:6379/1",
            "GITLAB_URL": "https://gitlab.example.com",
            "GITLAB_TOKEN": "glpat-secret",
            "GITLAB_WEBHOOK_SECRET": "hook-secret",
            "SLACK_BOT_TOKEN": "xoxb-secret",
            "SLACK_SIGNING_SECRET": "signing-secret",
            "SLACK_APP_TOKEN": "xapp-secret",
            "SLACK_API_URL": "http://localhost:9999/api",
            "KUBECONFIG": "/home/me/.kube/config",
            "PREVIEWBOT_HELM_TIMEOUT": "90s",
        }
    )
    assert settings.helm_timeout == 90.0
    assert settings.config_path == Path("/etc/previewbot/config.yaml")
    assert (settings.host, settings.port) == ("127.0.0.1", 9000)
    assert settings.gitlab_token == "glpat-secret"
    assert settings.slack_api_url == "http://localhost:9999/api/"
    assert settings.kubeconfig == "/home/me/.kube/config"
    assert settings.slack_socket_mode
    shown = repr(settings)
    for secret in ("hunter2", "glpat-secret", "hook-secret", "xoxb", "signing-secret", "xapp"):
        assert secret not in shown


def test_empty_variables_count_as_unset() -> None:
    settings = Settings.from_env({"PREVIEWBOT_PORT": "", "SLACK_APP_TOKEN": ""})
    assert settings.port == 8080
    assert settings.slack_app_token is None


@pytest.mark.parametrize("port", ["abc", "0", "65536", "-1", "80.5", "٨٠"])
def test_bad_port_is_refused(port: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"PREVIEWBOT_PORT": port})
    assert "PREVIEWBOT_PORT" in str(caught.value)
    assert "1-65535" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_URL", "localhost:6379"),
        ("REDIS_URL", "http://:hunter2@redis"),
        ("GITLAB_URL", "gitlab.example.com"),
        ("SLACK_API_URL", "ftp://slack"),
    ],
)
def test_bad_urls_are_refused_without_echoing_them(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    assert name in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_require_lists_every_missing_variable() -> None:
    settings = Settings.from_env({"GITLAB_URL": "https://gitlab.example.com"})
    settings.require("gitlab_url")
    with pytest.raises(ConfigError) as caught:
        settings.require("gitlab_url", "gitlab_token", "slack_bot_token")
    assert "GITLAB_TOKEN, SLACK_BOT_TOKEN" in str(caught.value)
