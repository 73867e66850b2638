"""`openmaas serve`: start the server (on the bundled model unless told otherwise)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

import uvicorn

from openmaas.api.drain import Drain
from openmaas.app import create_app
from openmaas.cli.catalog import add_commands as add_catalog_commands
from openmaas.cli.environment import SettingsError, describe_database, load_settings
from openmaas.cli.keys import add_commands as add_key_commands
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
    if args.ray is not None:
        overrides["ray_address"] = args.ray
    settings = load_settings(**overrides)
    if settings.ray_address is not None:
        return _serve_on_ray(settings)
    # The server writes to this home and database too (keys, usage): say which, as the other commands do.
    sys.stderr.write(f"openmaas: home {settings.home}, database {describe_database(settings)}\n")
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # uvicorn's own lines go through the handler configured above (text or JSON).
        log_config=None,
        access_log=False,
        # A backstop: the drain aborts what still runs after drain_timeout, so connections close before this.
        timeout_graceful_shutdown=int(settings.drain_timeout) + 15,
    )
    DrainingServer(config, app.state.drain).run()
    return 0


def _serve_on_ray(settings: Settings) -> int:
    """Cluster mode (docs/scale-out.md); Ray is imported only from here on."""
    from openmaas.cluster.options import ClusterModeError, check_cluster_settings

    try:
        check_cluster_settings(settings)
    except ClusterModeError as exc:
        sys.stderr.write(f"openmaas: {exc}\n")
        return 1
    try:
        from openmaas.cluster.serve import serve_on_ray
    except ImportError as exc:
        sys.stderr.write(f"openmaas: cluster mode needs Ray: pip install 'openmaas[ray]' ({exc})\n")
        return 1
    sys.stderr.write(f"openmaas: home {settings.home}, database {describe_database(settings)}\n")
    configure_logging(settings.log_level, settings.log_format)
    assert settings.ray_address is not None
    return serve_on_ray(settings, settings.ray_address)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining on SIGTERM or SIGINT, and exiting 0 once drained.

    uvicorn stops accepting connections and waits for the open ones; the Drain
    makes the app refuse new work and, after its timeout, abort what still runs.
    A second SIGINT forces the exit, as in uvicorn.
    """

    def __init__(self, config: uvicorn.Config, drain: Drain) -> None:
        super().__init__(config)
        self._drain = drain

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn's own version re-raises the signal once shut down, which would end the process
        # by that signal (exit 143) rather than with 0 after a clean drain.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        originals = {sig: signal.signal(sig, self._on_signal) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self._drain.begin()
        self.handle_exit(sig, frame)


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
    serve.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="serve on a Ray cluster (cluster mode): 'auto', an address such as 10.0.0.1:6379, "
        "or nothing for a local one started here",
    )
    serve.set_defaults(handler=_serve)
    add_key_commands(commands)
    add_catalog_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = args.handler
    try:
        result: int = handler(args)
    except SettingsError as exc:
        # One line, not a traceback: the operator fixes an environment variable and starts again.
        sys.stderr.write(f"openmaas: {exc}\n")
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
