"""Throughput of openmaas against llama.cpp's own server and one-at-a-time llama.cpp, on the bundled Gemma 3 270M.

The systems, each alone on the machine in turn (never two at once):

* openmaas: `openmaas serve` at its default settings (32 sequences of 2,048
  tokens), started by this script on a free loopback port;
* llama-server: llama.cpp's C++ server (`--llama-server PATH` or
  ``LLAMA_SERVER_BIN``; skipped with a note when neither is given), built from
  the llama.cpp that llama-cpp-python bundles, at the same capacity
  (``-np 32 -c 65536``: 32 sequences of 2,048 tokens) and thread count;
* baseline: llama-cpp-python's high-level `llama_cpp.Llama` serving the same
  requests one at a time from a single worker thread, as `llama_cpp.server` does
  (`--skip-baseline` leaves it out).

Both servers are driven by the same client over HTTP: concurrent streaming
POST /v1/completions requests, temperature 0, end-of-generation tokens
banned (``ignore_eos``), so every request yields exactly its output tokens.
The workloads (`--workloads`):

* distinct: at each concurrency (`--concurrency`, default 1 4 16 32), every
  request has its own ~64-token prompt, 128 output tokens (`--max-tokens`);
* shared: 16 requests whose prompts start with one 512-token prefix no server
  has seen (cold), then a distinct ~64-token tail;
* long: 8 requests of ~1,500-token distinct prompts, 64 output tokens.

Prompt lengths are measured with each server's own tokenizer: openmaas
tokenizes with llama.cpp on the model's vocabulary in-process (the very call
its server makes), llama-server through its ``/tokenize``; the script stops if
the two disagree, since unequal prompts make an unequal comparison.

For each workload and system it prints aggregate output tokens/s (all output
tokens / wall time from the common arrival to the last token), time to first
token p50/p95 (from the common arrival, so queueing counts), inter-token
latency p50, and the ratio of openmaas's tokens/s to each peer's. It also
prints each server's resident memory (VmRSS) when idle after its warm-up and
after the C=32 level.

Run (takes minutes; use a quiet machine):

    python benchmarks/throughput.py --llama-server PATH --skip-baseline
    python benchmarks/throughput.py --workloads distinct --concurrency 1 8 --max-tokens 64

The output starts with the command line and the date and ends with Markdown
tables, ready to paste into the docs. Server logs go to <home>/*.log;
progress goes to stderr.
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
SHARED_PREFIX_TOKENS = 512
SHARED_CONCURRENCY = 16
LONG_PROMPT_TOKENS = 1500
LONG_CONCURRENCY = 8
LONG_MAX_TOKENS = 64
# Keys off (loopback only): this measures the engine; benchmarks/auth_overhead.py measures the key check.
# Everything else at its default: 32 sequences of 2,048 tokens, the capacity llama-server gets below.
SERVER_ENV_DEFAULTS = {"OPENMAAS_AUTH_DISABLED": "true"}
LLAMA_SERVER_PARALLEL = 32
LLAMA_SERVER_CONTEXT = 32 * 2048
BASELINE_N_CTX = 2048
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


@dataclass(frozen=True)
class Load:
    """One batch of requests that arrive together."""

    name: str  # "C=16", "C=16 shared 512", ...
    prompts: list[str]
    max_tokens: int


@dataclass
class LevelResult:
    system: str
    load: str
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


@dataclass
class MemoryReading:
    system: str
    idle_bytes: int
    after_c32_bytes: int | None


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


def resident_bytes(pid: int) -> int:
    """VmRSS of a process (Linux): what the server holds in memory now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


# Prompts ------------------------------------------------------------------------------
TokenCounter = Callable[[str], int]


def build_prompt(count_tokens: TokenCounter, tag: str, index: int, num_tokens: int) -> str:
    """A deterministic prompt of at least num_tokens tokens that starts with its unique tag.

    The tag comes first so two prompts share at most a token or two of
    prefix: neither system's prefix reuse may turn this into a cache benchmark.
    """
    words = [f"{tag}:"]
    offset = 7 * index % len(SENTENCES)
    pool = [w for k in range(len(SENTENCES)) for w in SENTENCES[(offset + k) % len(SENTENCES)].split()]
    # Grow by whole sentences of words first (cheap), then word by word to the exact length.
    while count_tokens(" ".join(words + pool)) < num_tokens:
        words += pool
    for word in pool:
        if count_tokens(" ".join(words)) >= num_tokens:
            break
        words.append(word)
    return " ".join(words)


