"""Screenshots of the dashboard's main pages with a seeded virtual ward, for docs/screenshots.

    .venv/bin/python tests/web/screenshots.py [OUT_DIR]

Starts its own PostgreSQL (devstack), migrates and seeds it, serves the API app on 127.0.0.1
and drives Debian's Chromium at 1280x800. Not a test: run it when the pages change.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(HERE)]

from browser import VIEWPORT, chromium, running_api, sign_in  # noqa: E402
from web_seed import CLINICIAN_EMAIL, PASSWORD, migrate_db, seed_ward, settings_for  # noqa: E402

from devstack.postgres import PostgresServer  # noqa: E402


def live(page: Any) -> None:
    """Wait until the page's live stream is connected, as a clinician would see it."""
    page.wait_for_selector("#live-status[data-state=on]")


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = PostgresServer(Path(tmp) / "pgdata")
        server.start()
        try:
            migrate_db(server.url)
            ward = seed_ward(server.url)
            with running_api(settings_for(server.url)) as base, chromium() as browser:
                page = browser.new_page(viewport=VIEWPORT)
                page.on("console", lambda m: print("console:", m.type, m.text))
                page.on("pageerror", lambda e: print("page error:", e))
                page.goto(f"{base}/ui/login")
                page.get_by_label("Email address").fill(CLINICIAN_EMAIL)
                page.screenshot(path=str(out / "login.png"))
                sign_in(page, base, CLINICIAN_EMAIL, PASSWORD)
                live(page)
                page.locator("details.ac-actions").first.locator("summary").click()
                page.screenshot(path=str(out / "alert-queue.png"))
                page.goto(f"{base}/ui/patients")
                live(page)
                page.screenshot(path=str(out / "patient-list.png"))
                margaret = ward.patients["margaret"]
                page.goto(f"{base}/ui/patients/{margaret}?range=24h")
                live(page)
                page.screenshot(path=str(out / "patient-page.png"))
                page.screenshot(path=str(out / "patient-page-full.png"), full_page=True)
                page.goto(f"{base}/ui/patients/{ward.patients['elena']}?range=30d")
                page.screenshot(path=str(out / "patient-page-30d.png"), full_page=True)
                page.goto(f"{base}/ui/patients/{margaret}/rules")
                live(page)
                page.screenshot(path=str(out / "rules-editor.png"))
                page.close()
        finally:
            server.stop()
    for path in sorted(out.glob("*.png")):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else
                          REPO / "docs" / "screenshots"))
