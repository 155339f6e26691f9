-- Per-patient rule configuration and rule evaluation state (owned by the API).
--
-- A patient's rules are vigil.rules.ruleset_for(condition, overrides): the condition's
-- defaults with the patient's overrides (a JSON Merge Patch) applied. The override is stored,
-- not the merged result, so improved defaults reach every patient. Patients without a row use
-- the general_adult defaults. Every change is in audit_log with the before and after.

CREATE TABLE rule_settings (
    patient_id  integer PRIMARY KEY REFERENCES patients (id),
    condition   text NOT NULL
                CHECK (condition IN ('general_adult', 'copd', 'heart_failure', 'hypertension')),
    overrides   jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(overrides) = 'object'),
    -- Bumped on every change; lets a client update with If-Match and never lose a colleague's
    -- edit made in between.
    version     integer NOT NULL DEFAULT 1,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  integer REFERENCES users (id)
);

-- vigil.rules.RuleState (JSON) per patient: what threshold rules must remember between
-- readings (breach runs, raised bands). Written by ingest and the sweeper only.
CREATE TABLE rule_state (
    patient_id  integer PRIMARY KEY REFERENCES patients (id),
    state       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
