"""Every number the admin API stores is range-checked against its column: a value too large is the
client's 400, never a 500 from the database driver."""

from __future__ import annotations

import httpx
import pytest

TOO_LARGE = 10**30


# (max_budget_cost is a float: 1e30 is a fine one; an infinite one is refused below.)
@pytest.mark.parametrize("field", ["max_requests_per_minute", "max_tokens_per_minute", "max_budget_tokens"])
def test_an_oversized_key_limit_is_a_400(http: httpx.Client, field: str) -> None:
    response = http.post("/api/admin/keys", json={"name": "oversized", field: TOO_LARGE})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == field


@pytest.mark.parametrize("field", ["max_requests_per_minute", "max_tokens_per_minute"])
def test_a_limit_past_32_bits_is_refused_as_postgresql_would_overflow(http: httpx.Client, field: str) -> None:
    assert http.post("/api/admin/keys", json={field: 2**31}).status_code == 400
    created = http.post("/api/admin/keys", json={field: 2**31 - 1})
    assert created.status_code == 201 and created.json()[field] == 2**31 - 1


def test_an_infinite_or_nan_cost_is_a_400(http: httpx.Client) -> None:
    for value in (b"Infinity", b"NaN"):
        raw = b'{"name": "x", "max_budget_cost": ' + value + b"}"
        response = http.post("/api/admin/keys", content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    "fields",
    [
        {"context_length": TOO_LARGE},
        {"parameter_count": TOO_LARGE},
        {"input_price_per_million": "1e309"},  # written as is: JSON's 1e309 is infinity once parsed
    ],
)
def test_an_oversized_catalog_number_is_a_400(http: httpx.Client, fields: dict[str, object]) -> None:
    (name, value), *_ = fields.items()
    raw = f'{{"id": "oversized", "source_kind": "bundled", "{name}": {value}}}'.encode()
    response = http.post("/api/admin/models", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert http.get("/api/admin/models/oversized").status_code == 404
