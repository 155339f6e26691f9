-- What the alert engine needs beyond the alert tables (owned by ingest.alerting).

-- Pages: the decision to notify someone, written by the rule engine in the same transaction
-- as the alert change that caused it (create, raise, live confirmation, snooze expiry,
-- escalation). A page is never sent for late (backfilled) evidence, so such changes have no
-- row here. Whatever delivers pages (SMS, on-call app) takes undelivered rows in id order and
-- sets delivered_at; the rows are the durable record that a page was due.
CREATE TABLE alert_pages (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id          bigint NOT NULL REFERENCES alerts (id),
    patient_id        integer NOT NULL,
    at                timestamptz NOT NULL,       -- the engine's decision time
    action            text NOT NULL,              -- vigil.rules.Action value
    severity          text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    escalation_level  smallint NOT NULL DEFAULT 0 CHECK (escalation_level >= 0),
    reason            text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz
);
CREATE INDEX alert_pages_alert_idx ON alert_pages (alert_id, id);
CREATE INDEX alert_pages_undelivered_idx ON alert_pages (id) WHERE delivered_at IS NULL;

-- NEWS2 inputs that no device measures: level of consciousness (ACVPU) and oxygen use,
-- recorded by a clinician or the patient. Append-only in practice: the latest row with a
-- value wins. A consciousness record counts only while fresh (the NEWS2 rule's window) --
-- without one a NEWS2 set is incomplete and scores only what cannot be missed (see
-- vigil.rules.news2_rule). Oxygen use is a standing fact (home oxygen) and has no age limit.
CREATE TABLE news2_context (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id     integer NOT NULL REFERENCES patients (id),
    recorded_at    timestamptz NOT NULL,
    consciousness  text CHECK (consciousness IN ('A', 'C', 'V', 'P', 'U')),
    on_oxygen      boolean,
    recorded_by    integer REFERENCES users (id),   -- NULL: recorded by the patient or a system
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (consciousness IS NOT NULL OR on_oxygen IS NOT NULL)
);
CREATE INDEX news2_context_patient_idx ON news2_context (patient_id, recorded_at DESC);
