"""The trigger rules: which merge requests get an environment (README "Configuration").

One evaluator, :meth:`Trigger.failing`, judges every rule for the hooks, the
intake, discovery and :meth:`Trigger.wants`. Each caller passes what it knows
of the MR (:class:`TriggerInputs`); a rule whose input is unknown (None) is not
judged: a Pipeline Hook carries no labels or draft state, and changed paths
cost an API call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from fnmatch import fnmatchcase

from bot.domain.changes import ChangeRequest


class Rule(Enum):
    """One trigger rule, named by its config key."""

    LABELS = "labels"
    DRAFT = "drafts"
    TARGET = "target_branches"
    PATHS = "paths"


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerInputs:
    """What the trigger rules look at in an MR; None: not known here, not judged."""

    iid: int
    labels: tuple[str, ...] | None = None
    draft: bool | None = None
    target_branch: str | None = None
    changed_paths: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Failing:
    """A rule that does not hold, and why (the text a person sees)."""

    rule: Rule
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Trigger:
    """Which merge requests get an environment. An empty tuple means no restriction."""

    labels: tuple[str, ...] = ()
    drafts: bool = False
    paths: tuple[str, ...] = ()
    target_branches: tuple[str, ...] = ()

    def failing(self, inputs: TriggerInputs) -> list[Failing]:
        """The rules that do not hold for an MR with these properties, in the order
        labels, draft, target branch, paths; empty: it should have an environment.

        Labels: any one configured label present (case-insensitive, as GitLab
        treats label titles). Paths and target branches: shell globs via
        ``fnmatchcase``, where ``*`` also matches ``/`` (``docs/*`` covers
        ``docs/a/b.md``).
        """
        failing: list[Failing] = []
        if self.labels and inputs.labels is not None:
            present = {label.casefold() for label in inputs.labels}
            if not any(label.casefold() in present for label in self.labels):
                failing.append(Failing(
                    Rule.LABELS, event_no_trigger_label(inputs.iid, self.labels)))
        if inputs.draft and not self.drafts:
            failing.append(Failing(Rule.DRAFT, event_is_draft(inputs.iid)))
        target = inputs.target_branch
        if self.target_branches and target is not None \
                and not _any_glob(self.target_branches, [target]):
            failing.append(Failing(Rule.TARGET, event_wrong_target(
                inputs.iid, target, self.target_branches)))
        if self.paths and inputs.changed_paths is not None \
                and not _any_glob(self.paths, inputs.changed_paths):
            failing.append(Failing(Rule.PATHS, paths_not_matched(inputs.iid)))
        return failing

    def wants(self, change: ChangeRequest) -> bool:
        """Does the change request, as its forge shows it now, want an environment?
        (Paths are checked separately: they cost a forge call and do not change on
        relabels.)"""
        inputs = TriggerInputs(iid=change.iid, labels=change.labels, draft=change.draft,
                               target_branch=change.target_branch)
        return change.state.is_open and not self.failing(inputs)


def _any_glob(patterns: tuple[str, ...], names: Iterable[str]) -> bool:
    return any(fnmatchcase(name, pattern) for name in names for pattern in patterns)


# --- texts: why an MR fails a rule (Failing.reason) --------------------------


def event_no_trigger_label(iid: int, wanted: Iterable[str]) -> str:
    return f"MR !{iid} has none of the trigger labels {', '.join(wanted)}"


def event_is_draft(iid: int) -> str:
    return f"MR !{iid} is a draft and trigger.drafts is false"


def event_wrong_target(iid: int, target: str, wanted: Iterable[str]) -> str:
    return f"MR !{iid} targets {target}, not one of trigger.target_branches: {', '.join(wanted)}"


def paths_not_matched(iid: int) -> str:
    return f"MR !{iid} changes no file matching trigger.paths; no environment"
