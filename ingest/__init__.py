"""Ingest: MQTT consumer, validation, batch writer, schema migrations, dead letters.

Find a behaviour by its noun:
- `consumer`   MQTT session (paho, QoS 1, manual ack), decode and write threads, acks
- `decoding`   (topic, payload) -> typed message or typed rejection; pure
- `writer`     the one writer of readings: enrolment trust check, COPY, dedupe, InsertHook
- `reasons`    the dead-letter vocabulary
- `alerting`   alert rules evaluated in the write transaction (an InsertHook), the sweeper
- `migrate`    ordered SQL migrations (`migrations/NNNN_*.sql`) under an advisory lock
- `timescale`  TimescaleDB hypertable, compression, retention, continuous aggregates, job health
- `rollups`    hourly/daily trend SQL (continuous aggregate or query time)
- `registry`   seeding organisations, teams, users, patients, gateways, devices, enrolments
- `nhs`        NHS number check digit
- `settings`   VIGIL_* settings and the MQTT URL; `telemetry` metrics, health, JSON logs
- `cli`, `db_cli`  `vigil ingest` and `vigil db migrate|status`
"""
