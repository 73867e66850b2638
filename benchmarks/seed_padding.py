"""What padding seeded decode steps costs: the rule in engine/padding.py against the rule it replaced.

Times decode steps of the runner on the bundled model (no HTTP, no sampling),
in the same process, alternating the rules round by round:

* ``unpadded``: llama.cpp's own path (what an unseeded step computes), the baseline;
* ``previous``: a multiple of 4 rows, at least 8 (the rule before 16-row groups);
* ``current``: a multiple of 16 rows, at least 16 (engine/padding.py).

for a lone seeded request (1 real row) and 32 concurrent ones, and prints
tokens/s (real rows per second) and each rule's ratio to the baseline.

    python benchmarks/seed_padding.py [--home DIR] [--steps N] [--rounds N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import openmaas.engine.runners.llama_cpp as runner_module
from openmaas.engine import EngineConfig
from openmaas.engine.padding import padded_decode_rows
from openmaas.engine.runners.llama_cpp import LlamaCppRunner
from openmaas.fleet.sources import bundled_model


def previous_rule(num_rows: int) -> int:
    return max(8, num_rows + (-num_rows % 4))


RULES: dict[str, Callable[[int], int] | None] = {
    "unpadded": None,
    "previous": previous_rule,
    "current": padded_decode_rows,
}


def time_steps(runner: LlamaCppRunner, num_rows: int, num_steps: int, rule: Callable[[int], int] | None) -> float:
    """Seconds per decode step of num_rows sequences (each holding a short prompt) under a padding rule."""
    prompt = runner.tokenize(
        "Once upon a time, in a small village by the sea, there", add_special=True, parse_special=False
    )
    prompt = prompt[: len(prompt) - len(prompt) % 4]
    for slot in range(num_rows):
        runner.run_prompt_chunk(slot, prompt, 0, False)
    if rule is not None:
        setattr(runner_module, "padded_decode_rows", rule)  # noqa: B010 - the runner reads the rule from its module
    try:
        pad_slots = list(range(num_rows, 32))

        def decode(step: int) -> None:
            rows = [(slot, prompt[step % len(prompt)], len(prompt) + step) for slot in range(num_rows)]
            runner.run_decode(rows, pad_slots, pad=rule is not None)

        # Untimed: llama.cpp rebuilds its compute graph when the batch's shape changes.
        decode(0)
        start = time.perf_counter()
        for step in range(1, num_steps + 1):
            decode(step)
        return (time.perf_counter() - start) / num_steps
    finally:
        setattr(runner_module, "padded_decode_rows", padded_decode_rows)  # noqa: B010
        for slot in range(num_rows):
            runner.trim_sequence(slot, 0)


def say(text: str) -> None:
    print(text, flush=True)  # noqa: T201 - a benchmark's output is its point


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=None, help="openmaas home holding the bundled model")
    parser.add_argument("--steps", type=int, default=32, help="decode steps per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each timing every rule once")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="openmaas-bench-"))
    model = bundled_model(home)
    runner = LlamaCppRunner(EngineConfig(model_path=str(model.path), max_num_seqs=32, max_model_len=256))
    say(f"# {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: python {shlex.join(sys.argv)}")
    for num_rows in (1, 32):
        seconds: dict[str, list[float]] = {name: [] for name in RULES}
        for _ in range(args.rounds):
            for name, rule in RULES.items():
                seconds[name].append(time_steps(runner, num_rows, args.steps, rule))
        baseline = statistics.median(seconds["unpadded"])
        for name in RULES:
            step = statistics.median(seconds[name])
            say(
                f"{num_rows:2d} seeded request(s), {name:8s}: {num_rows / step:6.1f} tok/s "
                f"({step * 1000:5.1f} ms/step), {baseline / step:.2f}x unpadded"
            )


if __name__ == "__main__":
    main()
