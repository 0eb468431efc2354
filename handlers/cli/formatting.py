"""Plain-text views for the CLI (Slack has its own blocks in the Slack adapter)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.model import Environment, HistoryEntry, short_sha
from bot.engine.core import Core
from bot.engine.health import check_all


def when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def status_line(env: Environment) -> str:
    observed = env.observed
    url = f" {observed.url}" if observed.url else ""
    reason = f" — {observed.reason}" if observed.reason else ""
    return f"{env.key}: {observed.status.value}{url}{reason}"


def table(envs: list[Environment]) -> str:
    if not envs:
        return "no environments"
    rows = [("ENV", "STATUS", "WHAT", "SHA", "EXPIRES", "URL")]
    rows += [(e.key, e.observed.status.value, e.desired.label, short_sha(e.desired.sha),
              when(e.desired.expires_at) + (" (kept)" if e.desired.keep else ""),
              e.observed.url or "-") for e in envs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def status_detail(env: Environment, history: list[HistoryEntry]) -> str:
    d, o = env.desired, env.observed
    lines = [
        f"environment  {env.key}",
        f"status       {o.status.value}" + (f" — {o.reason}" if o.reason else ""),
        f"url          {o.url or '-'}",
        f"what         {d.label}" + (f" ({d.mr_url})" if d.mr_url else ""),
        f"branch       {d.branch}",
        f"sha          {d.sha}"
        + (f" (deployed {short_sha(o.deployed_sha)})" if o.deployed_sha else ""),
        f"owner        {d.owner or '-'}",
        f"created      {when(d.created_at)}",
        f"expires      {when(d.expires_at)}" + (" (kept)" if d.keep else ""),
        f"helm         revision {o.helm_revision if o.helm_revision is not None else '-'}",
        f"last deploy  {when(o.last_deploy_at)}",
    ]
    if history:
        lines.append("history")
        lines += [f"  {when(h.at)}  {h.action:<7} {h.actor}  {h.detail}" for h in history[:10]]
    return "\n".join(lines)


def extended(env: Environment, capped: bool) -> str:
    text = f"{env.key}: expires {when(env.desired.expires_at)}"
    return text + (" (capped at created + max_ttl)" if capped else "")


def check_dependencies(core: Core) -> list[str]:
    return [f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in check_all(core)]
