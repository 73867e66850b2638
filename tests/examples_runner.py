"""Running a code example as a user would: a shell command, a Python script, or a Node.js module."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from tests.live_server import ADMIN_KEY

NODE_DIR = Path(__file__).resolve().parent / "node"


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
        node = shutil.which("node")
        assert node is not None, "node is needed for this test (Debian's nodejs package)"
        assert (NODE_DIR / "node_modules" / "openai").is_dir(), "run: npm ci --prefix tests/node"
        # Next to node_modules, so that `import OpenAI from 'openai'` resolves.
        script = NODE_DIR / f"example-{uuid.uuid4().hex}.mjs"
        script.write_text(code)
        command = [node, str(script)]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=workdir)
    finally:
        if script is not None:
            script.unlink()
