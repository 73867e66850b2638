"""The usage journal's replay: rows of a killed process are written once, its open calls become interrupted
rows, and a live process's journal is left alone; on each database engine."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from openmaas.control.journal import UsageJournal
from openmaas.control.plane import ControlPlane
from tests.control.usage_entries import usage_entry

# A process that journals two calls, ends one, and is killed with SIGKILL while the other runs.
KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from openmaas.control.journal import CallProgress, UsageJournal
    from tests.control.usage_entries import usage_entry

    journal = UsageJournal(Path(sys.argv[1]))
    journal.open()
    start = dict(status="running", num_completion_tokens=0, cost=0.0, finish_reason="")
    journal.begin("a" * 32, usage_entry("ended", call_id="a" * 32, **start), (1000.0, 3000.0))
    journal.begin("b" * 32, usage_entry("cut", call_id="b" * 32, **start), (1000.0, 3000.0))
    journal.progress("b" * 32, CallProgress(10, 4, 3, 0.01, 0.2))
    journal.progress("b" * 32, CallProgress(10, 4, 7, 0.01, 0.4))
    journal.end(usage_entry("ended", call_id="a" * 32, num_completion_tokens=5)).result()
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _rows(plane: ControlPlane) -> dict[str, tuple[str, int, int, float]]:
    return {
        row.request_id: (row.status, row.num_prompt_tokens, row.num_completion_tokens, row.cost)
        for row in plane.usage.rows(limit=100)
    }


def test_a_killed_process_calls_are_written_once_at_the_next_start(database_url: str, tmp_path: Path) -> None:
    journal_dir = tmp_path / "journal"
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(journal_dir)], cwd=Path.cwd(), check=False)
    assert killed.returncode == -9

    for _ in range(2):  # a second start finds nothing left to write
        plane = ControlPlane(database_url, journal_dir=journal_dir)
        plane.start()
        try:
            rows = _rows(plane)
        finally:
            plane.close()
        assert rows.keys() == {"ended", "cut"}
        assert rows["ended"][:3] == ("ok", 10, 5)
        status, prompt, completion, cost = rows["cut"]
        assert (status, prompt, completion) == ("interrupted", 10, 7)
        assert cost == pytest.approx((10 * 1000.0 + 7 * 3000.0) / 1e6)
    assert list(journal_dir.iterdir()) == []


def test_a_live_process_journal_is_not_replayed(database_url: str, tmp_path: Path) -> None:
    journal_dir = tmp_path / "journal"
    live = UsageJournal(journal_dir)
    live.open()
    try:
        live.begin("c" * 32, usage_entry("running", call_id="c" * 32, status="running"), (0.0, 0.0))
        plane = ControlPlane(database_url, journal_dir=journal_dir)
        plane.start()
        try:
            assert _rows(plane) == {}
        finally:
            plane.close()
    finally:
        live.end(usage_entry("running", call_id="c" * 32))
        live.close()
    # Ended but never written to a database: the next start writes it.
    plane = ControlPlane(database_url, journal_dir=journal_dir)
    plane.start()
    try:
        assert _rows(plane).keys() == {"running"}
    finally:
        plane.close()
