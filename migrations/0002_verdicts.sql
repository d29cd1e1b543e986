-- Threshold verdicts of a finished run: JSON array of stats::thresholds::Verdict (NULL until the
-- run ends, and for runs recorded before thresholds were judged).
ALTER TABLE runs ADD COLUMN verdicts_json TEXT;
