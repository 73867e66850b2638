"""Running a code example as a user would: a shell command, a Python script, or a Node.js module."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.live_server import ADMIN_KEY

NODE_DIR = Path(__file__).resolve().parent / "node"
INSTALL_NODE_PACKAGES = "npm ci --prefix tests/node"


def node_with_openai() -> str:
    """The node binary, with the official `openai` npm package installed in tests/node.

    The package is installed on first use from the lock file (the README's test command then needs no
    extra step); without node or npm the test is skipped, or fails where OPENMAAS_TEST_REQUIRE_NODE is
    set (as .ci/run does, so CI always runs the Node examples).
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = f"node and npm are needed (Debian's nodejs and npm packages), then: {INSTALL_NODE_PACKAGES}"
        if os.environ.get("OPENMAAS_TEST_REQUIRE_NODE"):
            pytest.fail(message + "; OPENMAAS_TEST_REQUIRE_NODE is set")
        pytest.skip(message)
    if not (NODE_DIR / "node_modules" / "openai").is_dir():
        installed = subprocess.run(
            [npm, "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "--loglevel=error"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if installed.returncode != 0:
            message = f"`{INSTALL_NODE_PACKAGES}` failed: {installed.stderr.strip()}"
            if os.environ.get("OPENMAAS_TEST_REQUIRE_NODE"):
                pytest.fail(message)
            pytest.skip(message)
    return node


def run_example(kind: str, code: str, workdir: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Runs code (kind: sh/bash, python, javascript) with OPENMAAS_API_KEY set, as a user's shell would hold it."""
    # curl reads this: an HTTP error status makes it fail instead of printing the error body only.
    (workdir / ".curlrc").write_text("fail-with-body\nsilent\nshow-error\n")
    env = {**os.environ, "HOME": str(workdir), "OPENMAAS_API_KEY": ADMIN_KEY}
    script: Path | None = None
    if kind in ("sh", "bash", "curl"):
        command = ["bash", "-euo", "pipefail", "-c", code]
    elif kind == "python":
        command = [sys.executable, "-c", code]
    else:
        node = node_with_openai()
        # Next to node_modules, so that `import OpenAI from 'openai'` resolves.
        script = NODE_DIR / f"example-{uuid.uuid4().hex}.mjs"
        script.write_text(code)
        command = [node, str(script)]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=workdir)
    finally:
        if script is not None:
            script.unlink()
