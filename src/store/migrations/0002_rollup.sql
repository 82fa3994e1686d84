-- Rollups of `calls` for reports over long ranges (see store::rollup and docs/performance.md):
-- the sums of report::metrics::Tally at the default thresholds τ = 5 s (short abandon) and
-- T = 100 s (service level), per UTC hour and queue, and per UTC day and breakdown dimensions.
-- America/Toronto's offsets are whole hours, so every local hour, day, week, month and season
-- edge is an hour edge; a local day is a run of `tally_hour` hours, and a report's breakdowns
-- read whole UTC days from `tally_dims` and the ragged ends of its range from `calls`.
--
-- A projection of `calls` (itself a projection of the events): the writer recomputes the
-- hours and days a batch touches in the same transaction, so a replay changes nothing. Calls
-- still in progress are left out (reports count ended calls only). Columns n … wu are the
-- query::tally_columns sums, by the same names.

CREATE TABLE IF NOT EXISTS tally_hour (
    -- start_ms / 3600000 (= slot15 / 4)
    hour BIGINT NOT NULL,
    queue TEXT,
    ivr_outcome TEXT NOT NULL,
    n BIGINT NOT NULL,
    o BIGINT,
    a BIGINT,
    ab BIGINT,
    sab BIGINT,
    aw BIGINT,
    wa BIGINT,
    mw BIGINT,
    tk BIGINT,
    wu BIGINT
);
CREATE INDEX IF NOT EXISTS tally_hour_key ON tally_hour (hour, queue, ivr_outcome);

CREATE TABLE IF NOT EXISTS tally_dims (
    -- start_ms / 86400000 (= slot15 / 96): the UTC day
    day BIGINT NOT NULL,
    queue TEXT,
    language TEXT,
    topic TEXT,
    agent TEXT,
    ivr_outcome TEXT NOT NULL,
    n BIGINT NOT NULL,
    o BIGINT,
    a BIGINT,
    ab BIGINT,
    sab BIGINT,
    aw BIGINT,
    wa BIGINT,
    mw BIGINT,
    tk BIGINT,
    wu BIGINT
);
-- The writer deletes and refills days.
CREATE INDEX IF NOT EXISTS tally_dims_day ON tally_dims (day);
-- Reports over long ranges scan this one whole (query::tally_by_dims): in GROUP BY order and
-- covering, so SQLite neither sorts nor visits rows (a year: 0.1 s instead of 0.4 s).
CREATE INDEX IF NOT EXISTS tally_dims_group ON tally_dims (
    queue, language, topic, agent, ivr_outcome, day, n, o, a, ab, sab, aw, wa, mw, tk, wu
);

-- Filled from the calls already logged by `store::rollup::backfill_if_missing` right after the
-- migrations (the same statements that keep them up, so they exist once, in Rust).
