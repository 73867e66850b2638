"""Throughput of openmaas against one-at-a-time llama.cpp, on the bundled Gemma 3 270M.

What it measures, per concurrency level (all requests of a level arrive at once):

* openmaas: `openmaas serve` started by this script on a free loopback port,
  driven over HTTP by concurrent streaming POST /v1/completions requests
  (temperature 0, ignore_eos, so every request yields exactly --max-tokens).
* baseline: llama-cpp-python's high-level `llama_cpp.Llama` on the same GGUF,
  serving the same requests one at a time in arrival order from a single
  worker thread, as `llama_cpp.server` does; end-of-generation tokens get a
  -100 logit bias so every request also yields exactly --max-tokens.

For each level and system it prints: aggregate output tokens/s (all output
tokens of the level / wall time from the common arrival to the last token),
time to first token p50/p95 (from the common arrival, so queueing counts, as a
client sees it), inter-token latency p50 (gaps between streamed text chunks),
and openmaas's tokens/s over the baseline's.

Each request gets its own ~64-token prompt (distinct across levels too, so no
prefix cache helps either system); both systems get the same prompts. The
client runs on the same machine as the server and shares its cores.

Run (takes minutes; use a quiet machine):

    python benchmarks/throughput.py
    python benchmarks/throughput.py --concurrency 1 8 --max-tokens 64 --skip-baseline

The output starts with the command line and the date and ends with a
Markdown table, ready to paste into the docs. Server logs go to
<home>/benchmark-server.log; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import httpx
import llama_cpp

import openmaas
from openmaas.fleet.sources import bundled_model

MODEL_ID = "gemma-3-270m"
PROMPT_TOKENS = 64
# The server's defaults are sized for chat; these match the baseline's n_ctx and a 32-wide batch.
# Keys off (loopback only): this measures the engine; benchmarks/auth_overhead.py measures the key check.
SERVER_ENV_DEFAULTS = {
    "OPENMAAS_MAX_NUM_SEQS": "32",
    "OPENMAAS_MAX_MODEL_LEN": "1024",
    "OPENMAAS_AUTH_DISABLED": "true",
}
BASELINE_N_CTX = 1024
BASELINE_N_BATCH = 512
HEALTH_TIMEOUT_S = 300.0  # first start may assemble the model and load it on a busy machine
HEALTH_POLL_S = 0.25
STOP_TIMEOUT_S = 30.0
WARMUP_TOKENS = 8
EOG_BIAS = -100.0
SENTENCES = (
    "The river bends twice before it reaches the old stone mill at the edge of town.",
    "A committee of seven engineers reviewed the bridge design over three long afternoons.",
    "Fresh bread, sharp cheese and green apples filled the basket on the kitchen table.",
    "The telescope on the hill tracks comets that return once every few decades.",
    "Every spring the orchard fills with bees drawn to the pale pink blossoms.",
    "She wrote the report in plain language so that any reader could follow the argument.",
    "The night train to the coast stops at eleven stations and arrives before dawn.",
    "Children in the village learn to sail on the lake long before they learn to drive.",
    "A quiet library keeps maps of streets that no longer exist in the modern city.",
    "The chess club meets on Thursdays and argues about openings until midnight.",
    "Heavy rain delayed the harvest, but the grapes were sweeter for the wait.",
    "The museum's newest exhibit explains how clocks were kept accurate at sea.",
)


@dataclass
class RequestTiming:
    """When one request's text chunks arrived, on the perf_counter clock."""

    arrival: float  # the level's common t0: queueing before service counts toward TTFT
    chunk_times: list[float]
    end: float
    num_tokens: int

    @property
    def ttft(self) -> float:
        return self.chunk_times[0] - self.arrival

    @property
    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.chunk_times, self.chunk_times[1:], strict=False)]


@dataclass
class LevelResult:
    system: str
    concurrency: int
    requests: list[RequestTiming]

    @property
    def num_tokens(self) -> int:
        return sum(r.num_tokens for r in self.requests)

    @property
    def wall_s(self) -> float:
        return max(r.end for r in self.requests) - self.requests[0].arrival

    @property
    def tokens_per_s(self) -> float:
        return self.num_tokens / self.wall_s

    def ttft_ms(self, q: float) -> float:
        return 1000 * percentile([r.ttft for r in self.requests], q)

    def itl_p50_ms(self) -> float:
        return 1000 * percentile([g for r in self.requests for g in r.gaps], 50)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default); NaN when there are no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def report(text: str) -> None:
    """The results, on stdout, to paste into the docs."""
    print(text, flush=True)  # noqa: T201 - a benchmark's output is its point


