"""The Slack fake: a local server speaking the Slack Web API (see ``server``)."""

from tests.fakes.slack.server import FakeSlack

__all__ = ["FakeSlack"]
