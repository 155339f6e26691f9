-- Retention (off by default for clinical data). Applied by `vigil db migrate --retention X`;
-- `--retention off` removes it. drop_after must exceed the aggregates' refresh window, or a
-- refresh would recompute buckets over dropped raw data and erase the trend.
SELECT remove_retention_policy('readings', if_exists => true);
SELECT add_retention_policy('readings', drop_after => INTERVAL '{drop_after}');
-- The dedupe keys of dropped readings go with them, on the same horizon.
CREATE OR REPLACE PROCEDURE vigil_prune_reading_ids_job(job_id integer, config jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vigil_prune_reading_ids((config ->> 'older_than')::interval);
END
$$;
SELECT delete_job(job_id) FROM timescaledb_information.jobs
WHERE proc_name = 'vigil_prune_reading_ids_job';
SELECT add_job('vigil_prune_reading_ids_job', INTERVAL '1 day',
               config => jsonb_build_object('older_than', '{drop_after}'));
