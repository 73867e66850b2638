"""Every shell, Python and JavaScript example in docs/api.md runs against the live server and succeeds."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.live_server import ADMIN_KEY

ROOT = Path(__file__).resolve().parents[2]
API_DOC = ROOT / "docs" / "api.md"
NODE_DIR = ROOT / "tests" / "node"
DOC_BASE_URL = "http://127.0.0.1:8000"
# The deployment the examples name, and the one the live server defines (tests/api/conftest.py).
DOC_DEPLOYMENT, TEST_DEPLOYMENT = "/my-gemma/", "/plain/"
FENCE = re.compile(r"^```(sh|bash|python|javascript)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _examples() -> list[tuple[str, str, int]]:
    text = API_DOC.read_text()
    return [(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(text)]


EXAMPLES = _examples()


def test_the_doc_has_examples_of_each_kind() -> None:
    assert {kind for kind, _, _ in EXAMPLES} == {"sh", "bash", "python", "javascript"}


@pytest.mark.parametrize(("kind", "code", "line"), EXAMPLES, ids=[f"line {line}" for _, _, line in EXAMPLES])
def test_example_runs(server_url: str, tmp_path: Path, kind: str, code: str, line: int) -> None:
    code = code.replace(DOC_BASE_URL, server_url).replace(DOC_DEPLOYMENT, TEST_DEPLOYMENT)
    # curl reads this: an HTTP error status makes it fail instead of printing the error body only.
    (tmp_path / ".curlrc").write_text("fail-with-body\nsilent\nshow-error\n")
    # The examples read the key from OPENMAAS_API_KEY, as a user's shell would hold it.
    env = {**os.environ, "HOME": str(tmp_path), "OPENMAAS_API_KEY": ADMIN_KEY}
    if kind in ("sh", "bash"):
        command = ["bash", "-euo", "pipefail", "-c", code]
    elif kind == "python":
        command = [sys.executable, "-c", code]
    else:
        node = shutil.which("node")
        assert node is not None, "node is needed for this test (Debian's nodejs package)"
        assert (NODE_DIR / "node_modules" / "openai").is_dir(), "run: npm ci --prefix tests/node"
        # Next to node_modules, so that `import OpenAI from 'openai'` resolves.
        script = NODE_DIR / f"doc-example-{uuid.uuid4().hex}.mjs"
        script.write_text(code)
        command = [node, str(script)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    finally:
        if kind == "javascript":
            script.unlink()
    assert done.returncode == 0, f"docs/api.md line {line}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert done.stdout.strip(), f"docs/api.md line {line} printed nothing"
