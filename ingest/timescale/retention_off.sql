SELECT remove_retention_policy('readings', if_exists => true);
SELECT delete_job(job_id) FROM timescaledb_information.jobs
WHERE proc_name = 'vigil_prune_reading_ids_job';
