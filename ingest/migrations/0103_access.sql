-- Who may see which patient, sign-in throttling and gateway broker credentials (owned by the
-- API).

-- THE authorisation rule for patient data, in one place: a clinician sees the patients of
-- the care teams they belong to; an administrator sees the patients of their organisation.
-- Inactive users see nothing. Every patient-scoped query of the API filters through this view
-- (api.scope), and the live stream uses it to route alert changes.
CREATE VIEW patient_access (patient_id, user_id) AS
    SELECT pt.patient_id, tm.user_id
    FROM patient_teams pt
    JOIN team_members tm ON tm.team_id = pt.team_id
    JOIN users u ON u.id = tm.user_id AND u.active AND u.role = 'clinician'
    -- The branches are disjoint by role, and a patient shared by two of a clinician's teams
    -- appears twice, which IN (...) does not mind: no de-duplication cost.
    UNION ALL
    SELECT p.id, u.id
    FROM patients p
    JOIN users u ON u.organisation_id = p.organisation_id AND u.active AND u.role = 'admin';

-- Sign-in attempts, for throttling by username and by client address across API replicas.
-- Not an audit record (successful sign-ins are audited); old rows may be pruned.
CREATE TABLE login_attempts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    username   text NOT NULL,        -- as typed, lower-cased (may name no user)
    client_ip  text NOT NULL,
    success    boolean NOT NULL
);
CREATE INDEX login_attempts_username_idx ON login_attempts (username, at);
CREATE INDEX login_attempts_ip_idx ON login_attempts (client_ip, at);

-- A gateway's MQTT password, stored only as the broker's own hash (Mosquitto $7$ PBKDF2-SHA512)
-- so the broker's password file can be rebuilt from here. The plain password is shown once.
CREATE TABLE gateway_credentials (
    gateway_id     text PRIMARY KEY REFERENCES gateways (id),
    username       text NOT NULL UNIQUE,            -- = gateway id (the ACL pins %u)
    password_hash  text NOT NULL CHECK (password_hash LIKE '$7$%'),
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     integer REFERENCES users (id),
    rotated_at     timestamptz,
    revoked_at     timestamptz
);
