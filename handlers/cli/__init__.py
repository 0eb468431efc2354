"""`previewbot` command line: the operator's escape hatch on the same engine as Slack.

Parses arguments, calls the core, formats results. Exit codes: 0 done,
1 an action failed or the input was refused (message on stderr), 2 usage.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence

from bot import logs
from bot.config import Settings, load_config
from bot.domain import messages, naming
from bot.domain.durations import parse_duration
from bot.domain.errors import PermanentError, PreviewError
from bot.domain.messages import quoted
from bot.domain.model import Environment, short_sha
from bot.domain.plan import Action, ActionKind
from bot.engine.reconcile import PassResult, Reconciler
from bot.engine.requests import Requests
from bot.runtime.wiring import build, build_core
from bot.state.queue import DeliveryQueue, seal
from handlers.cli import formatting

ACTOR = f"cli:{os.environ.get('USER', 'operator')}"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="previewbot", description=__doc__.splitlines()[0])
    top.add_argument("-v", "--verbose", action="store_true", help="log every step")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = sub.add_parser("up", help="create or update an environment: PROJECT!IID or PROJECT@BRANCH")
    up.add_argument("target")
    up.add_argument("--for", dest="ttl", metavar="DURATION", help="lifetime, e.g. 4h, 2d")
    up.add_argument("--no-wait", action="store_true", help="record only; the reconciler deploys")
    down = sub.add_parser("down", help="tear an environment down")
    down.add_argument("env")
    down.add_argument("--reason", default="requested from the CLI")
    down.add_argument("--dry-run", action="store_true", help="print what would happen")
    down.add_argument("--no-wait", action="store_true")
    extend = sub.add_parser("extend", help="push an environment's expiry")
    extend.add_argument("env")
    extend.add_argument("duration", nargs="?", default="24h")
    keep = sub.add_parser("keep", help="keep until the MR closes (capped by max_ttl)")
    keep.add_argument("env")
    listing = sub.add_parser("list", help="environments (read-only)")
    listing.add_argument("--project")
    listing.add_argument("--owner")
    listing.add_argument("--all", action="store_true", help="include torn-down ones")
    status = sub.add_parser("status", help="one environment in detail (read-only)")
    status.add_argument("env")
    reconcile = sub.add_parser("reconcile", help="one reconcile pass now")
    reconcile.add_argument("--dry-run", action="store_true", help="print the plan only")
    sub.add_parser("check-config", help="validate config and reachability")
    sub.add_parser("serve", help="HTTP server + workers + scheduler")
    events = sub.add_parser("events", help="intake queue: counts and parked events")
    events.add_argument("--requeue", metavar="ID", help="put a parked event back in the queue")
    return top


def progress_printer() -> Callable[[str, str], None]:
    started = time.monotonic()

    def say(env_key: str, text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {env_key}: {text}", flush=True)
    return say


def run_one(reconciler: Reconciler, env_key: str) -> int:
    # follow: wait (with progress) until the deploy is ready or the namespace is gone
    result = reconciler.run_pass(dry_run=False, only=[env_key], progress=progress_printer(),
                                 follow=True)
    return report(result)


def report(result: PassResult) -> int:
    print(result.describe())
    return 0 if result.ok else 1


def cmd_up(requests: Requests, reconciler: Reconciler, args: argparse.Namespace) -> int:
    ref = naming.parse_env_ref(args.target)
    ttl = parse_duration(args.ttl, what="lifetime") if args.ttl else None
    if ref.project_path is None:
        raise PermanentError(messages.up_needs_project(args.target))
    if ref.mr_iid is not None:
        env = requests.request_up_mr(ref.project_path, ref.mr_iid, actor=ACTOR, ttl=ttl,
                                     manual=True)
    else:
        env = requests.request_up_branch(ref.project_path, ref.branch or "", actor=ACTOR,
                                         ttl=ttl, manual=True)
    print(f"{env.key}: recorded ({env.desired.label} at {short_sha(env.desired.sha)}, "
          f"expires {formatting.when(env.desired.expires_at)})")
    return 0 if args.no_wait else finish(requests, reconciler, env.key)


def finish(requests: Requests, reconciler: Reconciler, env_key: str) -> int:
    code = run_one(reconciler, env_key)
    env = requests.get(env_key)
    if env is not None:
        print(formatting.status_line(env))
    return code


def cmd_down(requests: Requests, reconciler: Reconciler, args: argparse.Namespace) -> int:
    env = requests.resolve(args.env)
    if args.dry_run:
        rehearsal = reconciler.apply(Action(ActionKind.DELETE, env.key, args.reason),
                                     progress_printer(), dry_run=True)
        print(rehearsal.describe())
        return 0 if rehearsal.ok else 1
    requests.request_down(env.key, reason=args.reason, actor=ACTOR)
    print(f"{env.key}: teardown recorded ({args.reason})")
    return 0 if args.no_wait else finish(requests, reconciler, env.key)


def cmd_extend(requests: Requests, args: argparse.Namespace) -> int:
    env = requests.resolve(args.env)
    updated, capped = requests.extend(env.key, parse_duration(args.duration, what="extension"),
                                    actor=ACTOR)
    print(formatting.extended(updated, capped))
    return 0


def cmd_keep(requests: Requests, args: argparse.Namespace) -> int:
    env = requests.keep(requests.resolve(args.env).key, actor=ACTOR)
    print(f"{env.key}: kept until {formatting.when(env.desired.expires_at)} (max_ttl)")
    return 0


def cmd_status(requests: Requests, args: argparse.Namespace) -> int:
    env: Environment = requests.resolve(args.env)
    print(formatting.status_detail(env, requests.history(env.key)))
    return 0


def cmd_check_config(settings: Settings) -> int:
    config = load_config(settings.config_path)
    print(f"config {config.source}: {len(config.projects)} project(s) OK")
    core = build_core(settings, config=config)
    problems = formatting.check_dependencies(core)
    for line in problems:
        print(line)
    return 1 if any(line.startswith("FAIL") for line in problems) else 0


def cmd_events(queue: DeliveryQueue, requeue: str | None) -> int:
    if requeue:
        if not queue.requeue_parked(requeue):
            raise PermanentError(no_parked_event(requeue))
        print(f"requeued {requeue}")
        return 0
    print("  ".join(f"{name}={count}" for name, count in queue.stats().items()))
    for parked in queue.parked():
        print(f"parked {parked.id} {parked.event_type} after {parked.attempts} attempt(s) "
              f"at {formatting.when(parked.parked_at)}: {parked.error}")
    return 0


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "check-config":
        return cmd_check_config(settings)
    if args.command == "serve":
        # Imported here: the HTTP app, Slack's Bolt and uvicorn cost every other command
        # about a tenth of a second of start-up (bench/cli_startup.py).
        from handlers.serve import serve  # noqa: PLC0415

        return serve(settings)
    if args.command == "events":
        return cmd_events(DeliveryQueue.from_url(settings.redis_url, key=seal.key_for(settings)),
                          args.requeue)
    requests, reconciler = build(build_core(settings))
    match args.command:
        case "up":
            return cmd_up(requests, reconciler, args)
        case "down":
            return cmd_down(requests, reconciler, args)
        case "extend":
            return cmd_extend(requests, args)
        case "keep":
            return cmd_keep(requests, args)
        case "list":
            envs = requests.environments(project=args.project, owner=args.owner,
                                       include_gone=args.all)
            print(formatting.table(envs))
            return 0
        case "status":
            return cmd_status(requests, args)
        case "reconcile":
            return report(reconciler.run_pass(dry_run=args.dry_run,
                                              progress=progress_printer(), follow=True))
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    verbose = args.verbose or args.command == "serve"
    try:
        settings = Settings.from_env(os.environ)
    except PreviewError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    logs.configure(level=logging.INFO if verbose else logging.WARNING,
                   log_format=settings.log_format, secrets=settings.secret_values())
    # `serve` works for many people: its workers set the context of each delivery.
    context = ({} if args.command == "serve" else
               {"request": f"cli-{uuid.uuid4().hex[:12]}", "actor": ACTOR})
    try:
        with logs.log_context(**context):
            return dispatch(args, settings)
    except PreviewError as error:
        print(f"error: {logs.Redactor(settings.secret_values())(str(error))}", file=sys.stderr)
        return 1


# --- texts: `previewbot events --requeue` with nothing to requeue -------------


def no_parked_event(event_id: str) -> str:
    return f"no parked event {quoted(event_id)}; `previewbot events` lists them"


if __name__ == "__main__":
    sys.exit(main())
