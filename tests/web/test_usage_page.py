"""The Usage page in a real browser: charts of the calls just made, totals per group, and the CSV export."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import expect

from tests.live_server import AUTH, MODEL
from tests.web.conftest import PHONE, Console, ConsoleFactory

CHART_IDS = ("chart-requests", "chart-tokens", "chart-cost")


def _calls(server_url: str, count: int) -> list[str]:
    """Short chat calls with the admin key; their request ids."""
    ids = []
    with httpx.Client(base_url=server_url, headers=AUTH, timeout=60) as client:
        for _ in range(count):
            response = client.post(
                "/v1/chat/completions",
                json={"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4},
            )
            assert response.status_code == 200, response.text
            ids.append(response.headers["X-Request-Id"])
    return ids


def test_the_charts_and_table_show_the_calls_and_the_csv_lists_them(console: Console, tmp_path: Path) -> None:
    request_ids = _calls(console.base_url, 2)
    page = console.open("/usage")
    requests_chart = page.locator("#chart-requests svg")
    expect(requests_chart).to_have_attribute("data-series-count", re.compile(r"^[1-9]"))
    assert int(requests_chart.get_attribute("data-total") or 0) >= len(request_ids)
    expect(requests_chart).to_have_attribute("role", "img")
    expect(requests_chart).to_have_attribute(
        "aria-label", re.compile(r"^Requests per day, last 7 days: [\d,]+ in total$")
    )
    for chart_id in CHART_IDS:
        expect(page.locator(f"#{chart_id} svg")).to_be_visible()
    # A bar segment per series and bucket, with a hover title naming its model.
    expect(page.locator("#chart-requests rect title").first).to_contain_text(MODEL)
    expect(page.locator("#chart-requests .legend")).to_contain_text(MODEL)

    table = page.get_by_role("table", name=re.compile("Totals by model"))
    expect(table.locator("tbody")).to_contain_text(MODEL)
    expect(table.locator("tfoot")).to_contain_text("Total")

    # Grouped by key: redrawn with the key's label (the calls used the OPENMAAS_API_KEY bootstrap key).
    page.get_by_label("Group by").select_option("key")
    expect(page.locator("#chart-requests .legend")).to_contain_text("OPENMAAS_API_KEY")
    expect(page.get_by_role("table", name=re.compile("Totals by API key")).locator("tbody")).to_contain_text(
        "OPENMAAS_API_KEY"
    )
    assert re.search(r"group_by=key", page.url)

    # Hourly over the last day.
    page.get_by_label("Period").select_option("24h")
    expect(requests_chart).to_have_attribute("aria-label", re.compile(r"^Requests per hour, last 24 hours: "))
    assert int(requests_chart.get_attribute("data-total") or 0) >= len(request_ids)

    with page.expect_download() as info:
        page.get_by_role("button", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename == "openmaas-usage-24h.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    text = saved.read_text()
    assert text.startswith("created_at,request_id,")
    for request_id in request_ids:
        assert request_id in text
    expect(page.get_by_role("alert")).to_be_hidden()


def test_an_inference_key_sees_its_own_usage_only(anonymous_console: Console) -> None:
    created = httpx.post(
        anonymous_console.base_url + "/api/admin/keys", json={"name": "usage-page-test"}, headers=AUTH, timeout=30
    )
    assert created.status_code == 201, created.text
    key = created.json()
    page = anonymous_console.page()
    page.add_init_script(f"window.localStorage.setItem('openmaas.apiKey', {key['key']!r})")
    page.goto(anonymous_console.base_url + "/usage?period=24h&group_by=key")
    expect(page.locator("#usage-scope")).to_contain_text(key["prefix"])
    chart = page.locator("#chart-requests svg")
    # No call yet: the charts are drawn empty, not left out.
    expect(chart).to_have_attribute("data-series-count", "0")
    expect(chart).to_have_attribute("data-total", "0")
    expect(chart).to_contain_text("No calls in this period")

    with httpx.Client(base_url=anonymous_console.base_url, timeout=60) as client:
        response = client.post(
            "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4},
            headers={"Authorization": f"Bearer {key['key']}"},
        )
        assert response.status_code == 200, response.text
    page.reload()
    # Its one call, not the admin's many.
    expect(chart).to_have_attribute("data-total", "1")
    expect(chart).to_have_attribute("data-series-count", "1")
    expect(page.locator("#chart-requests .legend")).to_contain_text(f"usage-page-test ({key['prefix']}…)")


def test_the_charts_fit_a_phone(console_factory: ConsoleFactory) -> None:
    phone_console = console_factory(viewport=PHONE)
    _calls(phone_console.base_url, 1)
    page = phone_console.open("/usage")
    chart = page.locator("#chart-requests svg")
    expect(chart).to_have_attribute("data-series-count", re.compile(r"^[1-9]"))
    box = chart.bounding_box()
    assert box is not None and box["width"] <= 390
    # Drawn at its own width: the viewBox matches the box, so text keeps its size.
    view_width = float((chart.get_attribute("viewBox") or "").split()[2])
    assert abs(view_width - box["width"]) <= 2
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
