"""What a person reads when the config file is wrong (README "Configuration").

Every text starts with the file (``source``) and, where there is one, the key
path (``projects[0].trigger.lables``), then says how to fix it. They live
together because the reader, the project builder and :func:`bot.config.load_config`
all raise them; the texts that only one config module raises live in that module.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.durations import bad_duration
from bot.domain.messages import quoted


def config_located(source: str, path: str, detail: str) -> str:
    """``detail`` (e.g. a PermanentError's text) placed at a key of the config file."""
    return f"{source}: {path}: {detail}" if path else f"{source}: {detail}"


def config_unreadable(source: str, reason: str) -> str:
    return (
        f"{source}: cannot read the config file ({reason}): check the path or set PREVIEWBOT_CONFIG"
    )


def config_not_yaml(source: str, problem: str, position: tuple[int, int] | None) -> str:
    where = f" at line {position[0]}, column {position[1]}" if position else ""
    return f"{source}: not valid YAML{where}: {problem or 'syntax error'}"


def config_duplicate_yaml_key(key: object) -> str:
    return f"key {quoted(key)} appears twice in the same mapping: keep one"


def config_empty(source: str) -> str:
    return (
        f"{source}: the config file is empty: add defaults (domain, channel) and projects, "
        "e.g. projects: [{path: group/app}]"
    )


def config_unknown_key(
    source: str, path: str, allowed: Iterable[str], suggestion: str | None
) -> str:
    hint = f"did you mean {quoted(suggestion)}? " if suggestion else ""
    return f"{source}: {path}: unknown key; {hint}allowed keys: {', '.join(sorted(allowed))}"


def config_missing_key(source: str, path: str, example: str) -> str:
    return f"{source}: {path} is missing: add it, e.g. {example}"


def config_missing_setting(source: str, project_path: str, key: str, example: str) -> str:
    return (
        f"{source}: {project_path} has no {key}: set defaults.{key} or {project_path}.{key}, "
        f"e.g. {key}: {example}"
    )


def config_wrong_type(source: str, path: str, expected: str, value: object) -> str:
    return f"{source}: {path}: expected {expected}, got {quoted(value)}"


def config_bad_choice(source: str, path: str, value: object, choices: Iterable[str]) -> str:
    return f"{source}: {path}: {quoted(value)} is not allowed; use one of: {', '.join(choices)}"


def config_bad_value(source: str, path: str, value: object, fix: str) -> str:
    return f"{source}: {path}: {quoted(value)} is not valid: {fix}"


def config_bad_duration(source: str, path: str, value: object) -> str:
    return f"{source}: {bad_duration(path, value)}"


_DUPLICATE_FIXES = {
    "path": "list each GitLab project once",
    "slug": "set a distinct slug: on one of them",
    "id": "each GitLab project has its own id; correct one of them",
}


def config_duplicate(source: str, path: str, what: str, value: object, first_path: str) -> str:
    fix = _DUPLICATE_FIXES.get(what, "make them distinct")
    return f"{source}: {path}: {what} {quoted(value)} is already used by {first_path}: {fix}"


def config_too_small(source: str, path: str, value: int, minimum: int) -> str:
    return f"{source}: {path}: {value} is too small: use at least {minimum} (or remove the key)"


def config_not_longer(source: str, path: str, value: str, other_path: str, other: str) -> str:
    return (
        f"{source}: {path} ({value}) is longer than {other_path} ({other}): make it at most {other}"
    )


def config_not_shorter(source: str, path: str, value: str, other_path: str, other: str) -> str:
    return f"{source}: {path} ({value}) must be shorter than {other_path} ({other}): lower it"


def config_unknown_placeholder(
    source: str, path: str, name: str, allowed: Iterable[str], suggestion: str | None
) -> str:
    names = ", ".join("{" + a + "}" for a in allowed)
    hint = f"did you mean {{{suggestion}}}? " if suggestion else ""
    return f"{source}: {path}: unknown placeholder {{{name}}}; {hint}allowed: {names}"


def config_no_projects(source: str) -> str:
    return f"{source}: projects is empty: add at least one, e.g. projects: [{{path: group/app}}]"