def build_loads(count: TokenCounter, args: argparse.Namespace) -> list[Load]:
    loads = []
    if "distinct" in args.workloads:
        for level in dict.fromkeys(args.concurrency):  # each level once, in order
            prompts = [build_prompt(count, f"Note {level}.{i}", i, PROMPT_TOKENS) for i in range(level)]
            loads.append(Load(f"C={level}", prompts, args.max_tokens))
    if "shared" in args.workloads:
        # The prefix starts with this run's time, so no server has it cached from an earlier run.
        prefix = build_prompt(count, f"Shared context {time.time_ns()}", 3, SHARED_PREFIX_TOKENS)
        tails = [
            build_prompt(lambda t: count(prefix + " " + t) - count(prefix), f"Question {i}", i, PROMPT_TOKENS)
            for i in range(SHARED_CONCURRENCY)
        ]
        loads.append(
            Load(
                f"C={SHARED_CONCURRENCY}, shared {SHARED_PREFIX_TOKENS}-token prefix",
                [f"{prefix} {tail}" for tail in tails],
                args.max_tokens,
            )
        )
    if "long" in args.workloads:
        prompts = [build_prompt(count, f"Long {i}", i, LONG_PROMPT_TOKENS) for i in range(LONG_CONCURRENCY)]
        loads.append(Load(f"C={LONG_CONCURRENCY}, ~{LONG_PROMPT_TOKENS}-token prompts", prompts, LONG_MAX_TOKENS))
    return loads


def vocab_counter(model_path: Path) -> TokenCounter:
    """Counts tokens (BOS included) as openmaas's server does: llama.cpp's tokenizer on the model's vocabulary."""
    vocab = llama_cpp.Llama(model_path=str(model_path), vocab_only=True, verbose=False)
    return lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=True))


def check_llama_server_lengths(base_url: str, loads: list[Load], count: TokenCounter) -> None:
    """llama-server must see prompts of the same lengths as openmaas, through its own /tokenize."""
    with httpx.Client(base_url=base_url, timeout=60.0) as client:
        for load in loads:
            for prompt in load.prompts:
                tokens = client.post("/tokenize", json={"content": prompt, "add_special": True}).json()["tokens"]
                if len(tokens) != count(prompt):
                    raise SystemExit(
                        f"prompt lengths differ ({len(tokens)} tokens in llama-server, {count(prompt)} in openmaas); "
                        "the comparison would be unequal"
                    )


# Servers over HTTP ------------------------------------------------------------------------
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
            raise RuntimeError(f"{log_path.stem} exited with {server.returncode}; see {log_path}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet: the model loads before the port opens
        time.sleep(HEALTH_POLL_S)
    raise TimeoutError(f"{log_path.stem} was not healthy within {HEALTH_TIMEOUT_S:.0f} s; see {log_path}")


def log_tail(path: Path, num_lines: int = 30) -> str:
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    return "\n".join(lines[-num_lines:])


@dataclass
class RunningServer:
    base_url: str
    pid: int


@contextmanager
def running(command: list[str], env: dict[str, str], log_path: Path, port: int) -> Iterator[RunningServer]:
    """A server process on 127.0.0.1:port for the duration; stopped by its PID afterwards."""
    with log_path.open("wb") as log_file:
        server = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, server, log_path)
        yield RunningServer(base_url, server.pid)
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


