"""Metering: what each API call did, for Prometheus and for every other listener.

A ``RequestMeter`` follows one call's engine outputs and, when the call ends,
builds one ``RequestRecord`` (tokens, timings, outcome, the caller's key and
deployment) that feeds the Prometheus counters and every listener added with
``Metrics.add_listener`` (the request log line, usage rows). The engine's
gauges are read from its stats when Prometheus scrapes, so the hot loop does
no metrics work at all. Every metric lives in the app's own registry (none at
import time).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

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


RecordListener = Callable[[RequestRecord], None]

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
TOKEN_LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.6, 1.2, 2.5, 5.0)


class Metrics:
    """The metrics of one app."""

    def __init__(self, engine_stats: Callable[[], dict[str, EngineStats]]) -> None:
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

    def meter(self, model: str, dialect: str) -> RequestMeter:
        return RequestMeter(self, model, dialect)

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


class RequestMeter:
    """Times one request's outputs; ``finish`` records it once, whatever the outcome."""

    def __init__(self, metrics: Metrics, model: str, dialect: str) -> None:
        self._metrics = metrics
        self._model = model
        self._dialect = dialect
        # Read now, in the call's own context: who asked, through which deployment.
        self._context = current_request()
        self._start = time.monotonic()
        self._first: float | None = None
        self._last: float | None = None
        self._prompt: dict[str, tuple[int, int]] = {}
        self._completion: dict[str, int] = {}
        self._finish_reasons: list[str] = []
        self._done = False

    def observe(self, output: EngineOutput) -> None:
        now = time.monotonic()
        if output.token_ids:
            if self._last is None:
                self._first = now
                self._metrics.time_to_first_token.labels(self._model).observe(now - self._start)
            else:
                self._metrics.inter_token_latency.labels(self._model).observe(now - self._last)
            self._last = now
        self._prompt[output.request_id] = (output.num_prompt_tokens, output.num_cached_tokens)
        self._completion[output.request_id] = output.num_output_tokens
        if output.finish_reason is not None:
            self._finish_reasons.append(str(output.finish_reason))

    @property
    def request_id(self) -> str:
        return self._context.request_id

    def finish(self, status: str) -> None:
        """Records the call once; later calls are no-ops."""
        if self._done:
            return
        self._done = True
        context = self._context
        self._metrics._record(
            RequestRecord(
                request_id=context.request_id,
                model=self._model,
                dialect=self._dialect,
                status=status,
                num_prompt_tokens=sum(p for p, _ in self._prompt.values()),
                num_cached_tokens=sum(c for _, c in self._prompt.values()),
                num_completion_tokens=sum(self._completion.values()),
                time_to_first_token=None if self._first is None else self._first - self._start,
                duration=time.monotonic() - self._start,
                finish_reasons=tuple(self._finish_reasons),
                key_id=context.key_id,
                key_prefix=context.key_prefix,
                deployment=context.deployment,
            )
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
