"""Metering: what each API call did, for its response, its usage row, Prometheus and every listener.

A ``CallAccount`` follows one call's engine outputs; the response's ``usage`` is
read from it, and when the call ends it builds one ``RequestRecord`` (tokens,
timings, outcome, the caller's key and deployment) that feeds the Prometheus
counters, every listener added with ``Metrics.add_listener`` (the request log
line) and the ``Ledger`` (the usage row, its cost and the quota). The engine's
gauges are read from its stats when Prometheus scrapes, so the hot loop does
no metrics work at all. Every metric lives in the app's own registry (none at
import time).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from openmaas.api.context import current_request
from openmaas.engine import EngineOutput, EngineStats

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One API call, as recorded when it ended (whatever the outcome)."""

    request_id: str
    model: str
    dialect: str
    # "ok", "cancelled" (the client left), or the error's code.
    status: str
    num_prompt_tokens: int
    num_cached_tokens: int
    num_completion_tokens: int
    # Seconds from the call's start to its first token (None: no token came).
    time_to_first_token: float | None
    duration: float
    # Each choice's finish reason, in the order they ended ("stop", "length", "abort", "error").
    finish_reasons: tuple[str, ...]
    key_id: str | None = None
    key_prefix: str | None = None
    deployment: str | None = None
    # The server's unique id of the call (a client's request id may repeat).
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """A call's token counts (the rule: CallAccount)."""

    num_prompt_tokens: int
    num_cached_tokens: int
    num_completion_tokens: int

    @property
    def num_total_tokens(self) -> int:
        return self.num_prompt_tokens + self.num_completion_tokens

    def as_openai(self) -> dict[str, Any]:
        """OpenAI's ``usage`` object."""
        return {
            "prompt_tokens": self.num_prompt_tokens,
            "completion_tokens": self.num_completion_tokens,
            "total_tokens": self.num_total_tokens,
            "prompt_tokens_details": {"cached_tokens": self.num_cached_tokens},
        }


class Ledger(Protocol):
    """Where calls' usage is kept: told when a call begins, as its output is delivered, and when it ends."""

    def begin(self, record: RequestRecord) -> None: ...

    def progress(self, record: RequestRecord) -> None: ...

    def end(self, record: RequestRecord) -> concurrent.futures.Future[None] | None:
        """Records the ended call; the future (if any) completes once its row is durable."""


class NoLedger:
    """Keeps nothing (an app without a control plane, unit tests)."""

    def begin(self, record: RequestRecord) -> None:
        pass

    def progress(self, record: RequestRecord) -> None:
        pass

    def end(self, record: RequestRecord) -> concurrent.futures.Future[None] | None:
        return None


RecordListener = Callable[[RequestRecord], None]

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
TOKEN_LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.6, 1.2, 2.5, 5.0)