def log(message: str) -> None:
    """Progress, on stderr, so stdout stays pasteable."""
    print(message, file=sys.stderr, flush=True)  # noqa: T201


# Prompts ------------------------------------------------------------------------------
def build_prompt(count_tokens: Callable[[str], int], level: int, index: int) -> str:
    """A deterministic prompt of at least PROMPT_TOKENS tokens, unique to (level, index).

    The unique tag comes first so two prompts share at most a token or two of
    prefix: neither system's prefix reuse may turn this into a cache benchmark.
    """
    words = [f"Note {level}.{index}:"]
    offset = (7 * index + level) % len(SENTENCES)
    pool = [w for k in range(len(SENTENCES)) for w in SENTENCES[(offset + k) % len(SENTENCES)].split()]
    for word in pool:
        if count_tokens(" ".join(words)) >= PROMPT_TOKENS:
            break
        words.append(word)
    return " ".join(words)


def build_prompts(count_tokens: Callable[[str], int], levels: Sequence[int]) -> dict[int, list[str]]:
    return {level: [build_prompt(count_tokens, level, i) for i in range(level)] for level in levels}


def vocab_counter(model_path: Path) -> Callable[[str], int]:
    """Counts tokens (BOS included, as both systems prompt) with the model's own tokenizer."""
    vocab = llama_cpp.Llama(model_path=str(model_path), vocab_only=True, verbose=False)
    return lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=True))


# openmaas over HTTP ---------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def openmaas_command() -> str:
    """The `openmaas` console script of this interpreter's environment, else the one on PATH."""
    beside = Path(sys.executable).parent / "openmaas"
    found = str(beside) if beside.exists() else shutil.which("openmaas")
    if found is None:
        raise SystemExit("cannot find the `openmaas` command; install openmaas into this environment")
    return found


