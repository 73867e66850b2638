"""Starting a real `openmaas serve` process for tests, on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

# The admin key every test server accepts (OPENMAAS_API_KEY, the bootstrap key), unless a test sets another.
ADMIN_KEY = "om-test-admin-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}

MODEL = "gemma-3-270m"
# Another name of the model, with a slash as Hugging Face repo names have.
ALIAS = "google/gemma-3-270m"
DEPLOYMENTS = f"""
# The endpoint specification's defaults.
[deployments.plain]
model = "{MODEL}"

# Bound through an alias with a slash; short outputs keep the tests fast.
[deployments.short]
model = "{ALIAS}"
[deployments.short.defaults]
max_tokens = 12
"""


def new_key(http: httpx.Client, **fields: Any) -> dict[str, str]:
    """Creates an API key through the admin API (http holds an admin key); its Authorization header."""
    response = http.post("/api/admin/keys", json={"name": "test key", **fields})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['key']}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def live_server(home: Path, env: dict[str, str] | None = None, startup_timeout: float = 120.0) -> Iterator[str]:
    """Runs the server until the block ends; yields its base URL."""
    with server_process(home, env, startup_timeout) as (base_url, _process):
        yield base_url


@contextmanager
def server_process(
    home: Path, env: dict[str, str] | None = None, startup_timeout: float = 120.0
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Runs the server until the block ends; yields its base URL and its process (to signal it)."""
    port = free_port()
    full_env = {
        **os.environ,
        "OPENMAAS_HOME": str(home),
        "OPENMAAS_MAX_MODEL_LEN": "512",
        "OPENMAAS_MAX_NUM_SEQS": "8",
        "OPENMAAS_NUM_CACHE_SLOTS": "8",
        "OPENMAAS_ENGINE_DEBUG_CHECKS": "true",
        # Refusals by expected wait depend on the machine's speed: tests that want them set a bound.
        "OPENMAAS_MAX_QUEUE_WAIT": "3600",
        "OPENMAAS_API_KEY": ADMIN_KEY,
        **(env or {}),
    }
    log_path = home / f"server-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "openmaas.cli.main", "serve", "--port", str(port)],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base_url}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)  # polling a condition with a deadline, not synchronizing on time
        yield base_url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