class Metrics:
    """The metrics of one app."""

    def __init__(self, engine_stats: Callable[[], dict[str, EngineStats]], ledger: Ledger | None = None) -> None:
        self.ledger: Ledger = ledger or NoLedger()
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "openmaas_requests",
            "Requests by model, dialect and outcome.",
            ["model", "dialect", "status"],
            registry=self.registry,
        )
        self.prompt_tokens = Counter(
            "openmaas_prompt_tokens", "Prompt tokens of finished requests.", ["model"], registry=self.registry
        )
        self.cached_tokens = Counter(
            "openmaas_cached_prompt_tokens",
            "Prompt tokens taken from the prefix cache.",
            ["model"],
            registry=self.registry,
        )
        self.completion_tokens = Counter(
            "openmaas_completion_tokens", "Generated tokens.", ["model"], registry=self.registry
        )
        self.time_to_first_token = Histogram(
            "openmaas_time_to_first_token_seconds",
            "From request to its first token.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.inter_token_latency = Histogram(
            "openmaas_inter_token_latency_seconds",
            "Between consecutive outputs of a request.",
            ["model"],
            buckets=TOKEN_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "openmaas_request_duration_seconds",
            "From request to its last token.",
            ["model", "dialect"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model_loads = Counter(
            "openmaas_model_loads", "Models loaded (on demand or at start).", ["model"], registry=self.registry
        )
        self.model_load_duration = Histogram(
            "openmaas_model_load_duration_seconds",
            "Time to load a model.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_EngineCollector(engine_stats))
        self._listeners: list[RecordListener] = []

    def add_listener(self, listener: RecordListener) -> None:
        """Calls listener with the record of every call that ends (on the event loop: keep it quick)."""
        self._listeners.append(listener)

    def record_model_load(self, model: str, seconds: float) -> None:
        self.model_loads.labels(model).inc()
        self.model_load_duration.labels(model).observe(seconds)

    def meter(
        self, model: str, dialect: str, prompt_lengths: Sequence[int] = (0,), num_choices_per_prompt: int = 1
    ) -> CallAccount:
        """The account of a call of len(prompt_lengths) jobs, num_choices_per_prompt per prompt (CallAccount)."""
        return CallAccount(self, model, dialect, prompt_lengths, num_choices_per_prompt)

    def _record(self, record: RequestRecord) -> None:
        self.requests.labels(record.model, record.dialect, record.status).inc()
        self.prompt_tokens.labels(record.model).inc(record.num_prompt_tokens)
        self.cached_tokens.labels(record.model).inc(record.num_cached_tokens)
        self.completion_tokens.labels(record.model).inc(record.num_completion_tokens)
        self.request_duration.labels(record.model, record.dialect).observe(record.duration)
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:  # a failing listener must not fail the call, nor hide it from the others
                logger.exception("request record listener %r failed", listener)


class CallAccount:
    """One API call's accounting: the single object its response's ``usage``, its usage row (and so
    its cost and quota charge), its request log line and its metrics all read.

    The rule for calls of several engine requests (OpenAI's): a prompt shared by ``n`` choices
    counts once, and each prompt of a completions prompt list counts once; completion tokens add
    up over every choice. Jobs are laid out prompt by prompt, ``n`` choices each (job ``i`` belongs
    to prompt ``i // n``), and a prompt's counts come from its first choice (the engine reports the
    cached part per request). The account tells its ``Ledger`` when the call begins, each time
    output reached the client (``delivered``), and when it ends; ``settle`` waits until the ended
    call's row is durable. If the HTTP request ends first (its client left before a stream began),
    the call is recorded as cancelled then, with the request's scope.
    """

    def __init__(
        self,
        metrics: Metrics,
        model: str,
        dialect: str,
        prompt_lengths: Sequence[int] = (0,),
        num_choices_per_prompt: int = 1,
    ) -> None:
        self._metrics = metrics
        self._model = model
        self._dialect = dialect
        self.call_id = uuid.uuid4().hex
        # Read now, in the call's own context: who asked, through which deployment.
        self._context = current_request()
        self._start = time.monotonic()
        self._first: float | None = None
        self._last: float | None = None
        self._n = num_choices_per_prompt
        # Known before the first output; the engine's counts replace these (cached tokens included).
        self._prompts = [(length, 0) for length in prompt_lengths[:: self._n]]
        self._completion = [0] * len(prompt_lengths)
        self._num_finished = 0
        self._finish_reasons: list[str] = []
        self._delivered: Usage | None = None
        self._done = False
        self._durable: concurrent.futures.Future[None] | None = None
        self._ledger = metrics.ledger
        self._ledger.begin(self._record("running"))
        self._context.on_end(lambda: self.finish("cancelled"))

    @property
    def request_id(self) -> str:
        return self._context.request_id

    @property
    def usage(self) -> Usage:
        return Usage(
            num_prompt_tokens=sum(p for p, _ in self._prompts),
            num_cached_tokens=sum(c for _, c in self._prompts),
            num_completion_tokens=sum(self._completion),
        )

    @property
    def is_complete(self) -> bool:
        """Every job has finished (its last output was observed)."""
        return self._num_finished == len(self._completion)

    def observe(self, index: int, output: EngineOutput) -> None:
        """Counts job index's output and times it."""
        now = time.monotonic()
        if output.token_ids:
            if self._last is None:
                self._first = now
                self._metrics.time_to_first_token.labels(self._model).observe(now - self._start)
            else:
                self._metrics.inter_token_latency.labels(self._model).observe(now - self._last)
            self._last = now
        if index % self._n == 0:
            self._prompts[index // self._n] = (output.num_prompt_tokens, output.num_cached_tokens)
        self._completion[index] = output.num_output_tokens
        if output.finish_reason is not None:
            self._num_finished += 1
            self._finish_reasons.append(str(output.finish_reason))

    def delivered(self) -> None:
        """What was observed so far reached the client (a chunk was sent): journaled, for a crash."""
        if self._done:
            return
        usage = self.usage
        if usage != self._delivered:
            self._delivered = usage
            self._ledger.progress(self._record("running", usage))

    def finish(self, status: str) -> None:
        """Records the call once (``ok``, ``cancelled`` or an error's code); later calls are no-ops."""
        if self._done:
            return
        self._done = True
        record = self._record(status)
        self._metrics._record(record)
        self._durable = self._ledger.end(record)

    async def settle(self, status: str) -> None:
        """finish, then waits until the call's row is durable (before the answer's last byte goes)."""
        self.finish(status)
        # A done future is not awaited: wrapping it would still cost the loop a cross-thread wake-up.
        if self._durable is not None and not self._durable.done():
            await asyncio.wrap_future(self._durable)

    def _record(self, status: str, usage: Usage | None = None) -> RequestRecord:
        usage = usage or self.usage
        context = self._context
        return RequestRecord(
            request_id=context.request_id,
            model=self._model,
            dialect=self._dialect,
            status=status,
            num_prompt_tokens=usage.num_prompt_tokens,
            num_cached_tokens=usage.num_cached_tokens,
            num_completion_tokens=usage.num_completion_tokens,
            time_to_first_token=None if self._first is None else self._first - self._start,
            duration=time.monotonic() - self._start,
            finish_reasons=tuple(self._finish_reasons),
            key_id=context.key_id,
            key_prefix=context.key_prefix,
            deployment=context.deployment,
            call_id=self.call_id,
        )


class _EngineCollector(Collector):
    """Gauges read from each engine's stats at scrape time."""

    def __init__(self, engine_stats: Callable[[], dict[str, EngineStats]]) -> None:
        self._engine_stats = engine_stats

    def collect(self) -> Iterator[Metric]:
        gauges = {
            "running": GaugeMetricFamily("openmaas_running_requests", "Requests holding a slot.", labels=["model"]),
            "waiting": GaugeMetricFamily("openmaas_queued_requests", "Requests waiting for a slot.", labels=["model"]),
            "in_use": GaugeMetricFamily("openmaas_kv_slots_in_use", "KV sequence slots owned.", labels=["model"]),
            "cached": GaugeMetricFamily("openmaas_kv_slots_cached", "KV slots holding cache.", labels=["model"]),
            "total": GaugeMetricFamily("openmaas_kv_slots", "KV sequence slots in all.", labels=["model"]),
            "hit": GaugeMetricFamily(
                "openmaas_prefix_cache_hit_ratio",
                "Prompt tokens taken from the cache / prompt tokens.",
                labels=["model"],
            ),
        }
        loaded = GaugeMetricFamily("openmaas_loaded_models", "Models loaded now.")
        stats_by_model = self._engine_stats()
        loaded.add_metric([], len(stats_by_model))
        for model, stats in stats_by_model.items():
            gauges["running"].add_metric([model], stats.num_running)
            gauges["waiting"].add_metric([model], stats.num_waiting)
            gauges["in_use"].add_metric([model], stats.num_total_slots - stats.num_free_slots - stats.num_cached_slots)
            gauges["cached"].add_metric([model], stats.num_cached_slots)
            gauges["total"].add_metric([model], stats.num_total_slots)
            ratio = stats.num_cached_prompt_tokens / stats.num_prompt_tokens if stats.num_prompt_tokens else 0.0
            gauges["hit"].add_metric([model], ratio)
        yield from gauges.values()
        yield loaded
