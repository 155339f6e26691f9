-- Keep the visibility map of `readings` current, so trend and look-back queries stay
-- index-only.
--
-- readings is insert-only. An index-only scan must still visit the heap for every row on a page
-- that VACUUM has not yet marked all-visible, and ingest writes time-major, so one patient's rows
-- sit one to a heap page: each such row is a random heap read. Autovacuum's default insert
-- trigger is 1,000 rows + 20 % of the table, which on a 43 M-row table (1,000 patients, 30 days
-- at one reading a minute) means up to 8.6 M rows, six days, not yet all-visible: up to 8,640
-- heap reads in every 30-day trend. Measured (bench/api.py data, visibility map cleared):
-- 43,200 heap fetches took a 30-day trend from 12-18 ms to 200-400 ms warm and ~1.1 s cold.
--
-- A fixed trigger of 10,000 inserted rows (scale factor 0) bounds the unvacuumed tail to
-- 10,000 rows whatever the table's size (ten minutes at 1,000 patients, ten heap reads per
-- patient). Insert-triggered vacuums are cheap: they visit only pages not yet all-visible and,
-- with no dead rows, skip the index pass; autovacuum's naptime (1 min) caps how often they run
-- at high ingest rates, and every page must be vacuumed once anyway (freezing).
--
-- With TimescaleDB, storage parameters set on the hypertable propagate to its chunks, existing
-- and new. Setting autovacuum parameters takes only a SHARE UPDATE EXCLUSIVE lock: ingest and
-- queries carry on while it applies.
ALTER TABLE readings SET (
    autovacuum_vacuum_insert_threshold = 10000,
    autovacuum_vacuum_insert_scale_factor = 0
);
