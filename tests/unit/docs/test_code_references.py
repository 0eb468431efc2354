"""Docstrings and comments name real code: every dotted ``bot.…``/``handlers.…`` they
mention resolves to a module or to something defined in one, and no text cites a
document that is not in the repository (the contract a person reads is the README)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SOURCES = sorted(p for top in ("bot", "handlers") for p in (ROOT / top).rglob("*.py"))
DOTTED = re.compile(r"(?<![\w.])((?:bot|handlers)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
OUTSIDE_DOCUMENT = re.compile(r"\bSPEC\b")


def prose(source: str) -> list[tuple[int, str]]:
    """(line, text) of every docstring and comment in ``source``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                found.append((first.lineno, first.value.value))
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            found.append((token.start[0], token.string))
    return found


def resolves(reference: str) -> bool:
    parts = reference.split(".")
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            spec = None
        if spec is None:
            continue
        target: object = importlib.import_module(name)
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def mentions() -> list[tuple[str, int, str]]:
    return [(str(path.relative_to(ROOT)), line, reference)
            for path in SOURCES
            for line, text in prose(path.read_text(encoding="utf-8"))
            for reference in DOTTED.findall(text)]


MENTIONS = mentions()


def test_the_code_names_code_at_all() -> None:
    assert len(MENTIONS) >= 30


@pytest.mark.parametrize(("path", "line", "reference"), MENTIONS,
                         ids=[f"{p}:{n}:{r}" for p, n, r in MENTIONS])
def test_a_named_module_or_object_exists(path: str, line: int, reference: str) -> None:
    assert resolves(reference), f"{path}:{line} names {reference}, which does not exist"


def test_no_text_cites_a_document_outside_the_repository() -> None:
    cited = [f"{path.relative_to(ROOT)}:{number}: {text.strip()}"
             for path in SOURCES
             for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if OUTSIDE_DOCUMENT.search(text)]
    assert cited == [], "cite the README instead:\n" + "\n".join(cited)


@pytest.mark.parametrize(("reference", "exists"), [
    ("bot.engine.reconcile", True),
    ("bot.engine.reconcile.Reconciler.run_pass", True),
    ("bot.reconcile", False),  # a module that moved
    ("bot.engine.converge.no_such_step", False),
])
def test_a_stale_reference_would_be_noticed(reference: str, exists: bool) -> None:
    assert resolves(reference) is exists
