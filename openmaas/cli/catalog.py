"""`openmaas models add|list|show|rm` and `openmaas deploy create|list|show|update|rm`: the catalog's tables.

Like `openmaas keys`, they open the server's database directly (migrating it first);
a running server picks the changes up within OPENMAAS_CATALOG_REFRESH_INTERVAL.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from openmaas.cli.environment import load_settings, open_control_plane
from openmaas.control.catalog import CatalogModel, updated_deployment
from openmaas.control.deployments import Deployment, parse_defaults
from openmaas.control.keep_alive import format_keep_alive, parse_keep_alive
from openmaas.control.plane import ControlPlane
from openmaas.errors import OpenmaasError
from openmaas.fleet.builtin_model import builtin_model
from openmaas.fleet.sources import catalog_source, source_kinds
from openmaas.settings import Settings


def _out(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _defaults(pairs: list[str] | None) -> dict[str, Any]:
    """key=value pairs, values read as JSON when they parse (numbers, lists), else as strings."""
    table: dict[str, Any] = {}
    for pair in pairs or []:
        key, _, text = pair.partition("=")
        try:
            table[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            table[key.strip()] = text
    return table


def _run(args: argparse.Namespace) -> int:
    settings = load_settings()
    plane = open_control_plane(settings, writes=args.action in _WRITES)
    try:
        args.action(args, plane, settings)
        return 0
    except OpenmaasError as exc:
        sys.stderr.write(f"openmaas: {exc.message}\n")
        return 1
    except ValueError as exc:
        sys.stderr.write(f"openmaas: {exc}\n")
        return 1
    finally:
        plane.close()


def _models_add(args: argparse.Namespace, plane: ControlPlane, settings: Settings) -> None:
    model = CatalogModel(
        id=args.id,
        source_kind=args.source_kind,
        source=args.source or "",
        file=args.file,
        display_name=args.name or "",
        description=args.description or "",
        aliases=tuple(args.alias or ()),
        context_length=args.context_length,
        parameter_count=args.parameters,
        quantization=args.quantization,
        license=args.license,
        tags=tuple(args.tag or ()),
        input_price_per_million=args.input_price,
        output_price_per_million=args.output_price,
        defaults=_defaults(args.default),
        keep_alive=parse_keep_alive(args.keep_alive),
    )
    parse_defaults(f"models.{model.id}.defaults", model.defaults)
    catalog_source(model, settings.home)  # fetched now, so that the server finds it ready
    _out(plane.catalog.add_model(model).as_dict())


def _models_list(args: argparse.Namespace, plane: ControlPlane, settings: Settings) -> None:
    """Every model a server on these settings serves: its own (built in) first, then the catalog's."""
    own = builtin_model(settings.model, settings.model_id, settings.home)
    catalog = [{**m.as_dict(), "built_in": False} for m in plane.catalog.list_models()]
    _out([{**own.as_dict(), "built_in": True}, *catalog])


def _models_show(args: argparse.Namespace, plane: ControlPlane, settings: Settings) -> None:
    _out(plane.catalog.get_model(args.id).as_dict())


def _models_rm(args: argparse.Namespace, plane: ControlPlane, settings: Settings) -> None:
    plane.catalog.remove_model(args.id)


def _deployment_dict(deployment: Deployment) -> dict[str, Any]:
    keep_alive = None if deployment.keep_alive is None else format_keep_alive(deployment.keep_alive)
    return {
        "name": deployment.name,
        "model": deployment.model,
        "defaults": dataclasses.asdict(deployment.defaults),
        "keep_alive": keep_alive,
    }


def _deploy_create(args: argparse.Namespace, plane: ControlPlane, settings: Settings) -> None:
    defaults = parse_defaults(f"deployments.{args.name}.defaults", _defaults(args.default))
    deployment = Deployment(args.name, args.model, defaults, parse_keep_alive(args.keep_alive))
    _out(_deployment_dict(plane.catalog.put_deployment(deployment, create=True)))


def _deploy_update(args: argparse.Namespace, plane: ControlPlane, settings: Settings) -> None:
    changes: dict[str, Any] = {}
    if args.model:
        changes["model"] = args.model
    if args.keep_alive is not None:
        changes["keep_alive"] = parse_keep_alive(args.keep_alive)
    if args.default:
        changes["defaults"] = _defaults(args.default)
    updated = updated_deployment(plane.catalog.get_deployment(args.name), changes)
    _out(_deployment_dict(plane.catalog.put_deployment(updated, create=False)))


def _deploy_list(args: argparse.Namespace, plane: ControlPlane, settings: Settings) -> None:
    _out([_deployment_dict(d) for d in plane.catalog.list_deployments()])


def _deploy_show(args: argparse.Namespace, plane: ControlPlane, settings: Settings) -> None:
    _out(_deployment_dict(plane.catalog.get_deployment(args.name)))


def _deploy_rm(args: argparse.Namespace, plane: ControlPlane, settings: Settings) -> None:
    plane.catalog.delete_deployment(args.name)


# The actions that change the catalog: they say which home and database they write to.
_WRITES = {_models_add, _models_rm, _deploy_create, _deploy_update, _deploy_rm}


def add_commands(commands: Any) -> None:
    models = commands.add_parser("models", help="the model catalog").add_subparsers(dest="models", required=True)
    add = models.add_parser("add", help="add a model (served without a restart)")
    add.add_argument("id")
    add.add_argument("--source-kind", default="local", choices=source_kinds())
    add.add_argument("--source", help="a GGUF path (local) or a Hugging Face repository (huggingface)")
    add.add_argument("--file", help="the GGUF file in the Hugging Face repository")
    add.add_argument("--name", help="display name")
    add.add_argument("--description")
    add.add_argument("--alias", action="append", help="another name the model answers to (repeatable)")
    add.add_argument("--context-length", type=int)
    add.add_argument("--parameters", type=int, help="parameter count")
    add.add_argument("--quantization")
    add.add_argument("--license")
    add.add_argument("--tag", action="append")
    add.add_argument("--input-price", type=float, default=0.0, help="per million input tokens")
    add.add_argument("--output-price", type=float, default=0.0, help="per million output tokens")
    add.add_argument("--default", action="append", help="a default generation setting: key=value")
    add.add_argument("--keep-alive", help="seconds or a duration (5m); 0 unloads after each request")
    add.set_defaults(handler=_run, action=_models_add)
    models.add_parser("list", help="list the catalog").set_defaults(handler=_run, action=_models_list)
    for name, action, text in (("show", _models_show, "show one model"), ("rm", _models_rm, "remove a model")):
        sub = models.add_parser(name, help=text)
        sub.add_argument("id")
        sub.set_defaults(handler=_run, action=action)

    deploy = commands.add_parser("deploy", help="deployments").add_subparsers(dest="deploy", required=True)
    for name, action in (("create", _deploy_create), ("update", _deploy_update)):
        sub = deploy.add_parser(name, help=f"{name} a deployment")
        sub.add_argument("name")
        sub.add_argument("--model", required=name == "create")
        sub.add_argument("--default", action="append", help="a default generation setting: key=value")
        sub.add_argument("--keep-alive")
        sub.set_defaults(handler=_run, action=action)
    deploy.add_parser("list", help="list deployments").set_defaults(handler=_run, action=_deploy_list)
    for name, action, text in (("show", _deploy_show, "show a deployment"), ("rm", _deploy_rm, "delete one")):
        sub = deploy.add_parser(name, help=text)
        sub.add_argument("name")
        sub.set_defaults(handler=_run, action=action)
