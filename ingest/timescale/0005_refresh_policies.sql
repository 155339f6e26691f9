-- Refresh windows reach {refresh_window} back so readings backfilled after an outage (delivered
-- late from a gateway's outbox) are folded into the trends; only invalidated buckets inside the
-- window are recomputed, so a long window is cheap. end_offset leaves the open bucket to the
-- real-time part of the view.
SELECT add_continuous_aggregate_policy('readings_hourly',
    start_offset => INTERVAL '{refresh_window}',
    end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '30 minutes',
    if_not_exists => true);
SELECT add_continuous_aggregate_policy('readings_daily',
    start_offset => INTERVAL '{refresh_window}',
    end_offset => INTERVAL '1 day',
    schedule_interval => INTERVAL '6 hours',
    if_not_exists => true);
