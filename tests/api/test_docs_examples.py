"""Every shell, Python and JavaScript example in docs/api.md runs against the live server and succeeds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.examples_runner import run_example

ROOT = Path(__file__).resolve().parents[2]
API_DOC = ROOT / "docs" / "api.md"
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
    done = run_example(kind, code, tmp_path)
    assert done.returncode == 0, f"docs/api.md line {line}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert done.stdout.strip(), f"docs/api.md line {line} printed nothing"
