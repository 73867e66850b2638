"""GET /metrics: counters and histograms follow the requests made."""

from __future__ import annotations

import httpx
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import MODEL


def scrape(http: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_counters_and_histograms_follow_the_requests(client: OpenAI, http: httpx.Client) -> None:
    before = scrape(http)
    completion_tokens = 0
    prompt_tokens = 0
    for i in range(3):
        response = client.completions.create(model=MODEL, prompt=f"Count {i}:", max_tokens=4, temperature=0)
        completion_tokens += response.usage.completion_tokens  # type: ignore[union-attr]
        prompt_tokens += response.usage.prompt_tokens  # type: ignore[union-attr]
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Hi"}],
        max_tokens=3,
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = [c.usage for c in stream if c.usage][0]
    completion_tokens += usage.completion_tokens
    prompt_tokens += usage.prompt_tokens
    failed = http.post("/v1/completions", json={"model": MODEL, "prompt": "x", "temperature": 5})
    assert failed.status_code == 400
    after = scrape(http)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("openmaas_requests_total", model=MODEL, dialect="openai", status="ok") == 4
    assert delta("openmaas_completion_tokens_total", model=MODEL) == completion_tokens
    assert delta("openmaas_prompt_tokens_total", model=MODEL) == prompt_tokens
    assert delta("openmaas_time_to_first_token_seconds_count", model=MODEL) == 4
    assert delta("openmaas_request_duration_seconds_count", model=MODEL, dialect="openai") == 4
    # Each output carries one token; every one after a request's first is one inter-token gap.
    assert delta("openmaas_inter_token_latency_seconds_count", model=MODEL) == completion_tokens - 4
    assert value(after, "openmaas_loaded_models") == 1
    assert value(after, "openmaas_kv_slots", model=MODEL) > 0
    assert value(after, "openmaas_running_requests", model=MODEL) == 0
