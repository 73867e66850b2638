"""Auth + metering overhead per request: the same server with database keys, and with auth off.

    python benchmarks/auth_overhead.py [--requests 2000] [--concurrency 16]

Starts two `openmaas serve` processes on the bundled model (one with an RPM/TPM-limited inference
key from the database, one with OPENMAAS_AUTH_DISABLED=true) and sends each the same requests at the
given concurrency: `GET /v1/models` (the key check alone: no generation to hide it) and a one-token
chat completion (the key check, the quota and a usage row written). Prints each p50 latency, the
p50 overhead and the ratio. Target: overhead <= 2 ms at p50.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from starlette.datastructures import Headers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere: the tests' server helper
from openmaas.api.auth import Authenticator  # noqa: E402
from openmaas.api.metering import Metrics, RequestRecord  # noqa: E402
from openmaas.api.usage_recorder import UsageRecorder  # noqa: E402
from openmaas.control.keys import KeySpec  # noqa: E402
from openmaas.control.plane import ControlPlane  # noqa: E402
from tests.live_server import ADMIN_KEY, live_server  # noqa: E402

CHAT = {"model": "gemma-3-270m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}


async def _latencies(url: str, headers: dict[str, str], num_requests: int, concurrency: int, chat: bool) -> list[float]:
    latencies: list[float] = []
    remaining = iter(range(num_requests))
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60.0) as client:

        async def worker() -> None:
            for _ in remaining:
                start = time.perf_counter()
                if chat:
                    response = await client.post("/v1/chat/completions", json=CHAT)
                else:
                    response = await client.get("/v1/models")
                latencies.append(time.perf_counter() - start)
                response.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def _measure_both(
    keyed: tuple[str, dict[str, str]], open_: tuple[str, dict[str, str]], args: argparse.Namespace, chat: bool
) -> tuple[float, float]:
    """p50s (seconds) of the keyed and the open server, measured in alternating rounds so that a
    drift of the machine's speed during the run falls on both alike."""
    total = args.chat_requests if chat else args.requests
    per_round = max(1, total // args.rounds)
    samples: tuple[list[float], list[float]] = ([], [])
    for server in (keyed, open_):
        asyncio.run(_latencies(*server, 64, args.concurrency, chat))  # warm-up
    for _ in range(args.rounds):
        for target, server in zip(samples, (keyed, open_), strict=True):
            target.extend(asyncio.run(_latencies(*server, per_round, args.concurrency, chat)))
    return statistics.median(samples[0]), statistics.median(samples[1])


def _in_process(num_calls: int) -> tuple[float, float]:
    """Per call, in the server's own code without HTTP: (the key check and quota admission, the
    metering of the ended call with and without the usage row), as p50 seconds."""
    with tempfile.TemporaryDirectory() as folder:
        plane = ControlPlane(f"sqlite:///{folder}/bench.db")
        plane.start()
        try:
            _, secret = plane.keys.create(KeySpec(name="bench", max_requests_per_minute=10**9))
            authenticator = Authenticator(plane.keys, plane.usage)
            headers = Headers({"authorization": f"Bearer {secret}"})

            async def check() -> None:
                caller = await authenticator.authenticate(headers)
                assert caller is not None
                await authenticator.admit(caller)

            async def checks() -> list[float]:
                times = []
                for _ in range(num_calls):
                    start = time.perf_counter()
                    await check()
                    times.append(time.perf_counter() - start)
                return times

            auth_p50 = statistics.median(asyncio.run(checks()))
            record = RequestRecord("req-bench", "gemma-3-270m", "openai", "ok", 12, 0, 1, 0.05, 0.06, ("length",))

            def record_p50(metrics: Metrics, ledger: UsageRecorder | None = None) -> float:
                times = []
                for _ in range(num_calls):
                    start = time.perf_counter()
                    metrics._record(record)
                    if ledger is not None:  # the usage row and the quota count (no journal: durable_metering.py)
                        ledger.end(record)
                    times.append(time.perf_counter() - start)
                return statistics.median(times)

            bare = record_p50(Metrics(dict))
            with_usage = record_p50(Metrics(dict), UsageRecorder(plane.writer.submit, authenticator))
        finally:
            plane.close()
    return auth_p50, with_usage - bare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--chat-requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        # Two homes: each server its own database; both up at once, measured in turns.
        (home / "keyed").mkdir()
        (home / "open").mkdir()
        models = home / "keyed" / "models"
        with live_server(home / "keyed", {}) as keyed_url:
            (home / "open" / "models").symlink_to(models)
            with live_server(home / "open", {"OPENMAAS_AUTH_DISABLED": "true"}) as open_url:
                admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
                created = httpx.post(
                    f"{keyed_url}/api/admin/keys",
                    json={"name": "bench", "max_requests_per_minute": 10**9, "max_tokens_per_minute": 10**9},
                    headers=admin,
                ).json()
                keyed = (keyed_url, {"Authorization": f"Bearer {created['key']}"})
                open_ = (open_url, {})
                models_p50 = _measure_both(keyed, open_, args, chat=False)
                chat_p50 = _measure_both(keyed, open_, args, chat=True)
    auth_p50, metering_p50 = _in_process(5000)
    sys.stdout.write(
        f"In process, per call: key check + quota admission p50 {auth_p50 * 1e6:.0f} us; "
        f"usage row + quota count p50 {metering_p50 * 1e6:.0f} us over the Prometheus record alone; "
        f"together {(auth_p50 + metering_p50) * 1000:.3f} ms (target <= 2 ms: "
        f"{'met' if auth_p50 + metering_p50 <= 0.002 else 'MISSED'})\n"
    )
    for name, with_key, without in (
        ("GET /v1/models", *models_p50),
        ("POST /v1/chat/completions (max_tokens 1)", *chat_p50),
    ):
        overhead_ms = (with_key - without) * 1000
        sys.stdout.write(
            f"{name} at concurrency {args.concurrency}\n"
            f"  p50 auth off: {without * 1000:.2f} ms   p50 with a database key: {with_key * 1000:.2f} ms\n"
            f"  p50 overhead: {overhead_ms:.2f} ms   ratio: {with_key / without:.3f}x   target <= 2 ms: "
            f"{'met' if overhead_ms <= 2.0 else 'MISSED'}\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
