"""5,000 hostile branch names → the GitLab environment the bot keeps: always a name
GitLab accepts (letters, digits, `_/${}. -`, at most 255, no trailing `/`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import naming
from bot.domain.model import Desired, Environment
from bot.gitlab.review import environment_name

CREATED = datetime(2026, 11, 26, 9, 30, 15, tzinfo=UTC)
GITLAB_NAME = re.compile(r"[a-zA-Z0-9_/${}. -]{1,255}")


@settings(max_examples=5000, deadline=None, database=None)
@given(branch=st.one_of(st.sampled_from(["<!channel>", "a/", "x" * 300, "\u202e", "a\nb",
                                         "feature/ok-1"]), st.text(min_size=1, max_size=300)))
def test_the_gitlab_environment_name_is_one_gitlab_accepts(branch: str) -> None:
    key = naming.branch_env_key("group-app", branch)
    env = Environment(Desired(env_key=key, project_path="group/app", project_id=42,
                              branch=branch, sha="c" * 40, created_at=CREATED,
                              expires_at=CREATED + timedelta(hours=48)))
    name = environment_name(env)
    assert GITLAB_NAME.fullmatch(name) and not name.endswith("/"), name
    assert name in (f"review/{branch}", f"review/{key}")
