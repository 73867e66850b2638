"""The experiment behind docs/determinism.md: which batch sizes change one sequence's logits.

Decodes one probe sequence (engine/invariance.py) in steps of B rows, for
every B from 1 to 33, once the way llama.cpp computes an unpadded step and
once padded as the engine pads seeded steps (engine/padding.py), with the
probe in the last row. Each line says whether the probe's logits equal, bit
for bit, its logits in a step of 16 rows (the reference both rules share),
and at which step they first differ. The baseline is the unpadded step of
one row (the probe alone).

    python benchmarks/row_paths.py [--home DIR] [--steps N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np

from openmaas.engine import EngineConfig
from openmaas.engine.invariance import ProbeRunner, probe_logits
from openmaas.engine.runners.llama_cpp import LlamaCppRunner
from openmaas.fleet.sources import bundled_model

MAX_ROWS = 33


class Unpadded:
    """The runner, with padding turned off: llama.cpp's own path for every step."""

    def __init__(self, runner: LlamaCppRunner) -> None:
        self._runner = runner

    def __getattr__(self, name: str) -> object:
        return getattr(self._runner, name)

    def run_decode(self, rows: list[tuple[int, int, int]], pad_slots: list[int], *, pad: bool) -> np.ndarray:
        return self._runner.run_decode(rows, pad_slots, pad=False)


def first_difference(a: list[np.ndarray], b: list[np.ndarray]) -> int | None:
    return next((step for step, (x, y) in enumerate(zip(a, b, strict=True)) if not np.array_equal(x, y)), None)


def say(text: str) -> None:
    print(text, flush=True)  # noqa: T201 - a benchmark's output is its point


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=None, help="openmaas home holding the bundled model")
    parser.add_argument("--steps", type=int, default=8, help="decode steps per batch size")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="openmaas-bench-"))
    config = EngineConfig(model_path=str(bundled_model(home).path), max_num_seqs=48, max_model_len=256)
    runner = LlamaCppRunner(config)
    slots = config.num_decode_slots
    say(f"# {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: python {shlex.join(sys.argv)}")
    for name, probed in (("unpadded", Unpadded(runner)), ("padded", runner)):
        probe: ProbeRunner = probed  # type: ignore[assignment]
        reference = probe_logits(probe, num_rows=16, num_decode_slots=slots, num_steps=args.steps)
        same = []
        for num_rows in range(1, MAX_ROWS + 1):
            logits = probe_logits(probe, num_rows=num_rows, num_decode_slots=slots, num_steps=args.steps)
            step = first_difference(reference, logits)
            same.append(num_rows if step is None else None)
            say(f"{name:8s} B={num_rows:2d}: " + ("identical" if step is None else f"differs from step {step}"))
        equal = [n for n in same if n is not None]
        say(f"{name}: {len(equal)} of {MAX_ROWS} batch sizes identical to 16 rows: {equal}")


if __name__ == "__main__":
    main()
