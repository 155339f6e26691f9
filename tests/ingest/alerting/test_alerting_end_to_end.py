"""End to end: `vigil ingest` (the real consumer, wired with the alerting hook and the
in-process sweeper by default) over a real Mosquitto and PostgreSQL, with the API's live
stream channel listened to. Oracle: the reading ids published are acknowledged, the alert
row names the triggering reading, and a NOTIFY carries that alert's id."""

from __future__ import annotations

import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from alerting_helpers import alerts, pages, series, ward_of
from ingest_helpers import Fleet, GatewayClient, IngestProcess, wait_for

from devstack.mosquitto import MosquittoBroker
from vigil.metrics import Metric

CHANNEL = "vigil_alerts"  # api.stream.CHANNEL


def test_published_breach_raises_an_alert_and_notifies_the_live_stream(
    fleet: Fleet, own_broker: MosquittoBroker, tmp_path: Path
) -> None:
    ward = ward_of(fleet)
    gateway = GatewayClient(own_broker.url, [ward.gateway])
    process = IngestProcess(fleet.url, own_broker.url, f"ingest-{uuid.uuid4().hex[:8]}",
                            tmp_path / "ingest.log",
                            extra=("--sweep-interval-s", "0.5", "--session-expiry-s", "60"))
    with psycopg.connect(fleet.url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        process.start()
        try:
            start = datetime.now(UTC) - timedelta(seconds=5)
            readings = series(ward.device, Metric.SPO2, [84.0, 83.0, 84.0], start)
            ids = gateway.send(ward.gateway, readings)
            gateway.wait_acked(ids)
            # Acked only after the commit that also wrote the alert: it is there already.
            (alert,) = alerts(ward, "threshold:spo2")
            assert alert["severity"] == "high" and alert["trigger_id"] == readings[0].id
            assert [p["action"] for p in pages(ward, alert["id"])] == ["create"]
            notified: set[str] = set()
            deadline = datetime.now(UTC) + timedelta(seconds=20)
            while str(alert["id"]) not in notified and datetime.now(UTC) < deadline:
                notified |= {n.payload for n in listener.notifies(timeout=1.0)}
            assert str(alert["id"]) in notified

            # The sweeper runs inside the same process: the cuff never measured, so the
            # twice-daily blood pressure schedule is overdue since the enrolment, and the
            # gateway is in touch (it just delivered), so the patient did not measure.
            def not_measured() -> bool:
                found = alerts(ward, "missing:systolic_bp")
                return bool(found) and found[0]["cause"] == "patient_did_not_measure"

            wait_for(not_measured, 20, lambda: process.log.read_text()[-2000:])
        finally:
            if process.process is not None and process.process.poll() is None:
                process.process.send_signal(signal.SIGTERM)
                assert process.wait(30) == 0
            process.kill()
            gateway.close()
