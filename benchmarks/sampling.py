"""Share of each engine step spent sampling and computing grammar masks, at batch 16.

Runs the engine loop in-process on the bundled model (no HTTP): 16 requests
decode together for a fixed number of steps, and the step time is split into
the model's compute (llama_decode), grammar masks, and everything else
(sampling and bookkeeping), timed around the calls. Two mixes run in the same
process:

* unconstrained: 16 requests sampling at temperature 1, top_p 0.9 (the costly
  path: a nucleus over a 262k vocabulary);
* constrained: the same with 4 of the 16 under a JSON schema.

The baseline is the step itself: it prints each part's share of the step.

    python benchmarks/sampling.py [--home DIR] [--steps N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openmaas.engine.core as core_module
from openmaas.engine import EngineConfig, SamplingParams, StructuredSpec
from openmaas.engine.core import EngineCore
from openmaas.engine.runners.llama_cpp import LlamaCppRunner
from openmaas.engine.structured import GrammarConstraint, StructuredOutputs
from openmaas.fleet.sources import bundled_model

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 40},
    },
    "required": ["items"],
}


class Timer:
    """Accumulates the time spent inside wrapped callables."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


def run_mix(core: EngineCore, runner: LlamaCppRunner, num_constrained: int, steps: int) -> dict[str, float]:
    prompt = runner.tokenize("List of things:", add_special=True, parse_special=True)
    for i in range(16):
        structured = StructuredSpec("json_schema", SCHEMA) if i < num_constrained else None
        params = SamplingParams(
            temperature=1.0, top_p=0.9, seed=i, max_tokens=10_000, ignore_eos=True, structured=structured
        )
        core.add_request(core.make_request(f"{num_constrained}-{i}", prompt, params))
    while core.scheduler.waiting or core.scheduler.prefilling:  # past the prompts
        core.step()
    decode, sampling, masks = Timer(), Timer(), Timer()
    original_decode, original_fill = runner.run_decode, GrammarConstraint.fill_mask
    original_sample = core_module.sample_batch
    runner.run_decode = decode.wrap(original_decode)  # type: ignore[method-assign]
    GrammarConstraint.fill_mask = masks.wrap(original_fill)  # type: ignore[method-assign]
    core_module.sample_batch = sampling.wrap(original_sample)
    start = time.perf_counter()
    done = 0
    while done < steps and core.has_work():
        core.step()
        done += 1
    total = time.perf_counter() - start
    runner.run_decode = original_decode  # type: ignore[method-assign]
    GrammarConstraint.fill_mask = original_fill  # type: ignore[method-assign]
    core_module.sample_batch = original_sample
    for request in [*core.scheduler.decoding]:
        core.abort(request.request_id)
    return {
        "steps": done,
        "step_ms": 1000 * total / done,
        "decode": decode.seconds / total,
        "sampling": sampling.seconds / total,  # grammar masks included: they are applied while sampling
        "masks": masks.seconds / total,
        "other": (total - decode.seconds - sampling.seconds) / total,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="openmaas home holding the bundled model (default: a temp dir)")
    parser.add_argument("--steps", type=int, default=40, help="decode steps measured per mix")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="openmaas-bench-"))
    model = bundled_model(home).path
    config = EngineConfig(model_path=str(model), max_num_seqs=16, max_model_len=1024, num_cache_slots=16)
    runner = LlamaCppRunner(config)
    core = EngineCore(config, runner)
    core.structured_outputs = StructuredOutputs(runner.llguidance_tokenizer())
    sys.stdout.write(
        f"$ python {shlex.join(sys.argv)}\ndate: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}\n\n"
    )
    sys.stdout.write("| mix | steps | step ms | llama_decode | sampling (with masks) | of which masks | other |\n")
    sys.stdout.write("|---|---:|---:|---:|---:|---:|---:|\n")
    for name, constrained in (("16 unconstrained", 0), ("12 + 4 JSON-schema", 4)):
        r = run_mix(core, runner, constrained, args.steps)
        sys.stdout.write(
            f"| {name} | {r['steps']:.0f} | {r['step_ms']:.1f} | {100 * r['decode']:.1f}% | "
            f"{100 * r['sampling']:.1f}% | {100 * r['masks']:.1f}% | {100 * r['other']:.1f}% |\n"
        )
    runner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
