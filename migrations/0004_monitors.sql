-- A run's monitor series (the target's own metrics read beside it, see src/monitor/): each
-- series once, with its unit, kind and the warm-up and window its growth is judged with,
-- then its reads on the run's elapsed axis (milliseconds since the run's start).
CREATE TABLE run_monitor_series (
    run_id    TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    series    TEXT    NOT NULL,
    unit      TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    position  INTEGER NOT NULL,
    warmup_ms INTEGER NOT NULL,
    window_ms INTEGER NOT NULL,
    PRIMARY KEY (run_id, series)
);

CREATE TABLE run_monitor_points (
    run_id TEXT    NOT NULL,
    series TEXT    NOT NULL,
    t_ms   INTEGER NOT NULL,
    value  REAL    NOT NULL,
    PRIMARY KEY (run_id, series, t_ms),
    FOREIGN KEY (run_id, series) REFERENCES run_monitor_series (run_id, series) ON DELETE CASCADE
);
