"""What a reason may carry once kept and shown: learnt secret values masked, capped."""

from __future__ import annotations

import uuid

import pytest

from bot.engine.core import REASON_MAX, said
from bot.logs import MASK, Redactor, learn_secrets


@pytest.mark.parametrize(("reason", "shown"), [
    ("Error: values {'API_KEY': '@SECRET@'} rejected",
     f"Error: values {{'API_KEY': '{MASK}'}} rejected"),
    ("nothing secret", "nothing secret"),
])
def test_learnt_secret_values_never_leave_in_a_reason(reason: str, shown: str) -> None:
    secret = f"v-{uuid.uuid4().hex}"
    learn_secrets([secret])
    assert said(reason.replace("@SECRET@", secret)) == shown
    assert secret not in Redactor()(f"log line with {secret}")


def test_a_long_reason_is_capped() -> None:
    assert len(said("x" * 10_000)) == REASON_MAX
