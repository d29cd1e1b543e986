-- Run history. Never edit this file once released: add 0002_... instead (sqlx checks checksums).
-- Times are milliseconds since the Unix epoch; JSON columns hold serde forms of store::model types.

CREATE TABLE runs (
    id            TEXT    PRIMARY KEY NOT NULL,
    plan_name     TEXT    NOT NULL,
    plan_hash     TEXT    NOT NULL,
    plan_file     TEXT,
    plan_source   TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    settings_json TEXT    NOT NULL,
    ratio_json    TEXT    NOT NULL,
    -- the instance id of the server process that runs it; with heartbeat_ms it tells a live run
    -- of another process from one whose process died
    owner         TEXT    NOT NULL,
    started_at_ms INTEGER NOT NULL,
    ended_at_ms   INTEGER,
    heartbeat_ms  INTEGER NOT NULL,
    summary_json  TEXT
);

-- the history list: newest first, keyset-paginated on (started_at_ms, id)
CREATE INDEX runs_started ON runs (started_at_ms, id);
CREATE INDEX runs_plan ON runs (plan_name, started_at_ms, id);
-- orphan sweep at startup looks only at unfinished runs
CREATE INDEX runs_state ON runs (state);

-- one aggregate point per closed second
CREATE TABLE run_points (
    run_id     TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    t_s        INTEGER NOT NULL,
    users      INTEGER NOT NULL,
    rps        REAL    NOT NULL,
    fail_per_s REAL    NOT NULL,
    p50_ms     REAL    NOT NULL,
    p95_ms     REAL    NOT NULL,
    PRIMARY KEY (run_id, t_s)
) WITHOUT ROWID;

-- the last saved statistics rows (replaced as a whole on every save); is_total marks the
-- Aggregated row so that a request really named "Aggregated" cannot collide with it
CREATE TABLE run_stats (
    run_id   TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    is_total INTEGER NOT NULL CHECK (is_total IN (0, 1)),
    method   TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    ord      INTEGER NOT NULL,
    row_json TEXT    NOT NULL,
    PRIMARY KEY (run_id, is_total, method, name)
);

CREATE TABLE run_failures (
    run_id      TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    ord         INTEGER NOT NULL,
    method      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    error       TEXT    NOT NULL,
    occurrences INTEGER NOT NULL,
    PRIMARY KEY (run_id, ord)
);

-- HDR histograms, V2 + deflate; corrected is the coordinated-omission twin when one exists.
-- The exact min/max/sum/saturated (JSON of stats::histogram::ExactStats) ride beside each blob
-- because the V2 format only holds buckets.
CREATE TABLE run_histograms (
    run_id               TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    method               TEXT NOT NULL,
    name                 TEXT NOT NULL,
    histogram            BLOB NOT NULL,
    exact_json           TEXT NOT NULL,
    corrected            BLOB,
    corrected_exact_json TEXT,
    PRIMARY KEY (run_id, method, name)
);
