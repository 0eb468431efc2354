"""Local stand-ins for the SaaS previewbot talks to, at the HTTP boundary.

`FakeGitLab` (GitLab REST v4) and `FakeSlack` (Slack Web API) are real HTTP servers
on 127.0.0.1 with ephemeral ports, so the real python-gitlab and slack_sdk clients
are exercised end to end. Pytest fixtures live in `tests.fakes.fixtures`.
"""

from __future__ import annotations

from tests.fakes.gitlab import FakeGitLab
from tests.fakes.gitlab.records import DEVELOPER, GUEST, MAINTAINER, OWNER, REPORTER
from tests.fakes.http import RecordedRequest
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.records import PostedMessage, SlackCall

__all__ = [
    "DEVELOPER",
    "GUEST",
    "MAINTAINER",
    "OWNER",
    "REPORTER",
    "FakeGitLab",
    "FakeSlack",
    "PostedMessage",
    "RecordedRequest",
    "SlackCall",
]
