"""The GitLab fake: a local server speaking GitLab REST v4 (see ``server``)."""

from tests.fakes.gitlab.server import FakeGitLab

__all__ = ["FakeGitLab"]
