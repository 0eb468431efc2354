"""The one subcommand registry and every table derived from it agree: a subcommand cannot
be parsed without a usage line, named without an entry, or pressed without a command."""

from __future__ import annotations

import typing
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from bot.domain.errors import NotAllowedError
from bot.engine.permissions import not_allowed
from handlers.slack import app, formatting, grammar
from handlers.slack.commands import Commands
from handlers.slack.grammar import BY_NAME, REGISTRY, Subcommand

ENV = "app-mr-7"
# one command of each kind, as the grammar or a button builds it
EXAMPLES: dict[str, grammar.Command] = {
    "help": grammar.Help(), "list": grammar.ListEnvs(), "status": grammar.Status(ENV),
    "up": grammar.parse("up group/app!7"), "extend": grammar.Extend(ENV),
    "keep": grammar.Keep(ENV), "down": grammar.Down(ENV), "redeploy": grammar.Redeploy(ENV),
}
# each typed subcommand as a person types it, giving the example above
TEXTS = {"help": "help", "list": "list", "status": f"status {ENV}", "up": "up group/app!7",
         "extend": f"extend {ENV}", "keep": f"keep {ENV}", "down": f"down {ENV}"}
# what check_change is given, per subcommand that changes an environment (commands.py)
CHANGES = {"extend": "extend", "keep": "keep", "down": "tear down"}


def test_names_and_command_classes_are_unique() -> None:
    names = [sub.name for sub in REGISTRY]
    classes = [sub.command for sub in REGISTRY]
    assert len(set(names)) == len(names) and len(set(classes)) == len(classes)


def test_every_command_class_is_registered() -> None:
    """name_of (metrics, logs) can never raise KeyError on a parsed or pressed command."""
    assert set(typing.get_args(grammar.Command)) == {sub.command for sub in REGISTRY}
    assert set(EXAMPLES) == set(BY_NAME)
    assert set(TEXTS) == set(grammar.SUBCOMMANDS)


@pytest.mark.parametrize("sub", REGISTRY, ids=lambda sub: sub.name)
def test_each_subcommand_agrees_with_its_tables(sub: Subcommand) -> None:
    command = EXAMPLES[sub.name]
    assert type(command) is sub.command
    assert grammar.name_of(command) == sub.name
    typed = sub.parse is not None
    assert (sub.name in grammar.SUBCOMMANDS) is typed
    assert (sub.name in formatting.USAGE) is typed
    assert bool(sub.usage) is typed
    if typed:
        assert formatting.USAGE[sub.name] == sub.usage
        assert sub.usage.startswith(f"`/preview {sub.name}")
        assert formatting.usage(sub.name) == "Usage: " + sub.usage
        assert sub.usage in formatting.help_reply(sub.name)[0]
        assert grammar.parse(f"help {sub.name}") == grammar.Help(sub.name)
        assert grammar.parse(TEXTS[sub.name]) == command
        head, _, rest = TEXTS[sub.name].partition(" ")
        assert grammar.parse(f"{head.upper()} {rest}") == command  # the word, any case
    else:  # a button only: typing it is an unknown command
        with pytest.raises(grammar.UsageError, match="unknown command"):
            grammar.parse(sub.name)
    if sub.press is not None:
        assert sub.action_id == formatting.ACTION_PREFIX + sub.name
        assert grammar.action_id(sub.name) == sub.action_id
        assert type(sub.press(ENV)) is sub.command
        assert sub.pressed and formatting.pressed(sub.action_id, "U1").startswith(sub.pressed)
    else:
        assert not sub.action_id and not sub.pressed
        with pytest.raises(KeyError):
            grammar.action_id(sub.name)


def test_every_button_maps_to_a_registered_subcommand() -> None:
    """Each action id the formatting puts on a button (but Open, a link) gives a command
    the registry knows; the app's table is the registry's."""
    assert app.BUTTON_COMMANDS is grammar.BUTTONS
    ids = [formatting.EXTEND, formatting.KEEP, formatting.DOWN, formatting.REDEPLOY]
    assert set(grammar.BUTTONS) == set(ids) == set(grammar.PRESSED)
    assert formatting.OPEN not in grammar.BUTTONS
    assert formatting.OPEN.startswith(formatting.ACTION_PREFIX)
    for action_id, press in grammar.BUTTONS.items():
        name = action_id.removeprefix(formatting.ACTION_PREFIX)
        assert name in BY_NAME and type(press(ENV)) is BY_NAME[name].command
        assert grammar.name_of(press(ENV)) == name


@pytest.mark.parametrize(("name", "verb"), CHANGES.items())
def test_changing_subcommands_name_their_verb(name: str, verb: str) -> None:
    """The refusal's verb comes from the registry, and reads as the domain's did."""
    command = EXAMPLES[name]
    assert grammar.verb_of(command) == BY_NAME[name].verb == verb
    refused = dict(author="alice", project_path="group/app", maintainers=["bob"], admins=[])
    assert (not_allowed(verb, ENV, "group/app!7", **refused)
            == not_allowed(name, ENV, "group/app!7", **refused))
    assert f"you may not {verb} {ENV} " in not_allowed(verb, ENV, "x", **refused)


def test_subcommands_without_a_verb_do_not_change_environments() -> None:
    assert {sub.name for sub in REGISTRY if sub.verb} == set(CHANGES)


class _Refusing:
    """Permissions that refuse every change, naming the verb they were given."""

    def __init__(self) -> None:
        self.verbs: list[str] = []

    def check_change(self, user_id: str, verb: str, env: object) -> None:
        self.verbs.append(verb)
        raise NotAllowedError(f"you may not {verb}")


@pytest.mark.parametrize(("name", "verb"), CHANGES.items())
def test_commands_pass_the_registry_verb_to_check_change(name: str, verb: str) -> None:
    env = SimpleNamespace(key=ENV)
    requests = SimpleNamespace(now=lambda: datetime(2026, 1, 1, tzinfo=UTC),
                               resolve=lambda text: env)
    permissions = _Refusing()
    reply = Commands(requests, permissions, lambda key: None).run(  # duck-typed fakes
        EXAMPLES[name], "U1")
    assert permissions.verbs == [verb]
    assert not reply.ok and reply.text == f"you may not {verb}"
