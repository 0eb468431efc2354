"""docs/architecture.md names real code: every `module:function` reference resolves."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "architecture.md"
REFERENCE = re.compile(r"`((?:bot|handlers)(?:\.[a-z_]+)*):([A-Za-z_][A-Za-z0-9_.]*)`")
REFERENCES = sorted(set(REFERENCE.findall(DOC.read_text(encoding="utf-8"))))


def resolve(module_name: str, qualname: str) -> object:
    target: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def test_the_document_names_code_at_all() -> None:
    # The three walk-throughs alone name far more than this.
    assert len(REFERENCES) >= 30


@pytest.mark.parametrize(("module_name", "qualname"), REFERENCES,
                         ids=[f"{m}:{q}" for m, q in REFERENCES])
def test_reference_resolves_to_a_function_or_class(module_name: str, qualname: str) -> None:
    target = resolve(module_name, qualname)
    assert callable(target), f"{module_name}:{qualname} is not a function or class"
    # Defined where the document says, not merely re-exported from there.
    owner = getattr(target, "__module__", module_name)
    assert owner == module_name, f"{module_name}:{qualname} is defined in {owner}"


def test_a_wrong_reference_would_fail() -> None:
    with pytest.raises(AttributeError):
        resolve("bot.engine.converge", "no_such_step")
