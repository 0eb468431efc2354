"""Slack (README "Slack app"): `/preview` commands, one live announcement per environment,
buttons, expiry warnings, App Home.

- ``app``: the Bolt app (HTTP at ``POST /slack/events``, or Socket Mode) and ``SlackBot``,
  which wires everything Slack into ``previewbot serve``
- ``grammar``: command text → a typed command, or what was wrong
- ``commands``: running a command or a button for a person (who may, request, poke)
- ``notifier``: the core's ``Notifier`` port: announcement, thread replies, expiry DM
- ``home``: App Home
- ``formatting``: Block Kit
- ``people``: Slack users by id and by e-mail (the core's ``PeopleDirectory``)
- ``api``: the Web API client, its retries and errors
"""
