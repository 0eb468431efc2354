"""The one trigger evaluator, ``Trigger.failing``: each rule alone, unknown inputs, combinations."""

from __future__ import annotations

import itertools
from fnmatch import fnmatchcase

import pytest

from bot.config import Failing, Rule, Trigger, TriggerInputs

LABELS = Trigger(labels=("preview", "demo"), drafts=True)
TARGETS = Trigger(target_branches=("main", "release/*"), drafts=True)
PATHS = Trigger(paths=("src/*", "*.md"), drafts=True)
ALL = Trigger(labels=("preview",), target_branches=("main",), paths=("src/*",))

NO_LABEL = Failing(Rule.LABELS, "MR !7 has none of the trigger labels preview, demo")
IS_DRAFT = Failing(Rule.DRAFT, "MR !7 is a draft and trigger.drafts is false")
NO_PATH = Failing(Rule.PATHS, "MR !7 changes no file matching trigger.paths; no environment")


def wrong_target(target: str, wanted: str) -> Failing:
    return Failing(Rule.TARGET,
                   f"MR !7 targets {target}, not one of trigger.target_branches: {wanted}")


def inputs(**known: object) -> TriggerInputs:
    return TriggerInputs(iid=7, **known)  # type: ignore[arg-type]


@pytest.mark.parametrize(("trigger", "known", "expected"), [
    # no restriction but drafts
    (Trigger(), {}, []),
    (Trigger(), {"labels": (), "draft": False, "target_branch": "x", "changed_paths": ()}, []),
    # labels: any one, case-insensitive; none configured: anything
    (LABELS, {"labels": ("bug", "Preview")}, []),
    (LABELS, {"labels": ("DEMO",)}, []),
    (LABELS, {"labels": ("bug",)}, [NO_LABEL]),
    (LABELS, {"labels": ()}, [NO_LABEL]),
    (LABELS, {}, []),  # labels unknown (a Pipeline Hook): not judged
    (Trigger(drafts=True), {"labels": ()}, []),
    # drafts
    (Trigger(), {"draft": True}, [IS_DRAFT]),
    (Trigger(), {"draft": False}, []),
    (Trigger(drafts=True), {"draft": True}, []),
    (Trigger(), {"draft": None}, []),  # unknown: not judged
    # target branches: globs
    (TARGETS, {"target_branch": "main"}, []),
    (TARGETS, {"target_branch": "release/1.2"}, []),
    (TARGETS, {"target_branch": "develop"}, [wrong_target("develop", "main, release/*")]),
    (TARGETS, {"target_branch": "Main"}, [wrong_target("Main", "main, release/*")]),
    (TARGETS, {}, []),
    (Trigger(drafts=True), {"target_branch": "develop"}, []),
    # paths: globs where "*" crosses "/"
    (PATHS, {"changed_paths": ("README.md",)}, []),
    (PATHS, {"changed_paths": ("src/a/b.py",)}, []),
    (PATHS, {"changed_paths": ("docs/x.txt", "src/a.py")}, []),
    (PATHS, {"changed_paths": ("docs/x.txt",)}, [NO_PATH]),
    (PATHS, {"changed_paths": ()}, [NO_PATH]),  # no change at all matches no pattern
    (PATHS, {}, []),  # paths unknown (a hook, Trigger.wants): not judged
    (Trigger(drafts=True), {"changed_paths": ()}, []),
    # combinations: every failing rule, in the order labels, draft, target, paths
    (ALL, {"labels": ("preview",), "draft": False, "target_branch": "main",
           "changed_paths": ("src/a.py",)}, []),
    (ALL, {"labels": (), "draft": True, "target_branch": "dev", "changed_paths": ("a",)},
     [Failing(Rule.LABELS, "MR !7 has none of the trigger labels preview"), IS_DRAFT,
      wrong_target("dev", "main"), NO_PATH]),
    (ALL, {"labels": ("preview",), "draft": True, "target_branch": "dev"},
     [IS_DRAFT, wrong_target("dev", "main")]),
    (ALL, {"labels": ("x",), "draft": False, "target_branch": "main", "changed_paths": ()},
     [Failing(Rule.LABELS, "MR !7 has none of the trigger labels preview"), NO_PATH]),
    (ALL, {"target_branch": "dev"}, [wrong_target("dev", "main")]),
])
def test_failing(trigger: Trigger, known: dict[str, object], expected: list[Failing]) -> None:
    assert trigger.failing(inputs(**known)) == expected


# --- the evaluator decides as the five shapes it replaced did -------------------------

def _any_glob(patterns: tuple[str, ...], names: tuple[str, ...]) -> bool:
    return any(fnmatchcase(name, pattern) for name in names for pattern in patterns)


def old_matches(trigger: Trigger, labels: tuple[str, ...], draft: bool,
                changed_paths: tuple[str, ...], target_branch: str) -> bool:
    """``Trigger.matches`` as it was."""
    if draft and not trigger.drafts:
        return False
    if trigger.labels:
        present = {label.casefold() for label in labels}
        if not any(label.casefold() in present for label in trigger.labels):
            return False
    if trigger.target_branches and not _any_glob(trigger.target_branches, (target_branch,)):
        return False
    return not trigger.paths or _any_glob(trigger.paths, changed_paths)


def old_failing_rules(trigger: Trigger, labels: tuple[str, ...], draft: bool,
                      target: str) -> list[Rule]:
    """The hooks' ``failing_rules`` as it was: each rule judged alone, without paths."""
    alone = {
        Rule.LABELS: Trigger(labels=trigger.labels, drafts=True),
        Rule.DRAFT: Trigger(drafts=trigger.drafts),
        Rule.TARGET: Trigger(drafts=True, target_branches=trigger.target_branches),
    }
    return [rule for rule, only in alone.items()
            if not old_matches(only, labels, draft, (), target)]


TRIGGERS = [
    Trigger(labels=labels, drafts=drafts, paths=paths, target_branches=targets)
    for labels, drafts, paths, targets in itertools.product(
        [(), ("preview",), ("preview", "Demo")], [False, True], [(), ("src/*",)],
        [(), ("main", "release/*")])
]
LABEL_SETS = [(), ("PREVIEW",), ("demo", "bug"), ("bug",)]
PATH_SETS = [(), ("src/a/b.py",), ("README.md",)]
TARGET_BRANCHES = ["main", "release/1", "develop"]


@pytest.mark.parametrize("trigger", TRIGGERS, ids=repr)
def test_same_decisions_as_before(trigger: Trigger) -> None:
    for labels, draft, paths, target in itertools.product(
            LABEL_SETS, [False, True], PATH_SETS, TARGET_BRANCHES):
        whole = inputs(labels=labels, draft=draft, target_branch=target, changed_paths=paths)
        assert (not trigger.failing(whole)) is old_matches(trigger, labels, draft, paths, target)
        hook = inputs(labels=labels, draft=draft, target_branch=target)
        assert [f.rule for f in trigger.failing(hook)] == \
            old_failing_rules(trigger, labels, draft, target)
        # the pipeline hook: target alone; intake and discovery: paths alone
        assert bool(trigger.failing(inputs(target_branch=target))) is \
            (Rule.TARGET in old_failing_rules(trigger, (), False, target))
        assert bool(trigger.failing(inputs(changed_paths=paths))) is \
            (bool(trigger.paths) and not _any_glob(trigger.paths, paths))
