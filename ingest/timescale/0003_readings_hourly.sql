-- vigil:no-transaction
-- Hourly trend per patient and metric. Real-time (materialized_only = false): buckets newer
-- than the last refresh are computed from raw rows at query time, so a trend is never stale.
-- WITH NO DATA: the refresh policy fills it in the background instead of blocking migrate.
CREATE MATERIALIZED VIEW IF NOT EXISTS readings_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT patient_id,
       metric,
       time_bucket(INTERVAL '1 hour', measured_at) AS bucket,
       min(value) AS min_value,
       max(value) AS max_value,
       avg(value) AS mean_value,
       count(*) AS n
FROM readings
GROUP BY patient_id, metric, time_bucket(INTERVAL '1 hour', measured_at)
WITH NO DATA;
