-- The rest of each second's numbers (JSON of stats::snapshot::PointExtra: the other
-- percentiles and the run's running totals), for Locust's _stats_history.csv columns.
-- NULL in points written before this column existed: they read back as zeros.
ALTER TABLE run_points ADD COLUMN extra_json TEXT;
