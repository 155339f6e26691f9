-- Readings, their dedupe key, dead letters and device events.

-- The metric catalogue as reference data (number -> code, UCUM unit, LOINC). `vigil db migrate`
-- upserts it from vigil.metrics.CATALOGUE after every run, so the table cannot drift from the
-- contract. Readings carry only the 2-byte number; the unit is the catalogue's one unit for
-- that metric (the wire contract rejects any other unit), so it is not repeated on every row.
CREATE TABLE metrics (
    number        smallint PRIMARY KEY,
    code          text NOT NULL UNIQUE,
    display       text NOT NULL,
    ucum          text NOT NULL,
    loinc         text NOT NULL,
    mdc_code      integer NOT NULL,
    plausible_min double precision NOT NULL,
    plausible_max double precision NOT NULL,
    decimals      smallint NOT NULL
);

-- Dedupe key: one row per reading id ever stored.
--
-- Why a separate table rather than a unique key on readings: with TimescaleDB, a unique index
-- on a hypertable must include the partitioning column (measured_at), so the only unique key
-- possible there is (reading_id, measured_at). That is not the natural key: the id derives
-- from the *device's* clock reading (device_time) when there is one, while measured_at is the
-- gateway's corrected estimate and may differ between two deliveries of the same record (a
-- gateway re-fetching stored records after a clock re-sync). A (reading_id, measured_at) key
-- would then store the same reading twice and could page twice. This plain table enforces the
-- real key, reading_id alone, on PostgreSQL and TimescaleDB alike; the writer inserts here
-- first (ON CONFLICT DO NOTHING RETURNING) and copies only the new readings into `readings`.
-- measured_at is kept to find the reading in the hypertable and to prune with retention.
CREATE TABLE reading_ids (
    reading_id  uuid PRIMARY KEY,
    measured_at timestamptz NOT NULL
);

-- One row per stored reading. No foreign keys on purpose: patient_id and device_id come from
-- the enrolment read in the same transaction, and per-row FK checks would cost a lookup on
-- every row of the hottest table. Becomes a hypertable on measured_at with TimescaleDB.
CREATE TABLE readings (
    measured_at  timestamptz NOT NULL,           -- best estimate, UTC (gateway-corrected)
    received_at  timestamptz NOT NULL,           -- receipt at the gateway
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    patient_id   integer NOT NULL,
    device_id    integer NOT NULL,
    metric       smallint NOT NULL,              -- vigil.metrics MetricSpec.number
    value        double precision NOT NULL,
    quality      text[] NOT NULL DEFAULT '{}',   -- vigil.quality.QualityFlag values
    origin       text NOT NULL CHECK (origin IN ('live', 'stored', 'late')),
    reading_id   uuid NOT NULL,                  -- unique via reading_ids
    sequence     bigint,                         -- device record sequence number, if any
    device_time  timestamp                       -- the device's own clock reading, if any
);
-- Trends, latest values and alert look-back are all "this patient, this metric, by time".
-- INCLUDE (value): trend queries and the alert rules' look-backs read only time and value, so
-- they are answered from the index alone (bench/api.py: 30-day trend p50 ~550 ms -> ~45 ms).
CREATE INDEX readings_patient_metric_time_idx ON readings (patient_id, metric, measured_at DESC)
    INCLUDE (value);

-- Nothing is dropped silently (ARCHITECTURE.md decision 5): whatever ingest rejects is kept
-- here with its raw bytes. A whole message, or one reading's own JSON from inside a batch.
CREATE TABLE dead_letters (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at   timestamptz NOT NULL DEFAULT now(),
    topic         text NOT NULL,
    gateway_id    text,
    reason        text NOT NULL CHECK (reason IN (
                      'oversized', 'bad_topic', 'malformed_json', 'schema_violation',
                      'payload_gateway_mismatch', 'unknown_gateway', 'unknown_device',
                      'not_enrolled', 'enrolled_to_other_patient', 'implausible_value',
                      'future_timestamp', 'storage_error')),
    detail        text,
    reading_id    uuid,
    payload       bytea NOT NULL,     -- raw bytes as received (capped, see payload_size)
    payload_size  integer NOT NULL    -- size of the original bytes
);
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at);
CREATE INDEX dead_letters_reason_idx ON dead_letters (reason, received_at);

CREATE TABLE device_events (
    event_id        uuid PRIMARY KEY,              -- from the gateway; redelivery is ignored
    gateway_id      text NOT NULL REFERENCES gateways (id),
    device_address  text,
    device_id       integer REFERENCES devices (id),  -- NULL when not (yet) registered
    event           text NOT NULL,
    at              timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    battery_level   smallint,
    count           integer,
    detail          text,
    raw_hex         text
);
CREATE INDEX device_events_gateway_idx ON device_events (gateway_id, at DESC);
CREATE INDEX device_events_device_idx ON device_events (device_id, at DESC);

-- With a retention policy on readings (TimescaleDB), the dedupe keys of dropped readings can
-- go too; the scheduled job calls this. Keep `older_than` longer than any gateway's resend
-- horizon, or a very late resend would be stored again.
CREATE FUNCTION vigil_prune_reading_ids(older_than interval) RETURNS bigint
LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM reading_ids WHERE measured_at < now() - older_than RETURNING 1
    )
    SELECT count(*) FROM gone
$$;
