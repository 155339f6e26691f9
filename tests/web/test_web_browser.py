"""The dashboard in a real browser: Debian's Chromium driven by Playwright against the whole
API app served by uvicorn on 127.0.0.1 and a real PostgreSQL.

A clinician signs in through the form, an alert written to the alerts table the way ingest
writes it (its trigger sends NOTIFY) appears in the open queue without a reload, they
acknowledge it with a note, and open the patient's charts.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from browser import CHROMIUM, VIEWPORT, chromium, running_api, sign_in
from web_seed import CLINICIAN_EMAIL, PASSWORD, insert_alert, migrate_db, seed_ward, settings_for

from vigil.metrics import Metric

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason=f"{CHROMIUM} is not installed (apt-get install chromium)")

TIMEOUT_MS = 20_000  # generous: the machine is shared and noisy; nothing here is timed


def test_live_alert_acknowledge_and_chart(fresh_db_url: str, tmp_path: Path) -> None:
    migrate_db(fresh_db_url)
    ward = seed_ward(fresh_db_url)
    elena = ward.patients["elena"]
    with running_api(settings_for(fresh_db_url)) as base, chromium() as browser:
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        # A Content-Security-Policy violation or a script error shows up here.
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        try:
            sign_in(page, base, CLINICIAN_EMAIL, PASSWORD)
            page.wait_for_selector("#live-status[data-state=on]")
            assert page.locator("li.alert-card", has_text="Elena Petrova").count() == 0
            # Marks this page load: it must survive the live update (no reload).
            page.evaluate("window.vigilTestMarker = 'same page'")

            with psycopg.connect(fresh_db_url) as conn:
                alert = insert_alert(conn, elena, rule_key="threshold:pulse_rate",
                                     severity="high", metric=Metric.PULSE_RATE, value=134.0,
                                     opened=ward.now, message="Pulse rate at or above 131 /min")
                conn.commit()

            card = page.locator(f"li.alert-card[data-alert-id='{alert}']")
            card.wait_for()
            assert page.evaluate("window.vigilTestMarker") == "same page"
            assert "is-new" in (card.get_attribute("class") or "")
            assert "134 /min" in card.inner_text() and "HIGH" in card.inner_text()
            # High alerts lead the queue.
            assert page.locator("li.alert-card").first.get_attribute("data-alert-id") in (
                str(alert), str(ward.alerts["margaret_spo2"]))
            assert "New high alert: Elena Petrova" in page.locator("#announcer").inner_text()
            page.screenshot(path=str(tmp_path / "queue-live.png"))

            card.locator("summary").click()
            card.get_by_label("Acknowledge — note (optional)").fill("Phoned: resting, recheck")
            card.get_by_role("button", name="Acknowledge").click()
            card = page.locator(f"li.alert-card[data-alert-id='{alert}']")
            card.locator(".st-acknowledged").wait_for()
            assert "Phoned: resting, recheck" in card.inner_text()
            assert "Dr Priya Shah" in card.inner_text()
            assert page.locator(".notice-ok").inner_text().startswith("Acknowledged")
            with psycopg.connect(fresh_db_url) as conn:
                row = conn.execute("SELECT state, acknowledged_note, acknowledged_by FROM alerts "
                                   "WHERE id = %s", (alert,)).fetchone()
            assert row == ("acknowledged", "Phoned: resting, recheck", ward.clinician)

            card.get_by_role("link", name="Elena Petrova").click()
            page.wait_for_url(f"{base}/ui/patients/{elena}")
            chart = page.locator("article.chart-card", has_text="Pulse rate")
            chart.locator("svg.chart").wait_for()
            assert chart.locator("svg.chart .ch-line").count() >= 1
            assert "Latest" in chart.inner_text()
            page.get_by_role("link", name="7 days").click()
            page.wait_for_url(f"{base}/ui/patients/{elena}?range=7d")
            assert page.locator("article.chart-card svg.chart").count() >= 2
            page.screenshot(path=str(tmp_path / "patient.png"), full_page=True)
            assert problems == [], "\n".join(problems)
        finally:
            context.close()
