-- The audit log: append-only and tamper-evident (owned by the API).
--
-- Each row carries the hash of the row before it: hash = sha256(prev_hash || content), where
-- content is a canonical JSON text of the row's fields (vigil_audit_content). A BEFORE INSERT
-- trigger assigns seq, at, prev_hash and hash under a transaction-scoped advisory lock, so
-- whatever a writer supplies for those is overwritten and the chain has no forks or gaps.
-- UPDATE, DELETE and TRUNCATE are refused by triggers. Someone able to bypass triggers (a
-- superuser with session_replication_role = replica) can still edit rows, but not without
-- vigil_audit_verify() noticing; truncating the tail is detectable only against a head hash
-- recorded elsewhere, which the verify endpoint reports for exactly that purpose.
-- Write audit rows in READ COMMITTED transactions (the default): the trigger must see the
-- previous writer's committed row after taking the lock.

CREATE TABLE audit_log (
    seq          bigint PRIMARY KEY,
    at           timestamptz NOT NULL,
    actor_id     integer REFERENCES users (id),   -- NULL: the system
    action       text NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
    entity_type  text NOT NULL CHECK (length(entity_type) BETWEEN 1 AND 64),
    entity_id    text,
    patient_id   integer REFERENCES patients (id),
    client_ip    text,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb,
    prev_hash    bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash         bytea NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX audit_log_patient_idx ON audit_log (patient_id, seq) WHERE patient_id IS NOT NULL;
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, seq);

-- The canonical bytes a row's hash covers. jsonb renders deterministically, and the time is
-- formatted in UTC explicitly so the session's TimeZone cannot change the bytes.
CREATE FUNCTION vigil_audit_content(
    seq bigint, at timestamptz, actor_id integer, action text, entity_type text,
    entity_id text, patient_id integer, client_ip text, details jsonb
) RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT convert_to(jsonb_build_array(
        seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), actor_id,
        action, entity_type, entity_id, patient_id, client_ip, details)::text, 'UTF8')
$$;

CREATE FUNCTION vigil_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_seq  bigint;
    last_hash bytea;
BEGIN
    -- One writer at a time: the key is the bytes "vigilaud".
    PERFORM pg_advisory_xact_lock(8532464671517668708);
    SELECT a.seq, a.hash INTO last_seq, last_hash FROM audit_log a ORDER BY a.seq DESC LIMIT 1;
    NEW.seq := coalesce(last_seq, 0) + 1;
    NEW.at := clock_timestamp();
    NEW.prev_hash := coalesce(last_hash, decode(repeat('00', 32), 'hex'));
    NEW.hash := sha256(NEW.prev_hash || vigil_audit_content(
        NEW.seq, NEW.at, NEW.actor_id, NEW.action, NEW.entity_type, NEW.entity_id,
        NEW.patient_id, NEW.client_ip, NEW.details));
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION vigil_audit_chain();
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION vigil_forbid_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION vigil_forbid_change();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

-- The single writer API callers use (the trigger fills in the chain fields).
CREATE FUNCTION vigil_audit_append(
    p_actor_id integer, p_action text, p_entity_type text, p_entity_id text,
    p_patient_id integer, p_client_ip text, p_details jsonb
) RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO audit_log (seq, at, actor_id, action, entity_type, entity_id, patient_id,
                           client_ip, details, prev_hash, hash)
    VALUES (0, now(), p_actor_id, p_action, p_entity_type, p_entity_id, p_patient_id,
            p_client_ip, coalesce(p_details, '{}'::jsonb), '\x', '\x')
    RETURNING seq
$$;

-- Recompute the chain: the first row whose sequence, link or hash is wrong, if any, and the
-- head (last seq and its hash) to record elsewhere as an anchor.
CREATE FUNCTION vigil_audit_verify(
    OUT rows_checked bigint, OUT first_bad_seq bigint, OUT problem text,
    OUT head_seq bigint, OUT head_hash text
) LANGUAGE sql STABLE AS $$
    WITH chain AS (
        SELECT a.seq, a.hash, a.prev_hash,
               lag(a.seq) OVER w AS before_seq,
               lag(a.hash) OVER w AS before_hash,
               sha256(a.prev_hash || vigil_audit_content(
                   a.seq, a.at, a.actor_id, a.action, a.entity_type, a.entity_id,
                   a.patient_id, a.client_ip, a.details)) AS recomputed
        FROM audit_log a
        WINDOW w AS (ORDER BY a.seq)
    ), judged AS (
        SELECT seq, hash, CASE
            WHEN seq <> coalesce(before_seq, 0) + 1 THEN 'sequence gap before this row'
            WHEN prev_hash <> coalesce(before_hash, decode(repeat('00', 32), 'hex'))
                THEN 'prev_hash does not match the previous row''s hash'
            WHEN hash <> recomputed THEN 'row content does not match its hash'
        END AS problem
        FROM chain
    )
    SELECT (SELECT count(*) FROM judged),
           bad.seq, bad.problem,
           (SELECT max(seq) FROM judged),
           (SELECT encode(hash, 'hex') FROM judged ORDER BY seq DESC LIMIT 1)
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
        SELECT seq, problem FROM judged WHERE problem IS NOT NULL ORDER BY seq LIMIT 1
    ) AS bad ON true
$$;
