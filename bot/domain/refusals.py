"""A creation refused where no person is waiting for the answer (a webhook, a pass):
what must be told on the change request and in the project's channel instead."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the change request ``label`` got no environment (yet) at commit ``sha``.
    ``env_key`` is the key it would have: its MR note is that environment's one note,
    so the note that says "refused" later says "ready" (edited, never a second one)."""

    project_path: str
    project_id: int
    mr_iid: int
    label: str  # group/app!7
    env_key: str
    sha: str
    mr_url: str
    reason: str  # a text a person can act on (it names the oldest environments)
