"""The `/preview` grammar (README "Slack app"): text → one typed command, or a usage error.

    command := ""            | "help" [WORD]
             | "list" ["mine" | PROJECT]
             | "status" ENV
             | "up" PROJECT!IID ["for" DURATION] | "up" PROJECT@BRANCH ["for" DURATION]
             | "extend" ENV [["for"] DURATION] | "keep" ENV | "down" ENV
    ENV     := env-key | PROJECT!IID | PROJECT@BRANCH

Words are separated by whitespace; the subcommand is case-insensitive. Slack
escapes ``&``, ``<`` and ``>`` in command text and wraps links in ``<…>``: both
are undone first. A wrong word gets a :class:`UsageError` saying what was wrong,
with a "did you mean" for near-miss subcommands and project paths; the reply
adds the subcommand's usage. Pure: no I/O, so it runs inside Slack's 3 s ack.

Every subcommand is listed once, in ``REGISTRY``: its word, parser, usage line,
the verb its refusal names and its button. ``SUBCOMMANDS`` and :func:`parse`,
:func:`name_of` (metrics and logs), the usage text (``formatting.USAGE``),
:func:`verb_of` (for ``Permissions.check_change``), the button action ids with the
command each gives (``BUTTONS``) and the note it leaves (``PRESSED``) are derived
from it; ``tests/unit/slack/test_subcommands.py`` checks that they agree. A new
command is its class, its argument parser and one ``Subcommand`` here, plus what it
does in ``handlers.slack.commands``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.domain import messages, naming
from bot.domain.durations import parse_duration
from bot.domain.errors import PermanentError
from bot.domain.messages import quoted

DEFAULT_EXTENSION = timedelta(hours=24)
ACTION_PREFIX = "preview."
OPEN = ACTION_PREFIX + "open"  # a link button: Slack opens it, no command behind it
BUTTON_EXTENSION = "24h"  # what the Extend button adds: DEFAULT_EXTENSION
_LINK = re.compile(r"<(?:[^|<>]*\|)?([^<>]*)>")  # <http://x|x> → x, <mailto:a@b|a@b> → a@b


@dataclass(frozen=True, slots=True)
class Help:
    topic: str | None = None  # a subcommand, for its usage


@dataclass(frozen=True, slots=True)
class ListEnvs:
    mine: bool = False
    project: str | None = None


@dataclass(frozen=True, slots=True)
class Status:
    env: str


@dataclass(frozen=True, slots=True)
class Up:
    target: str  # PROJECT!IID or PROJECT@BRANCH, as written
    ref: naming.EnvRef
    ttl: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Extend:
    env: str
    duration: timedelta = DEFAULT_EXTENSION


@dataclass(frozen=True, slots=True)
class Keep:
    env: str


@dataclass(frozen=True, slots=True)
class Down:
    env: str


@dataclass(frozen=True, slots=True)
class Redeploy:
    """Only from the Redeploy button; `up` again for the same environment."""

    env: str


Command = Help | ListEnvs | Status | Up | Extend | Keep | Down | Redeploy


class UsageError(Exception):
    """What was wrong with the command text; ``subcommand`` picks the usage to show."""

    def __init__(self, message: str, subcommand: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.subcommand = subcommand


def unescape(text: str) -> str:
    """Slack's escaping undone: links unwrapped, then &lt; &gt; &amp;."""
    text = _LINK.sub(lambda m: m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def suggest(word: str, choices: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def _help(args: list[str], _: Sequence[str]) -> Command:
    topic = args[0].lower() if args else None
    return Help(topic if topic in SUBCOMMANDS else None)


def _list(args: list[str], projects: Sequence[str]) -> Command:
    _at_most("list", args, 1)
    if not args:
        return ListEnvs()
    if args[0].lower() == "mine":
        return ListEnvs(mine=True)
    return ListEnvs(project=_project("list", args[0], projects))


def _status(args: list[str], projects: Sequence[str]) -> Command:
    return Status(_env("status", args, projects))


def _up(args: list[str], projects: Sequence[str]) -> Command:
    if not args:
        raise UsageError(missing_argument("up", "PROJECT!IID or PROJECT@BRANCH"), "up")
    target, rest = args[0], args[1:]
    ref = _ref("up", target, projects)
    if ref.project_path is None:
        raise UsageError(messages.up_needs_project(target), "up")
    if not rest:
        return Up(target, ref)
    if rest[0].lower() != "for":
        raise UsageError(up_needs_for(rest[0]), "up")
    if len(rest) == 1:
        raise UsageError(missing_argument("up … for", "a DURATION, e.g. 4h"), "up")
    _at_most("up", rest, 2)
    return Up(target, ref, _duration("up", rest[1], "lifetime"))


def _extend(args: list[str], projects: Sequence[str]) -> Command:
    env = _env("extend", args[:1], projects)
    if len(args) > 1 and args[1].lower() == "for":  # "extend ENV for 4h" reads naturally too
        args = [args[0], *args[2:]]
        if len(args) == 1:
            raise UsageError(missing_argument("extend … for", "a DURATION, e.g. 4h"),
                             "extend")
    _at_most("extend", args, 2)
    if len(args) == 1:
        return Extend(env)
    return Extend(env, _duration("extend", args[1], "extension"))


def _keep(args: list[str], projects: Sequence[str]) -> Command:
    return Keep(_env("keep", args, projects))


def _down(args: list[str], projects: Sequence[str]) -> Command:
    return Down(_env("down", args, projects))


# --- the registry --------------------------------------------------------------------

Parser = Callable[[list[str], Sequence[str]], Command]


@dataclass(frozen=True, slots=True)
class Subcommand:
    """One command a person can give, typed after `/preview` or with a button."""

    name: str  # the word typed, and the name in metrics and logs
    command: type[Command]  # what it parses into
    parse: Parser | None = None  # the arguments → the command; None: a button only
    usage: str = ""  # its line in the help and usage text (typed subcommands)
    verb: str = ""  # "you may not VERB …", for the commands that check_change
    press: Callable[[str], Command] | None = None  # its button: environment key → command
    pressed: str = ""  # the announcement's note after its button

    @property
    def action_id(self) -> str:
        """Its button's action id (empty without a button)."""
        return ACTION_PREFIX + self.name if self.press is not None else ""


REGISTRY: tuple[Subcommand, ...] = (
    Subcommand("help", Help, _help, "`/preview help` — this help"),
    Subcommand("list", ListEnvs, _list,
               "`/preview list [mine|PROJECT]` — active environments (yours, or one "
               "project's)"),
    Subcommand("status", Status, _status,
               "`/preview status ENV` — commit, last deploy, and who did what"),
    Subcommand("up", Up, _up,
               "`/preview up PROJECT!IID [for DURATION]` · `/preview up PROJECT@BRANCH "
               "[for DURATION]` — deploy a merge request or a branch"),
    Subcommand("extend", Extend, _extend,
               "`/preview extend ENV [DURATION]` — push the expiry (default 24h, at most "
               "max_ttl after creation)",
               verb="extend", press=Extend, pressed=f"extended by {BUTTON_EXTENSION}"),
    Subcommand("keep", Keep, _keep,
               "`/preview keep ENV` — keep until the merge request closes (at most max_ttl)",
               verb="keep", press=Keep, pressed="kept until the merge request closes"),
    Subcommand("down", Down, _down,
               "`/preview down ENV` — tear it down now",
               verb="tear down", press=Down, pressed="teardown requested"),
    Subcommand("redeploy", Redeploy, press=Redeploy, pressed="redeploy requested"),
)

BY_NAME = {sub.name: sub for sub in REGISTRY}
_BY_TYPE = {sub.command: sub for sub in REGISTRY}
TYPED = tuple(sub for sub in REGISTRY if sub.parse is not None)
SUBCOMMANDS = tuple(sub.name for sub in TYPED)
BUTTONS: dict[str, Callable[[str], Command]] = {
    sub.action_id: sub.press for sub in REGISTRY if sub.press is not None}
PRESSED = {sub.action_id: sub.pressed for sub in REGISTRY if sub.press is not None}


def action_id(name: str) -> str:
    """The button action id of subcommand ``name``; KeyError if it has no button."""
    sub = BY_NAME[name]
    if sub.press is None:
        raise KeyError(f"{name} has no button")
    return sub.action_id


def name_of(command: Command) -> str:
    """The command's name for metrics and logs."""
    return _BY_TYPE[type(command)].name


def verb_of(command: Command) -> str:
    """What a refusal says one may not do, e.g. "tear down"; the name if none is set."""
    sub = _BY_TYPE[type(command)]
    return sub.verb or sub.name


def parse(text: str, projects: Sequence[str] = ()) -> Command:
    """``projects``: the configured paths and slugs, to check PROJECT and suggest one."""
    words = unescape(text).split()
    if not words:
        return Help()
    head, args = words[0].lower(), words[1:]
    parser = BY_NAME[head].parse if head in BY_NAME else None
    if parser is None:
        raise UsageError(unknown_subcommand(words[0], suggest(head, SUBCOMMANDS)))
    return parser(args, projects)


def _at_most(subcommand: str, args: list[str], count: int) -> None:
    if len(args) > count:
        raise UsageError(extra_arguments(subcommand, " ".join(args[count:])),
                         subcommand)


def _env(subcommand: str, args: list[str], projects: Sequence[str]) -> str:
    if not args:
        raise UsageError(missing_argument(subcommand, f"an environment: "
                                                   f"{messages.ENV_REF_FORMS}"), subcommand)
    _at_most(subcommand, args, 1)
    _ref(subcommand, args[0], projects)
    return args[0]


def _ref(subcommand: str, text: str, projects: Sequence[str]) -> naming.EnvRef:
    try:
        ref = naming.parse_env_ref(text)
    except PermanentError as error:
        raise UsageError(str(error), subcommand) from None
    if ref.project_path is not None:
        _project(subcommand, ref.project_path, projects)
    return ref


def _project(subcommand: str, text: str, projects: Sequence[str]) -> str:
    if not projects or text.casefold() in {p.casefold() for p in projects}:
        return text
    paths = [p for p in projects if "/" in p] or list(projects)
    raise UsageError(unknown_project_suggested(
        text, suggest(text, projects), paths), subcommand)


def _duration(subcommand: str, text: str, what: str) -> timedelta:
    try:
        return parse_duration(text, what=what)
    except PermanentError as error:
        raise UsageError(str(error), subcommand) from None


# --- texts: what a UsageError says ------------------------------------------


def unknown_subcommand(word: str, suggestion: str | None) -> str:
    hint = f"; did you mean {quoted(suggestion)}?" if suggestion else ""
    return f"unknown command {quoted(word)}{hint}"


def missing_argument(subcommand: str, what: str) -> str:
    return f"`{subcommand}` needs {what}"


def extra_arguments(subcommand: str, extra: str) -> str:
    return f"`{subcommand}` does not take {quoted(extra)}"


def unknown_project_suggested(text: str, suggestion: str | None, known: Iterable[str]) -> str:
    hint = f"did you mean {quoted(suggestion)}? " if suggestion else ""
    names = ", ".join(known) or "none configured"
    return f"unknown project {quoted(text)}; {hint}configured projects: {names}"


def up_needs_for(word: str) -> str:
    return f"write the lifetime as `for DURATION` (e.g. `for 4h`), not {quoted(word)}"
