"""Pytest fixtures for the SaaS fakes; registered via `pytest_plugins = ["tests.fakes.fixtures"]`.

Function-scoped: every test gets its own servers on fresh ephemeral ports, so no
state leaks between tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.gitlab import FakeGitLab
from tests.fakes.slack import FakeSlack


@pytest.fixture
def fake_gitlab() -> Iterator[FakeGitLab]:
    with FakeGitLab() as fake:
        yield fake
        _fail_on_internal_errors(fake.internal_errors)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake
        _fail_on_internal_errors(fake.internal_errors)


def _fail_on_internal_errors(errors: list[str]) -> None:
    # A bug in a fake answers 500 to the client; surface its traceback instead of hiding it.
    if errors:
        pytest.fail("the fake server itself raised:\n" + "\n".join(errors), pytrace=False)
