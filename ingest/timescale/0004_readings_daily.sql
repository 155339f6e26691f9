-- vigil:no-transaction
-- Daily trend per patient and metric (UTC days, like time_bucket's default origin).
CREATE MATERIALIZED VIEW IF NOT EXISTS readings_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT patient_id,
       metric,
       time_bucket(INTERVAL '1 day', measured_at) AS bucket,
       min(value) AS min_value,
       max(value) AS max_value,
       avg(value) AS mean_value,
       count(*) AS n
FROM readings
GROUP BY patient_id, metric, time_bucket(INTERVAL '1 day', measured_at)
WITH NO DATA;
