"""Reading the YAML config: strict loading and typed field readers.

Every reader takes the raw value and a :class:`Where` (file + key path such as
``projects[0].trigger.labels``) and either returns a typed value or raises
:class:`ConfigError` whose text names the file, the key and the fix.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

import yaml

from bot.config import texts as config_texts
from bot.domain.durations import parse_duration
from bot.domain.errors import ConfigError, PermanentError

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True, slots=True)
class Where:
    """A place in the config file, for error messages."""

    source: str
    path: str = ""

    def key(self, name: object) -> Where:
        return Where(self.source, f"{self.path}.{name}" if self.path else str(name))

    def index(self, position: int) -> Where:
        return Where(self.source, f"{self.path}[{position}]")

    def fail(self, text: str) -> NoReturn:
        raise ConfigError(text)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # '<<' merges may repeat keys on purpose
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, config_texts.config_duplicate_yaml_key(key), key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, source: str) -> object:
    """Parse ``text`` strictly; YAML errors become ConfigError with line and column."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        # PyYAML counts from 0, editors from 1
        position = (mark.line + 1, mark.column + 1) if mark else None
        problem = error.problem or error.context or ""
        raise ConfigError(config_texts.config_not_yaml(source, problem, position)) from None
    except yaml.YAMLError as error:
        raise ConfigError(config_texts.config_not_yaml(source, str(error), None)) from None


def mapping(value: object, where: Where, allowed: Collection[str]) -> Mapping[str, Any]:
    """A mapping whose keys are all in ``allowed``; an unknown key is named with a suggestion."""
    if not isinstance(value, Mapping):
        where.fail(config_texts.config_wrong_type(where.source, where.path, "a mapping", value))
    for key in value:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            where.fail(
                config_texts.config_unknown_key(
                    where.source, where.key(key).path, allowed, close[0] if close else None
                )
            )
    return value


def free_mapping(value: object, where: Where) -> Mapping[str, Any]:
    """A mapping with string keys and any content (Helm values)."""
    if not isinstance(value, Mapping):
        where.fail(config_texts.config_wrong_type(where.source, where.path, "a mapping", value))
    for key, item in value.items():
        if not isinstance(key, str):
            where.fail(config_texts.config_wrong_type(where.source, where.path, "text keys", key))
        if isinstance(item, Mapping):
            free_mapping(item, where.key(key))
    return value


def sequence(value: object, where: Where) -> list[Any]:
    if not isinstance(value, list):
        where.fail(config_texts.config_wrong_type(where.source, where.path, "a list", value))
    return value


def text(value: object, where: Where) -> str:
    if not isinstance(value, str) or not value.strip():
        where.fail(config_texts.config_wrong_type(where.source, where.path, "non-empty text",
                                                  value))
    return value


def matching(value: object, where: Where, pattern: re.Pattern[str], fix: str) -> str:
    """Text that fully matches ``pattern``; ``fix`` says what is expected."""
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        where.fail(config_texts.config_bad_value(where.source, where.path, value, fix))
    return value


def texts(value: object, where: Where) -> tuple[str, ...]:
    return tuple(text(item, where.index(i)) for i, item in enumerate(sequence(value, where)))


def boolean(value: object, where: Where) -> bool:
    if not isinstance(value, bool):
        where.fail(config_texts.config_wrong_type(where.source, where.path, "true or false", value))
    return value


def integer(value: object, where: Where, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        where.fail(config_texts.config_wrong_type(where.source, where.path, "a whole number",
                                                  value))
    if value < minimum:
        where.fail(config_texts.config_too_small(where.source, where.path, value, minimum))
    return value


def optional_integer(value: object, where: Where, *, minimum: int) -> int | None:
    return None if value is None else integer(value, where, minimum=minimum)


def choice(value: object, where: Where, choices: Collection[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        where.fail(config_texts.config_bad_choice(where.source, where.path, value, choices))
    return value


def duration(value: object, where: Where) -> timedelta:
    if not isinstance(value, str):
        where.fail(config_texts.config_bad_duration(where.source, where.path, value))
    try:
        return parse_duration(value, what=where.path)
    except PermanentError as error:
        # the duration text already names the key (``what``)
        raise ConfigError(config_texts.config_located(where.source, "", str(error))) from None
