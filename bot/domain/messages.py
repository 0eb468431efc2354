"""The texts more than one layer says.

A text lives beside the code that says it: :mod:`bot.config.texts`,
:mod:`bot.gitlab.hooks.reasons`, :mod:`bot.engine.texts` (the texts several engine
modules say), or the ``# --- texts`` section at the end of the one module that says
it. What stays here is what several layers say:

- :func:`quoted`: how every layer shows user input;
- ``ENV_REF_FORMS`` and :func:`unknown_env`: the engine, the naming rules and Slack;
- :func:`up_needs_project`: the CLI and Slack, which do not import each other;
- :func:`webhook_not_object` and ``WEBHOOK_TOO_DEEP``: the webhook endpoint and the
  engine's intake;
- :func:`namespace_not_ours` and :func:`namespace_of_another`: the cluster, the
  engine and the in-memory cluster of the tests.

Each text names the object that is wrong and says how to fix it. User input is
shown through :func:`quoted`, so newlines, quotes and huge strings cannot break
the layout of a Slack message or a log line.
"""

from __future__ import annotations

import json

ENV_REF_FORMS = (
    "ENV (e.g. app-mr-7), PROJECT!IID (e.g. group/app!7) "
    "or PROJECT@BRANCH (e.g. group/app@feature-x)"
)
_QUOTE_LIMIT = 80


def quoted(value: object, *, limit: int = _QUOTE_LIMIT) -> str:
    """Text in double quotes, control characters escaped, cut at ``limit``.

    Anything else is shown as JSON (``true``, ``5``, ``["a"]``) so that a person
    can tell the text ``"5"`` from the number ``5`` in their YAML.
    """
    if isinstance(value, str):
        text = value if len(value) <= limit else value[:limit] + "…"
        return json.dumps(text, ensure_ascii=False)
    shown = json.dumps(value, ensure_ascii=False, default=repr)
    return shown if len(shown) <= limit else shown[:limit] + "…"


# --- texts: an environment reference no environment answers to ----------------


def unknown_env(text: str) -> str:
    return (f"no environment {quoted(text)}; `previewbot list` (or /preview list) shows them; "
            f"write it as {ENV_REF_FORMS}")


# --- texts: `up` without a project (the CLI and Slack) ------------------------


def up_needs_project(text: str) -> str:
    return (f"{quoted(text)} names no project; write PROJECT!IID (e.g. group/app!7) "
            "or PROJECT@BRANCH (e.g. group/app@feature-x)")


# --- texts: a webhook body (the endpoint and the intake) ----------------------


def webhook_not_object() -> str:
    return "webhook body must be a JSON object, as GitLab sends"


WEBHOOK_TOO_DEEP = "body is nested too deeply to be a GitLab event"


# --- texts: a namespace that is not this environment's (cluster, engine) ------


def namespace_not_ours(namespace: str) -> str:
    return (f"namespace {namespace} exists but is not managed by previewbot (no label "
            "app.kubernetes.io/managed-by=previewbot); previewbot will not modify or delete "
            "it — rename or remove it, or give the project another `slug:`")


def namespace_of_another(namespace: str, labels: dict[str, str]) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in labels.items())
    return (f"namespace {namespace} is managed by previewbot for another environment or "
            f"project ({shown}); left alone — give one of the projects another `slug:`")
