-- Native compression: segment by the narrow query key so "this patient, this metric" reads one
-- segment; order by time descending like the index. Chunks older than {compress_after} are
-- compressed by the policy job; late backfill into them still works (inserts into compressed
-- chunks are supported in TimescaleDB 2.x).
ALTER TABLE readings SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'patient_id, metric',
    timescaledb.compress_orderby = 'measured_at DESC'
);
SELECT add_compression_policy('readings', compress_after => INTERVAL '{compress_after}',
                              if_not_exists => true);