def openmaas_server(home: Path, port: int) -> Any:
    env = {**os.environ, "OPENMAAS_HOME": str(home)}
    for key, value in SERVER_ENV_DEFAULTS.items():
        env.setdefault(key, value)  # the caller's environment wins, to benchmark other settings
    command = [openmaas_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    return running(command, env, home / "openmaas-server.log", port)


def llama_server(binary: Path, model_path: Path, home: Path, port: int) -> Any:
    command = [
        str(binary), "-m", str(model_path), "--host", "127.0.0.1", "--port", str(port),
        "-t", str(os.cpu_count()), "-np", str(LLAMA_SERVER_PARALLEL), "-c", str(LLAMA_SERVER_CONTEXT),
    ]  # fmt: skip
    return running(command, dict(os.environ), home / "llama-server.log", port)


async def stream_completion(
    client: httpx.AsyncClient, system: str, prompt: str, max_tokens: int, arrival: float
) -> RequestTiming:
    """One streamed /v1/completions request; both servers speak the same OpenAI stream."""
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
            raise RuntimeError(f"{system} answered {response.status_code}: {(await response.aread())!r}")
        async for line in response.aiter_lines():
            now = time.perf_counter()  # before parsing, so JSON decoding does not count
            if not line.startswith("data: "):
                continue
            data = line.removeprefix("data: ")
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if "error" in chunk:
                raise RuntimeError(f"{system} streamed an error: {chunk['error']}")
            for choice in chunk["choices"]:
                if choice["text"]:
                    chunk_times.append(now)
                finish_reason = choice["finish_reason"] or finish_reason
            if chunk.get("usage"):  # the last chunk carries it
                num_tokens = int(chunk["usage"]["completion_tokens"])
    end = time.perf_counter()
    return checked_timing(arrival, chunk_times, end, num_tokens, finish_reason, max_tokens, system)


def checked_timing(
    arrival: float,
    chunk_times: list[float],
    end: float,
    num_tokens: int | None,
    finish_reason: str | None,
    max_tokens: int,
    system: str,
) -> RequestTiming:
    """Every system must have generated exactly max_tokens, or the comparison is unequal."""
    if finish_reason != "length" or num_tokens != max_tokens or not chunk_times:
        raise RuntimeError(
            f"{system}: expected {max_tokens} tokens ending in 'length', got {num_tokens} "
            f"ending in {finish_reason!r} with {len(chunk_times)} text chunks"
        )
    return RequestTiming(arrival, chunk_times, end, num_tokens)


async def drive_server(
    system: str, server: RunningServer, loads: list[Load]
) -> tuple[list[LevelResult], MemoryReading]:
    # One client for every load, like a long-lived application; the pool must fit the widest load.
    limits = httpx.Limits(max_connections=max(len(load.prompts) for load in loads) + 1)
    timeout = httpx.Timeout(900.0, connect=10.0)
    after_c32: int | None = None
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=timeout) as client:
        await stream_completion(client, system, "Warm-up: say something.", WARMUP_TOKENS, time.perf_counter())
        idle = resident_bytes(server.pid)
        results = []
        for load in loads:
            log(f"{system}: {load.name}")
            arrival = time.perf_counter()
            timings = await asyncio.gather(
                *(stream_completion(client, system, p, load.max_tokens, arrival) for p in load.prompts)
            )
            results.append(LevelResult(system, load.name, list(timings)))
            if load.name == "C=32":
                after_c32 = resident_bytes(server.pid)
    return results, MemoryReading(system, idle, after_c32)


