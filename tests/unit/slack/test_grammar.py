"""The `/preview` grammar, table-driven: what each text means, or what is wrong with it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.naming import EnvRef
from handlers.slack.grammar import (
    Down,
    Extend,
    Help,
    Keep,
    ListEnvs,
    Status,
    Up,
    UsageError,
    parse,
    unescape,
)

PROJECTS = ["group/app", "group-app", "team/api", "team-api"]


@pytest.mark.parametrize(("text", "expected"), [
    ("", Help()),
    ("   ", Help()),
    ("help", Help()),
    ("HELP up", Help("up")),
    ("help nonsense", Help()),
    ("list", ListEnvs()),
    ("List mine", ListEnvs(mine=True)),
    ("list MINE", ListEnvs(mine=True)),
    ("list group/app", ListEnvs(project="group/app")),
    ("list Group/App", ListEnvs(project="Group/App")),
    ("list team-api", ListEnvs(project="team-api")),
    ("status group-app-mr-7", Status("group-app-mr-7")),
    ("status group/app!7", Status("group/app!7")),
    ("status  group/app@feature/x ", Status("group/app@feature/x")),
    ("up group/app!7", Up("group/app!7", EnvRef(project_path="group/app", mr_iid=7))),
    ("up group/app!7 for 4h", Up("group/app!7", EnvRef(project_path="group/app", mr_iid=7),
                                 timedelta(hours=4))),
    ("up team/api@feature-x FOR 1d12h",
     Up("team/api@feature-x", EnvRef(project_path="team/api", branch="feature-x"),
        timedelta(days=1, hours=12))),
    ("extend group-app-mr-7", Extend("group-app-mr-7")),
    ("extend group-app-mr-7 2d", Extend("group-app-mr-7", timedelta(days=2))),
    ("extend group-app-mr-7 for 30m", Extend("group-app-mr-7", timedelta(minutes=30))),
    ("keep group/app!7", Keep("group/app!7")),
    ("down group/app!7", Down("group/app!7")),
    ("\tdown\n group/app!7", Down("group/app!7")),
])
def test_commands(text: str, expected: object) -> None:
    assert parse(text, PROJECTS) == expected


@pytest.mark.parametrize(("text", "message", "usage"), [
    ("lst", 'unknown command "lst"; did you mean "list"?', None),
    ("stauts x", 'unknown command "stauts"; did you mean "status"?', None),
    ("deploy group/app!7", 'unknown command "deploy"', None),
    ("status", "`status` needs an environment", "status"),
    ("status a b", '`status` does not take "b"', "status"),
    ("down", "`down` needs an environment", "down"),
    ("keep Not_An_Env", '"Not_An_Env" does not name an environment', "keep"),
    ("up", "`up` needs PROJECT!IID or PROJECT@BRANCH", "up"),
    ("up group-app-mr-7", '"group-app-mr-7" names no project', "up"),
    ("up group/ap!7", 'unknown project "group/ap"; did you mean "group/app"?', "up"),
    ("up nothing/like!7", 'unknown project "nothing/like"; configured projects: group/app, '
                          "team/api", "up"),
    ("up group/app!7 4h", "write the lifetime as `for DURATION` (e.g. `for 4h`), not \"4h\"",
     "up"),
    ("up group/app!7 for", "`up … for` needs a DURATION", "up"),
    ("up group/app!7 for 4h now", '`up` does not take "now"', "up"),
    ("up group/app!0", 'merge request number 0 is not valid', "up"),
    ("up group/app!x", '"group/app!x" does not name an environment', "up"),
    ("up group/app@", '"group/app@" does not name an environment', "up"),
    ("extend group-app-mr-7 soon", 'extension "soon" is not a duration', "extend"),
    ("extend group-app-mr-7 5", 'extension "5" has no unit', "extend"),
    ("extend group-app-mr-7 0m", 'extension "0m" must be longer than zero', "extend"),
    ("extend group-app-mr-7 for", "`extend … for` needs a DURATION", "extend"),
    ("extend group-app-mr-7 1h 2h", '`extend` does not take "2h"', "extend"),
    ("list group/ap", 'did you mean "group/app"?', "list"),
    ("list mine too", '`list` does not take "too"', "list"),
])
def test_mistakes(text: str, message: str, usage: str | None) -> None:
    with pytest.raises(UsageError) as error:
        parse(text, PROJECTS)
    assert message in error.value.message
    assert error.value.subcommand == usage


@pytest.mark.parametrize(("text", "expected"), [
    ("&lt;b&gt; &amp; c", "<b> & c"),
    ("<http://x.test|x.test>", "x.test"),
    ("<mailto:a@b.test|a@b.test> x", "a@b.test x"),
    ("<@U0BOB|bob>", "bob"),
    ("<#C0PREVIEWS>", "#C0PREVIEWS"),
    ("plain", "plain"),
])
def test_slack_escaping_is_undone(text: str, expected: str) -> None:
    assert unescape(text) == expected


def test_escaped_text_parses_like_typed_text() -> None:
    assert parse("status <http://group/app@x|group/app@x>", PROJECTS) == Status("group/app@x")