def wait_healthy(base_url: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    """Polls GET /health until 200; fails fast if the server exits, and after HEALTH_TIMEOUT_S."""
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"openmaas serve exited with {server.returncode}; see {log_path}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet: the model loads before the port opens
        time.sleep(HEALTH_POLL_S)
    raise TimeoutError(f"openmaas serve was not healthy within {HEALTH_TIMEOUT_S:.0f} s; see {log_path}")


def log_tail(path: Path, num_lines: int = 30) -> str:
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    return "\n".join(lines[-num_lines:])


@contextmanager
def running_server(home: Path, port: int) -> Iterator[str]:
    """`openmaas serve` on 127.0.0.1:port for the duration; yields its base URL."""
    env = {**os.environ, "OPENMAAS_HOME": str(home)}
    for key, value in SERVER_ENV_DEFAULTS.items():
        env.setdefault(key, value)  # the caller's environment wins, to benchmark other settings
    log_path = home / "benchmark-server.log"
    command = [openmaas_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log_file:
        server = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, server, log_path)
        yield base_url
    except BaseException:
        log(f"--- last lines of {log_path} ---\n{log_tail(log_path)}")
        raise
    finally:
        server.terminate()
        try:
            server.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


async def stream_openmaas(client: httpx.AsyncClient, prompt: str, max_tokens: int, arrival: float) -> RequestTiming:
    body = {
        "model": MODEL_ID,
        "prompt": prompt,
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "ignore_eos": True,
        "stream_options": {"include_usage": True},
    }
    chunk_times: list[float] = []
    num_tokens: int | None = None
    finish_reason: str | None = None
    async with client.stream("POST", "/v1/completions", json=body) as response:
        if response.status_code != 200:
            raise RuntimeError(f"openmaas answered {response.status_code}: {(await response.aread())!r}")
        async for line in response.aiter_lines():
            now = time.perf_counter()  # before parsing, so JSON decoding does not count
            if not line.startswith("data: "):
                continue
            data = line.removeprefix("data: ")
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if "error" in chunk:
                raise RuntimeError(f"openmaas streamed an error: {chunk['error']}")
            for choice in chunk["choices"]:
                if choice["text"]:
                    chunk_times.append(now)
                finish_reason = choice["finish_reason"] or finish_reason
            if chunk.get("usage"):  # only the last chunk carries it; the others say null
                num_tokens = int(chunk["usage"]["completion_tokens"])
    end = time.perf_counter()
    return checked_timing(arrival, chunk_times, end, num_tokens, finish_reason, max_tokens, "openmaas")


def checked_timing(
    arrival: float,
    chunk_times: list[float],
    end: float,
    num_tokens: int | None,
    finish_reason: str | None,
    max_tokens: int,
    system: str,
) -> RequestTiming:
    """Both systems must have generated exactly max_tokens, or the comparison is unequal."""
    if finish_reason != "length" or num_tokens != max_tokens or not chunk_times:
        raise RuntimeError(
            f"{system}: expected {max_tokens} tokens ending in 'length', got {num_tokens} "
            f"ending in {finish_reason!r} with {len(chunk_times)} text chunks"
        )
    return RequestTiming(arrival, chunk_times, end, num_tokens)


async def openmaas_level(client: httpx.AsyncClient, prompts: list[str], max_tokens: int) -> LevelResult:
    arrival = time.perf_counter()
    timings = await asyncio.gather(*(stream_openmaas(client, p, max_tokens, arrival) for p in prompts))
    return LevelResult("openmaas", len(prompts), list(timings))


async def run_openmaas(base_url: str, prompts: dict[int, list[str]], max_tokens: int) -> list[LevelResult]:
    # One client for every level, like a long-lived application; the pool must fit the widest level.
    limits = httpx.Limits(max_connections=max(len(p) for p in prompts.values()) + 1)
    timeout = httpx.Timeout(600.0, connect=10.0)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
        await stream_openmaas(client, "Warm-up: say something.", WARMUP_TOKENS, time.perf_counter())
        results = []
        for level, level_prompts in prompts.items():
            log(f"openmaas: {level} concurrent requests")
            results.append(await openmaas_level(client, level_prompts, max_tokens))
        return results


# Baseline: llama_cpp.Llama, one request at a time -----------------------------------------
def end_of_generation_ids(llm: llama_cpp.Llama) -> list[int]:
    """Every token that ends llama_cpp's generation loop (Gemma 3 has <eos> and <end_of_turn>).

    Biasing only token_eos() would let the model stop early on another one,
    and the baseline would then do less work than openmaas's ignore_eos.
    """
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    found = {i for i in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, i)}
    return sorted(found | {llm.token_eos()})


def serve_baseline(
    llm: llama_cpp.Llama, prompt: str, max_tokens: int, logit_bias: dict[int, float], arrival: float
) -> RequestTiming:
    stream = llm.create_completion(prompt, max_tokens=max_tokens, temperature=0, stream=True, logit_bias=logit_bias)
    chunk_times: list[float] = []
    finish_reason: str | None = None
    for chunk in cast(Iterator[dict[str, Any]], stream):
        now = time.perf_counter()
        choice = chunk["choices"][0]
        if choice["text"]:
            chunk_times.append(now)
        finish_reason = choice["finish_reason"] or finish_reason
    end = time.perf_counter()
    # The stream reports no usage; with end-of-generation banned and no stop strings, the loop
    # ends with 'length' exactly when it has sampled max_tokens tokens, and checked_timing checks that.
    num_tokens = max_tokens if finish_reason == "length" else None
    return checked_timing(arrival, chunk_times, end, num_tokens, finish_reason, max_tokens, "baseline")


def baseline_level(
    llm: llama_cpp.Llama, prompts: list[str], max_tokens: int, logit_bias: dict[int, float]
) -> LevelResult:
    arrival = time.perf_counter()
    # One worker thread, requests in arrival order: what llama_cpp.server's lock around one Llama does.
    with ThreadPoolExecutor(max_workers=1) as worker:
        futures = [worker.submit(serve_baseline, llm, p, max_tokens, logit_bias, arrival) for p in prompts]
        timings = [f.result() for f in futures]
    return LevelResult("llama-cpp-python", len(prompts), timings)


