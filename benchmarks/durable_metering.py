"""Cost of durable metering per call: the usage journal against the batched writer alone, in process.

    python benchmarks/durable_metering.py [--calls 2000] [--tokens 16] [--database-url URL]

Runs the server's own metering code on an event loop, without HTTP or a model: each simulated call
opens its account (the journal's begin line), observes one engine output per token and reports each
as delivered (a progress line per streamed chunk), then settles (its row journaled, and queued for
the database writer). Three variants, measured in the same run in alternating rounds: the baseline
with no journal (the row only queued for the writer, as before durable metering), the journal as
served by default (the row written before the call's last byte; fsynced in the background), and
the journal with OPENMAAS_USAGE_JOURNAL_SYNC (the last byte waits for the fsync, in group commits).
Calls run 1, 16 and 64 at a time. Target: durable metering costs under 2 ms p50 per call. Also
times the alternative: one database transaction per call before its last byte.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere
from openmaas.api.auth import Authenticator  # noqa: E402
from openmaas.api.metering import Metrics  # noqa: E402
from openmaas.api.usage_recorder import UsageRecorder  # noqa: E402
from openmaas.control.journal import UsageJournal  # noqa: E402
from openmaas.control.plane import ControlPlane  # noqa: E402
from openmaas.control.tables import UsageRow  # noqa: E402
from openmaas.control.usage import UsageEntry  # noqa: E402
from openmaas.engine import EngineOutput, FinishReason  # noqa: E402

MODEL = "gemma-3-270m"
LEVELS = (1, 16, 64)


def _prices(model_id: str) -> tuple[float, float]:
    return 0.1, 0.4


async def _call(metrics: Metrics, num_tokens: int) -> None:
    """One call's metering from open to settled; the engine's outputs are simulated."""
    account = metrics.meter(MODEL, "openai", [24])
    for i in range(num_tokens):
        reason = FinishReason.LENGTH if i == num_tokens - 1 else None
        account.observe(0, EngineOutput(f"req-{account.call_id}", "x", (7,), 24, 0, i + 1, reason))
        if reason is not None:
            await account.settle("ok")
        account.delivered()
        await asyncio.sleep(0)  # the next token arrives on a later turn of the loop, as a stream's do
    await account.settle("ok")


async def _level(metrics: Metrics, concurrency: int, num_calls: int, num_tokens: int) -> list[float]:
    """Per call, the event loop's time for a group of concurrent calls divided by their number
    (the calls interleave on one loop, so each call's own span would count the others' work)."""
    times: list[float] = []
    for _ in range(max(1, num_calls // concurrency)):
        start = time.perf_counter()
        await asyncio.gather(*(_call(metrics, num_tokens) for _ in range(concurrency)))
        times.append((time.perf_counter() - start) / concurrency)
    return times


def _metrics(plane: ControlPlane, journal: UsageJournal | None) -> Metrics:
    authenticator = Authenticator(plane.keys, plane.usage)
    return Metrics(dict, ledger=UsageRecorder(plane.writer.submit, authenticator, _prices, journal))


def _transaction_p50(plane: ControlPlane, num_calls: int) -> float:
    """The alternative: each call's row in its own database transaction before its answer ends."""
    times = []
    for i in range(num_calls):
        entry = UsageEntry(
            f"tx-{i}", datetime.now(UTC), None, None, MODEL, None, "openai", "ok", 24, 0, 16, 0.01, 0.1, "length", 0.0
        )
        start = time.perf_counter()
        with plane.sessions.begin() as session:
            session.execute(insert(UsageRow), [dataclasses.asdict(entry)])
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=2000, help="calls per level and variant")
    parser.add_argument("--tokens", type=int, default=16, help="streamed tokens per call")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{folder}/bench.db"
        plane = ControlPlane(url, journal_dir=Path(folder) / "usage-journal")
        plane.start()
        synced = UsageJournal(Path(folder) / "synced-journal", wait_for_sync=True)
        synced.open()
        try:
            variants = {
                "no journal": _metrics(plane, None),
                "journal": _metrics(plane, plane.journal),
                "journal+sync": _metrics(plane, synced),
            }
            sys.stdout.write(f"database: {url.split(':')[0]}, {args.tokens} streamed tokens per call\n")
            worst: dict[str, float] = dict.fromkeys(variants, 0.0)
            for concurrency in LEVELS:
                samples: dict[str, list[float]] = {name: [] for name in variants}
                for _ in range(args.rounds):  # alternating, so a drift of the machine falls on all alike
                    for name, metrics in variants.items():
                        per_round = args.calls // args.rounds
                        samples[name].extend(asyncio.run(_level(metrics, concurrency, per_round, args.tokens)))
                p50 = {name: statistics.median(times) for name, times in samples.items()}
                base = p50["no journal"]
                line = f"{concurrency:>3} calls at a time, p50 per call: no journal (baseline) {base * 1000:.3f} ms"
                for name in ("journal", "journal+sync"):
                    worst[name] = max(worst[name], p50[name] - base)
                    line += (
                        f"; {name} {p50[name] * 1000:.3f} ms (+{(p50[name] - base) * 1000:.3f} ms, "
                        f"{p50[name] / base:.2f}x)"
                    )
                sys.stdout.write(line + "\n")
            plane.writer.flush()
            transaction = _transaction_p50(plane, 200)
        finally:
            synced.close()
            plane.close()
    sys.stdout.write(f"alternative, one database transaction per call: p50 {transaction * 1000:.3f} ms\n")
    for name, overhead in worst.items():
        if name != "no journal":
            sys.stdout.write(
                f"{name}: overhead at the worst level, p50 {overhead * 1000:.3f} ms per call "
                f"(target < 2 ms: {'met' if overhead < 0.002 else 'MISSED'})\n"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
