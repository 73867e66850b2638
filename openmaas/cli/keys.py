"""`openmaas keys create|list|revoke` and `openmaas usage`: the control plane's database, from the command line.

They open the same database as the server (``OPENMAAS_DATABASE_URL``, or SQLite in
``OPENMAAS_HOME``), migrating it first, so they work with or without a running server.
A revocation reaches a running server within its key cache time (10 s).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from openmaas.cli.environment import load_settings, open_control_plane
from openmaas.control.keys import KeySpec
from openmaas.control.plane import ControlPlane


def _plane(*, writes: bool) -> ControlPlane:
    # From the environment (OPENMAAS_*) and .env, as `openmaas serve` reads them.
    return open_control_plane(load_settings(), writes=writes)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _expiry(value: str | None) -> datetime | None:
    return None if value is None else _moment(value)


def _moment(value: str) -> datetime:
    """ISO timestamp (UTC unless it says otherwise), or a duration from now: 30d, 12h."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if value[-1:] in units and value[:-1].isdigit():
        return datetime.now(UTC) + timedelta(**{units[value[-1]]: int(value[:-1])})
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _create(args: argparse.Namespace) -> int:
    spec = KeySpec(
        name=args.name or "",
        is_admin=args.admin,
        expires_at=_expiry(args.expires),
        allowed_models=args.model or None,
        max_requests_per_minute=args.rpm,
        max_tokens_per_minute=args.tpm,
        max_budget_tokens=args.budget_tokens,
        max_budget_cost=args.budget_cost,
        budget_period=args.budget_period,
    )
    plane = _plane(writes=True)
    try:
        key, secret = plane.keys.create(spec)
    finally:
        plane.close()
    sys.stderr.write(f"created {'admin' if key.is_admin else 'inference'} key {key.id}; its secret, shown once:\n")
    _out(secret)
    return 0


def _key_line(key: Any) -> dict[str, Any]:
    return {
        "id": key.id,
        "prefix": key.prefix,
        "name": key.name,
        "admin": key.is_admin,
        "created_at": key.created_at.isoformat(),
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
        "allowed_models": key.allowed_models,
        "rpm": key.max_requests_per_minute,
        "tpm": key.max_tokens_per_minute,
        "budget_tokens": key.max_budget_tokens,
        "budget_cost": key.max_budget_cost,
        "budget_period": key.budget_period,
    }


def _list(args: argparse.Namespace) -> int:
    plane = _plane(writes=False)
    try:
        keys = plane.keys.list(include_revoked=args.all)
    finally:
        plane.close()
    if args.json:
        _out(json.dumps([_key_line(key) for key in keys], indent=2))
        return 0
    _out(f"{'ID':<28} {'PREFIX':<12} {'ROLE':<9} {'STATE':<8} {'CREATED':<20} NAME")
    now = datetime.now(UTC)
    for key in keys:
        state = "revoked" if key.revoked_at else "expired" if key.expires_at and key.expires_at <= now else "active"
        role = "admin" if key.is_admin else "inference"
        created = key.created_at.strftime("%Y-%m-%d %H:%M:%S")
        _out(f"{key.id:<28} {key.prefix:<12} {role:<9} {state:<8} {created:<20} {key.name}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    plane = _plane(writes=True)
    try:
        key = plane.keys.revoke(args.key_id)
    finally:
        plane.close()
    _out(f"revoked {key.id} ({key.prefix}...)")
    return 0


def _usage(args: argparse.Namespace) -> int:
    groups = [group.strip() for group in args.group_by.split(",") if group.strip()]
    start = None
    if args.since:
        ahead = _moment(args.since)
        now = datetime.now(UTC)
        # A duration means that long ago; a date or timestamp is taken as given.
        start = now - (ahead - now) if ahead > now else ahead
    plane = _plane(writes=False)
    try:
        rows = plane.usage.summary(groups, key_id=args.key_id, model=args.model, start=start)
    finally:
        plane.close()
    if args.json:
        _out(json.dumps(rows, indent=2))
        return 0
    columns = [*("key_id" if group == "key" else group for group in groups)]
    columns += ["num_requests", "num_prompt_tokens", "num_cached_tokens", "num_completion_tokens", "cost"]
    _out("\t".join(columns))
    for row in rows:
        _out("\t".join(str(row[column]) for column in columns))
    return 0


def add_commands(commands: Any) -> None:
    """Adds `keys` and `usage` to the CLI's subcommands."""
    keys = commands.add_parser("keys", help="create, list and revoke API keys")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="create a key; its secret is printed once")
    create.add_argument("--name", help="a label for people")
    create.add_argument("--admin", action="store_true", help="an admin key (/api/admin/*); default: inference")
    create.add_argument("--expires", help="an ISO timestamp, or a duration from now (30d, 12h, 90m)")
    create.add_argument("--model", action="append", help="a model id or deployment the key may use (repeatable)")
    create.add_argument("--rpm", type=int, help="requests per minute")
    create.add_argument("--tpm", type=int, help="tokens (prompt + completion) per minute")
    create.add_argument("--budget-tokens", type=int, help="tokens per budget period")
    create.add_argument("--budget-cost", type=float, help="cost per budget period (the prices' currency)")
    create.add_argument("--budget-period", choices=["day", "month"], default="month")
    create.set_defaults(handler=_create)
    listing = actions.add_parser("list", help="list keys (prefixes only, never secrets)")
    listing.add_argument("--all", action=argparse.BooleanOptionalAction, default=True, help="include revoked keys")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)
    revoke = actions.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=_revoke)
    usage = commands.add_parser("usage", help="tokens and cost by model, key and day")
    usage.add_argument("--group-by", default="day,model,key", help="any of model, key, day, deployment, dialect")
    usage.add_argument("--key-id")
    usage.add_argument("--model")
    usage.add_argument("--since", help="an ISO date or timestamp (UTC), or a duration back from now (7d)")
    usage.add_argument("--json", action="store_true")
    usage.set_defaults(handler=_usage)
