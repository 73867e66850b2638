"""Prometheus metrics: what each request did, and what each engine holds at scrape time.

Counters and histograms are fed per request by a ``RequestMeter``; the
engine's gauges are read from its stats when Prometheus scrapes, so the hot
loop does no metrics work at all. Every metric lives in the app's own
registry (none at import time).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from openmaas.engine import EngineOutput, EngineStats

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
        self.registry.register(_EngineCollector(engine_stats))

    def meter(self, model: str, dialect: str) -> RequestMeter:
        return RequestMeter(self, model, dialect)


class RequestMeter:
    """Times one request's outputs; ``finish`` records it once, whatever the outcome."""

    def __init__(self, metrics: Metrics, model: str, dialect: str) -> None:
        self._metrics = metrics
        self._model = model
        self._dialect = dialect
        self._start = time.monotonic()
        self._last: float | None = None
        self._prompt: dict[str, tuple[int, int]] = {}
        self._completion: dict[str, int] = {}
        self._done = False

    def observe(self, output: EngineOutput) -> None:
        now = time.monotonic()
        if output.token_ids:
            if self._last is None:
                self._metrics.time_to_first_token.labels(self._model).observe(now - self._start)
            else:
                self._metrics.inter_token_latency.labels(self._model).observe(now - self._last)
            self._last = now
        self._prompt[output.request_id] = (output.num_prompt_tokens, output.num_cached_tokens)
        self._completion[output.request_id] = output.num_output_tokens

    def finish(self, status: str) -> None:
        if self._done:
            return
        self._done = True
        m, model = self._metrics, self._model
        m.requests.labels(model, self._dialect, status).inc()
        m.prompt_tokens.labels(model).inc(sum(p for p, _ in self._prompt.values()))
        m.cached_tokens.labels(model).inc(sum(c for _, c in self._prompt.values()))
        m.completion_tokens.labels(model).inc(sum(self._completion.values()))
        m.request_duration.labels(model, self._dialect).observe(time.monotonic() - self._start)


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
