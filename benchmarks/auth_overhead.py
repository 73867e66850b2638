"""Auth + metering overhead per request: the same server with database keys, and with auth off.

    python benchmarks/auth_overhead.py [--requests 2000] [--concurrency 16]

Starts two `openmaas serve` processes on the bundled model (one with an RPM/TPM-limited inference
key from the database, one with OPENMAAS_AUTH_DISABLED=true), sends the same tiny request
(`GET /v1/models`) at the given concurrency to each, and prints each p50 latency, the p50 overhead
and the ratio. Target: overhead <= 2 ms at p50.
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

from tests.live_server import ADMIN_KEY, live_server


async def _latencies(url: str, headers: dict[str, str], num_requests: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    remaining = iter(range(num_requests))
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60.0) as client:

        async def worker() -> None:
            for _ in remaining:
                start = time.perf_counter()
                response = await client.get("/v1/models")
                latencies.append(time.perf_counter() - start)
                response.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def _measure(url: str, headers: dict[str, str], args: argparse.Namespace) -> float:
    asyncio.run(_latencies(url, headers, 200, args.concurrency))  # warm-up
    return statistics.median(asyncio.run(_latencies(url, headers, args.requests, args.concurrency)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        with live_server(home, {}) as url:
            admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
            created = httpx.post(
                f"{url}/api/admin/keys",
                json={"name": "bench", "max_requests_per_minute": 10**9, "max_tokens_per_minute": 10**9},
                headers=admin,
            ).json()
            keyed = _measure(url, {"Authorization": f"Bearer {created['key']}"}, args)
        with live_server(home, {"OPENMAAS_AUTH_DISABLED": "true"}) as url:
            open_p50 = _measure(url, {}, args)
    overhead_ms = (keyed - open_p50) * 1000
    sys.stdout.write(
        f"GET /v1/models, {args.requests} requests at concurrency {args.concurrency}\n"
        f"p50 auth off: {open_p50 * 1000:.2f} ms   p50 with a database key: {keyed * 1000:.2f} ms\n"
        f"p50 overhead: {overhead_ms:.2f} ms   ratio: {keyed / open_p50:.2f}x   target <= 2 ms: "
        f"{'met' if overhead_ms <= 2.0 else 'MISSED'}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
