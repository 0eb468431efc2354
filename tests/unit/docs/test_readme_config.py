"""The README's configuration reference names exactly what the code reads."""

from __future__ import annotations

import re
from pathlib import Path

from bot.config import TOP_KEYS
from bot.config.project import PROJECT_KEYS, TRIGGER_KEYS
from bot.config.settings import ENV_VARS

README = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
ROW = re.compile(r"^\| `([A-Za-z_.]+)`", re.MULTILINE)


def table(heading: str) -> set[str]:
    start = README.index(heading)
    end = README.find("\n#", start + len(heading))  # the next heading
    section = README[start:end if end > 0 else None]
    return set(ROW.findall(section))


def test_every_environment_variable_is_documented_and_no_other() -> None:
    assert table("### Environment variables") == set(ENV_VARS.values())


def test_every_top_level_key_is_documented_and_no_other() -> None:
    assert table("### Top-level keys of the YAML file") == set(TOP_KEYS)


def test_every_project_key_is_documented_and_no_other() -> None:
    documented = table("### Keys of `defaults` and of each project")
    wanted = {key for key in PROJECT_KEYS if key != "trigger"} | {
        f"trigger.{key}" for key in TRIGGER_KEYS}
    assert documented == wanted


def test_a_missing_row_would_be_noticed() -> None:
    assert "REDIS_URL" in table("### Environment variables")
    assert "not_a_key" not in table("### Top-level keys of the YAML file")
