"""`openmaas serve`: start the server (on the bundled model unless told otherwise)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import uvicorn

from openmaas.app import create_app
from openmaas.log import configure_logging
from openmaas.settings import Settings


def _serve(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {
        key: value
        for key, value in {
            "host": args.host,
            "port": args.port,
            "model": args.model,
            "model_id": args.model_id,
            "max_num_seqs": args.max_num_seqs,
            "max_model_len": args.max_model_len,
        }.items()
        if value is not None
    }
    settings = Settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    # log_config=None: uvicorn's own lines go through the handler configured above (text or JSON).
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,
        access_log=False,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openmaas", description="Self-hostable serverless LLM endpoints.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve models over an OpenAI-compatible HTTP API")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8000)")
    serve.add_argument("--model", help="a GGUF file to serve (default: the bundled Gemma 3 270M)")
    serve.add_argument("--model-id", help="the id clients use for the model")
    serve.add_argument("--max-num-seqs", type=int, help="requests decoded together (default 32)")
    serve.add_argument("--max-model-len", type=int, help="context per request in tokens (default 2048)")
    serve.set_defaults(handler=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = args.handler
    result: int = handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
