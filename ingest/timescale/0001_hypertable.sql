-- readings becomes a hypertable partitioned on measured_at (TimescaleDB >= 2.13 interface).
-- The plain table has no unique index (the dedupe key lives in reading_ids), so nothing here
-- conflicts with "a unique index must include the partitioning column". migrate_data covers a
-- database that ran on plain PostgreSQL before the extension was installed.
-- Default indexes are off: readings_patient_metric_time_idx serves every query we make, and
-- each extra index is paid on every inserted row.
CREATE EXTENSION IF NOT EXISTS timescaledb;
SELECT create_hypertable(
    'readings',
    by_range('measured_at', INTERVAL '{chunk_interval}'),
    create_default_indexes => false,
    if_not_exists => true,
    migrate_data => true
);
