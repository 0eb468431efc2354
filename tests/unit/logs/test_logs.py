"""bot.logs: JSON lines or text, the per-thread context, and secret masking."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from bot.logs import (
    MASK,
    Redactor,
    choose_format,
    configure,
    current_context,
    log_context,
)

TOKEN = "glpat-S3cr3tT0ken"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize(("configured", "stream", "expected"), [
    (None, Terminal(), "text"),
    (None, io.StringIO(), "json"),
    ("json", Terminal(), "json"),
    ("text", io.StringIO(), "text"),
])
def test_the_format(configured: str | None, stream: io.StringIO, expected: str) -> None:
    assert choose_format(configured, stream) == expected


@pytest.mark.parametrize(("secrets", "text", "expected"), [
    ([TOKEN], f"GitLab said 401 for token {TOKEN}", f"GitLab said 401 for token {MASK}"),
    ([TOKEN, "glpat"], f"{TOKEN} and glpat", f"{MASK} and {MASK}"),  # longest first
    (["abc"], "abc is too short to be a secret", "abc is too short to be a secret"),
    ([None, ""], "nothing to mask", "nothing to mask"),
    ([], "redis://:hunter2@redis:6379/0", f"redis://:{MASK}@redis:6379/0"),
    ([], "https://ci:hunter2@gitlab.example.com/api", f"https://ci:{MASK}@gitlab.example.com/api"),
    ([], "https://gitlab.example.com/a:b@c", "https://gitlab.example.com/a:b@c"),
    ([TOKEN], f"two: {TOKEN}{TOKEN}", f"two: {MASK}{MASK}"),
])
def test_redaction(secrets: list[str | None], text: str, expected: str) -> None:
    assert Redactor(secrets)(text) == expected


def test_json_lines_carry_the_context_and_never_a_secret(restore_logging: None) -> None:
    stream = io.StringIO()
    assert configure(level=logging.INFO, log_format=None, secrets=[TOKEN],
                     stream=stream) == "json"
    log = logging.getLogger("previewbot.test")
    with log_context(delivery="1700000000000-0", event="Merge Request Hook"), \
            log_context(env="group-app-mr-7", actor="gitlab:alice"):
        log.info("token %s refused", TOKEN)
        try:
            raise RuntimeError(f"boom with {TOKEN}")
        except RuntimeError:
            log.exception("crashed")
    log.warning("outside")
    first, second, third = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == f"token {MASK} refused"
    assert (first["level"], first["logger"]) == ("info", "previewbot.test")
    assert first["time"].endswith("Z")
    assert {k: first[k] for k in ("env", "delivery", "event", "actor")} == {
        "env": "group-app-mr-7", "delivery": "1700000000000-0", "event": "Merge Request Hook",
        "actor": "gitlab:alice"}
    assert "RuntimeError: boom with ***" in second["traceback"]
    assert "env" not in third and "delivery" not in third  # the context ended
    assert TOKEN not in stream.getvalue()


def test_text_lines_for_people(restore_logging: None) -> None:
    stream = Terminal()
    assert configure(level=logging.INFO, log_format=None, secrets=[TOKEN],
                     stream=stream) == "text"
    with log_context(request="cli-abc", actor="cli:alice"):
        logging.getLogger("previewbot.cli").info("using %s", TOKEN)
    line = stream.getvalue().strip()
    assert line.endswith("INFO previewbot.cli: using *** [request=cli-abc actor=cli:alice]")
    assert TOKEN not in line


def test_contexts_are_per_thread() -> None:
    seen: dict[str, dict[str, str]] = {}
    ready = threading.Barrier(2)

    def work(key: str) -> None:
        with log_context(env=key):
            ready.wait(timeout=5)  # both threads are inside their own context now
            seen[key] = current_context()

    threads = [threading.Thread(target=work, args=(k,)) for k in ("a-mr-1", "b-mr-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert seen == {"a-mr-1": {"env": "a-mr-1"}, "b-mr-2": {"env": "b-mr-2"}}
    assert current_context() == {}


def test_unknown_context_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown log context keys"), log_context(user="x"):
        pass