# Baseline: llama_cpp.Llama, one request at a time -----------------------------------------
def end_of_generation_ids(llm: llama_cpp.Llama) -> list[int]:
    """Every token that ends llama_cpp's generation loop (Gemma 3 has <eos> and <end_of_turn>).

    Biasing only token_eos() would let the model stop early on another one,
    and the baseline would then do less work than the servers' ignore_eos.
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


def run_baseline(model_path: Path, loads: list[Load]) -> list[LevelResult]:
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
        for load in loads:
            log(f"baseline: {load.name}")
            arrival = time.perf_counter()
            # One worker thread, requests in arrival order: what llama_cpp.server's lock around one Llama does.
            with ThreadPoolExecutor(max_workers=1) as worker:
                futures = [
                    worker.submit(serve_baseline, llm, p, load.max_tokens, logit_bias, arrival) for p in load.prompts
                ]
                timings = [f.result() for f in futures]
            results.append(LevelResult("llama-cpp-python", load.name, timings))
        return results
    finally:
        llm.close()


# Report -----------------------------------------------------------------------------------
def header(args: argparse.Namespace, model_path: Path, loads: list[Load], count: TokenCounter) -> str:
    server_env = {k: os.environ.get(k, v) for k, v in SERVER_ENV_DEFAULTS.items()}
    lines = [
        f"$ python {shlex.join(sys.argv)}",
        f"date: {datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        f"openmaas {openmaas.__version__}, llama-cpp-python {llama_cpp.__version__}, "
        f"Python {platform.python_version()}",
        f"model: {model_path.name}",
        f"openmaas: defaults, {' '.join(f'{k}={v}' for k, v in server_env.items())}",
        f"llama-server: {args.llama_server or 'not run'} -np {LLAMA_SERVER_PARALLEL} -c {LLAMA_SERVER_CONTEXT} "
        f"-t {os.cpu_count()}",
        f"baseline: {'not run' if args.skip_baseline else f'n_ctx={BASELINE_N_CTX} n_batch={BASELINE_N_BATCH}'}",
    ]
    for load in loads:
        lengths = [count(p) for p in load.prompts]
        lines.append(f"load {load.name}: prompts of {min(lengths)}-{max(lengths)} tokens, {load.max_tokens} out")
    return "\n".join(lines)


def table(results: list[LevelResult], loads: list[Load]) -> str:
    by_key = {(r.system, r.load): r for r in results}
    rows = [
        "| load | system | output tokens | wall s | tok/s | TTFT p50 ms | TTFT p95 ms | ITL p50 ms "
        "| vs llama-server | vs baseline |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for load in loads:
        peers = {
            s: by_key[(s, load.name)].tokens_per_s
            for s in ("llama-server", "llama-cpp-python")
            if (s, load.name) in by_key
        }
        for system in ("openmaas", "llama-server", "llama-cpp-python"):
            r = by_key.get((system, load.name))
            if r is None:
                continue
            ratios = [
                f"{r.tokens_per_s / peers[peer]:.2f}x" if system == "openmaas" and peer in peers else ""
                for peer in ("llama-server", "llama-cpp-python")
            ]
            rows.append(
                f"| {load.name} | {system} | {r.num_tokens} | {r.wall_s:.2f} | {r.tokens_per_s:.1f} "
                f"| {r.ttft_ms(50):.0f} | {r.ttft_ms(95):.0f} | {r.itl_p50_ms():.1f} | {' | '.join(ratios)} |"
            )
    return "\n".join(rows)


def memory_table(readings: list[MemoryReading]) -> str:
    rows = ["| system | RSS idle MB | RSS after C=32 MB |", "|---|---:|---:|"]
    for m in readings:
        after = "" if m.after_c32_bytes is None else f"{m.after_c32_bytes / 2**20:.0f}"
        rows.append(f"| {m.system} | {m.idle_bytes / 2**20:.0f} | {after} |")
    return "\n".join(rows)


# Main -------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--workloads", nargs="+", choices=["distinct", "shared", "long"],
                        default=["distinct", "shared", "long"], help="workloads to run")  # fmt: skip
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 32], help="distinct levels")
    parser.add_argument("--max-tokens", type=int, default=128, help="output tokens per request (distinct, shared)")
    parser.add_argument("--home", type=Path, help="OPENMAAS_HOME for the server (default: a temporary dir)")
    parser.add_argument("--skip-baseline", action="store_true", help="leave llama-cpp-python out")
    parser.add_argument("--skip-openmaas", action="store_true", help="measure the peers only")
    parser.add_argument(
        "--llama-server",
        type=Path,
        default=Path(os.environ["LLAMA_SERVER_BIN"]) if os.environ.get("LLAMA_SERVER_BIN") else None,
        help="llama.cpp's llama-server binary (default: $LLAMA_SERVER_BIN; not run when neither is set)",
    )
    args = parser.parse_args(argv)
    if min(args.concurrency) < 1 or args.max_tokens < 1:
        parser.error("--concurrency and --max-tokens must be positive")
    if args.llama_server is not None and not args.llama_server.is_file():
        parser.error(f"--llama-server {args.llama_server}: no such file")
    return args


def benchmark(args: argparse.Namespace, home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    # Assembled here, before the servers start, so every system reads the very same file.
    model_path = bundled_model(home).path
    count = vocab_counter(model_path)
    loads = build_loads(count, args)
    report(header(args, model_path, loads, count))

    results: list[LevelResult] = []
    memory: list[MemoryReading] = []
    # One system at a time: each is stopped before the next starts, so none shares the cores.
    if not args.skip_openmaas:
        with openmaas_server(home, free_port()) as server:
            got, reading = asyncio.run(drive_server("openmaas", server, loads))
        results += got
        memory.append(reading)
    if args.llama_server is not None:
        with llama_server(args.llama_server, model_path, home, free_port()) as server:
            check_llama_server_lengths(server.base_url, loads, count)
            got, reading = asyncio.run(drive_server("llama-server", server, loads))
        results += got
        memory.append(reading)
    else:
        log("llama-server: not run (give --llama-server PATH or set LLAMA_SERVER_BIN)")
    if not args.skip_baseline:
        results += run_baseline(model_path, loads)
    report("\n" + table(results, loads))
    report("\n" + memory_table(memory))


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
