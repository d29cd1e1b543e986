-- Per-second HDR histograms of a run (V2 + deflate), written each second while it runs: the
-- aggregate's (method '', name 'Aggregated') for every second, each statistics row's for the
-- seconds it had samples in. Merging the seconds of any window adds them bucket by bucket, so a
-- window's, a stage's or a comparison's percentiles are exact. start_s is the run's second
-- [start_s, start_s + 1) (the n-th closed interval), secs its real length (the last is short).
-- min/max/sum/saturated are the exact numbers the V2 format has no room for; the corrected
-- (coordinated-omission) twin is there once the row has one.
CREATE TABLE run_seconds (
    run_id          TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    start_s         INTEGER NOT NULL,
    method          TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    secs            REAL    NOT NULL,
    requests        INTEGER NOT NULL,
    failures        INTEGER NOT NULL,
    histogram       BLOB    NOT NULL,
    min_us          INTEGER NOT NULL,
    max_us          INTEGER NOT NULL,
    sum_us          INTEGER NOT NULL,
    saturated       INTEGER NOT NULL,
    corrected       BLOB,
    corrected_min_us    INTEGER,
    corrected_max_us    INTEGER,
    corrected_sum_us    INTEGER,
    corrected_saturated INTEGER,
    PRIMARY KEY (run_id, start_s, method, name)
) WITHOUT ROWID;
