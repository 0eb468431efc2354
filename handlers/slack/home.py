"""App Home: "Your environments" and "All active", with the announcement's buttons.

Published with ``views.publish`` when a person opens the Home tab and again after
they press one of its buttons (with the outcome, or the refusal, on top: the
Home tab is theirs alone, so a refusal there is as private as an ephemeral one).
"""

from __future__ import annotations

from slack_sdk import WebClient

from bot.engine.permissions import Permissions
from bot.engine.requests import Requests
from handlers.slack import formatting
from handlers.slack.api import slack_errors


class Home:
    def __init__(self, client: WebClient, requests: Requests, permissions: Permissions) -> None:
        self.client = client
        self.requests = requests
        self.permissions = permissions

    def publish(self, user_id: str, notice: str = "") -> None:
        active = self.requests.environments()
        mine = [env for env in active if self.permissions.owns(user_id, env)]
        view = formatting.home_view(mine, active, self.requests.now(), notice)
        with slack_errors("views.publish"):
            self.client.views_publish(user_id=user_id, view=view)
