"""People lookup on the Slack side: the core's ``PeopleDirectory`` over the Web API.

``users.info`` (scope ``users:read``, plus ``users:read.email`` for the address)
tells a member from a guest; ``users.lookupByEmail`` (``users:read.email``) finds
the Slack user of a GitLab user's e-mail. Caching is the core's
(``bot.engine.permissions``).
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.engine.permissions import Person
from handlers.slack.api import error_code, slack_errors

NOT_FOUND = frozenset({"users_not_found", "user_not_found"})


class SlackPeople:
    def __init__(self, client: WebClient) -> None:
        self.client = client

    def person(self, user_id: str) -> Person | None:
        with slack_errors("users.info"):
            try:
                answer = self.client.users_info(user=user_id)
            except SlackApiError as error:
                if error_code(error) in NOT_FOUND:
                    return None
                raise
        user: dict[str, Any] = answer.get("user") or {}
        profile: dict[str, Any] = user.get("profile") or {}
        return Person(
            user_id=str(user.get("id", user_id)),
            email=str(profile.get("email") or ""),
            guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")
                       or user.get("is_stranger")),
            bot=bool(user.get("is_bot")) or user_id == "USLACKBOT",
            deleted=bool(user.get("deleted")),
        )

    def user_id_for_email(self, email: str) -> str | None:
        with slack_errors("users.lookupByEmail"):
            try:
                answer = self.client.users_lookupByEmail(email=email)
            except SlackApiError as error:
                if error_code(error) in NOT_FOUND:
                    return None
                raise
        user: dict[str, Any] = answer.get("user") or {}
        found = user.get("id")
        return str(found) if found else None