def run_baseline(model_path: Path, prompts: dict[int, list[str]], max_tokens: int) -> list[LevelResult]:
    llm = llama_cpp.Llama(
        model_path=str(model_path),
        n_ctx=BASELINE_N_CTX,
        n_batch=BASELINE_N_BATCH,
        n_threads=os.cpu_count(),
        verbose=False,
    )
    try:
        logit_bias = {token: EOG_BIAS for token in end_of_generation_ids(llm)}
        serve_baseline(llm, "Warm-up: say something.", WARMUP_TOKENS, logit_bias, time.perf_counter())
        results = []
        for level, level_prompts in prompts.items():
            log(f"baseline: {level} queued requests")
            results.append(baseline_level(llm, level_prompts, max_tokens, logit_bias))
        return results
    finally:
        llm.close()


# Report -----------------------------------------------------------------------------------
def header(args: argparse.Namespace, model_path: Path, prompt_lengths: list[int]) -> str:
    server_env = {k: os.environ.get(k, v) for k, v in SERVER_ENV_DEFAULTS.items()}
    return "\n".join(
        [
            f"$ python {shlex.join(sys.argv)}",
            f"date: {datetime.now().astimezone().isoformat(timespec='seconds')}",
            f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
            f"openmaas {openmaas.__version__}, llama-cpp-python {llama_cpp.__version__}, "
            f"Python {platform.python_version()}",
            f"model: {model_path.name}",
            f"server: {' '.join(f'{k}={v}' for k, v in server_env.items())}",
            f"baseline: n_ctx={BASELINE_N_CTX} n_batch={BASELINE_N_BATCH} n_threads={os.cpu_count()}, "
            "one request at a time",
            f"requests: {args.max_tokens} output tokens each, prompts of "
            f"{min(prompt_lengths)}-{max(prompt_lengths)} tokens",
        ]
    )


def table(results: list[LevelResult]) -> str:
    baseline = {r.concurrency: r.tokens_per_s for r in results if r.system != "openmaas"}
    rows = [
        "| concurrency | system | output tokens | wall s | tok/s "
        "| TTFT p50 ms | TTFT p95 ms | ITL p50 ms | vs baseline |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(results, key=lambda r: (r.concurrency, r.system != "openmaas")):
        compared = r.system == "openmaas" and r.concurrency in baseline
        ratio = f"{r.tokens_per_s / baseline[r.concurrency]:.2f}x" if compared else ""
        rows.append(
            f"| {r.concurrency} | {r.system} | {r.num_tokens} | {r.wall_s:.2f} | {r.tokens_per_s:.1f} "
            f"| {r.ttft_ms(50):.0f} | {r.ttft_ms(95):.0f} | {r.itl_p50_ms():.1f} | {ratio} |"
        )
    return "\n".join(rows)


# Main -------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 32], help="levels to run")
    parser.add_argument("--max-tokens", type=int, default=128, help="output tokens per request")
    parser.add_argument("--home", type=Path, help="OPENMAAS_HOME for the server (default: a temporary dir)")
    parser.add_argument("--skip-baseline", action="store_true", help="measure openmaas only")
    parser.add_argument("--port", type=int, help="port for the server (default: a free one)")
    args = parser.parse_args(argv)
    if min(args.concurrency) < 1 or args.max_tokens < 1:
        parser.error("--concurrency and --max-tokens must be positive")
    return args


def benchmark(args: argparse.Namespace, home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    # Assembled here, before the server starts, so both systems read the very same file.
    model_path = bundled_model(home).path
    count = vocab_counter(model_path)
    prompts = build_prompts(count, list(dict.fromkeys(args.concurrency)))  # each level once, in order
    lengths = [count(p) for level_prompts in prompts.values() for p in level_prompts]
    report(header(args, model_path, lengths))

    with running_server(home, args.port or free_port()) as base_url:
        results = asyncio.run(run_openmaas(base_url, prompts, args.max_tokens))
    # The server is stopped before the baseline loads, so the two never share the cores.
    if not args.skip_baseline:
        results += run_baseline(model_path, prompts, args.max_tokens)
    report("\n" + table(results))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.home is not None:
        benchmark(args, args.home)
    else:
        with tempfile.TemporaryDirectory(prefix="openmaas-bench-") as home:
            benchmark(args, Path(home))
    return 0


if __name__ == "__main__":
    sys.exit(main())
