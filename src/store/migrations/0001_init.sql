-- centrale call log, portable between SQLite (>= 3.24) and PostgreSQL (>= 11):
-- BIGINT and TEXT only, no serial/autoincrement, times in UTC epoch milliseconds,
-- flags as 0/1 BIGINT. Events are the source of truth; `calls` is their projection
-- (report::cdr::summarize) and can be rebuilt from them at any time.

-- Every step of every call: the idempotency key is (call_id, seq).
CREATE TABLE IF NOT EXISTS call_events (
    call_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    -- The full event::EventKind as JSON (with its "type" tag).
    data TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);

-- Agent state changes; a repeat of the same change at the same millisecond is the same row.
CREATE TABLE IF NOT EXISTS agent_events (
    agent TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    PRIMARY KEY (agent, at_ms, state)
);

-- One row per call (see report::cdr::CallRow for every column's meaning).
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT NOT NULL PRIMARY KEY,
    sip_call_id TEXT,
    from_uri TEXT,
    to_uri TEXT,
    entry TEXT,
    plan_version TEXT,
    start_ms BIGINT NOT NULL,
    answer_ms BIGINT,
    end_ms BIGINT,
    language TEXT,
    menu_path TEXT,
    outcome TEXT NOT NULL,
    ivr_outcome TEXT NOT NULL,
    queue TEXT,
    topic TEXT,
    agent TEXT,
    queued_ms BIGINT,
    agent_answer_ms BIGINT,
    offered BIGINT NOT NULL,
    answered BIGINT NOT NULL,
    abandoned BIGINT NOT NULL,
    callback BIGINT NOT NULL,
    wait_ms BIGINT,
    talk_ms BIGINT,
    wrapup_ms BIGINT,
    ring_no_answer BIGINT NOT NULL,
    redirect_target TEXT,
    hangup_side TEXT,
    hangup_cause TEXT,
    last_ms BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    -- start_ms / 900000: the 15-minute slot the call starts in. America/Toronto's offsets are
    -- whole hours, so every local 15-min, hour, day, week, month and season edge is a slot
    -- edge; reports group by this real column (planners estimate it, indexes stream it).
    slot15 BIGINT NOT NULL
);

-- Reports read a time range of calls grouped by 15-minute slot (or by queue, language, topic
-- and agent). Each of these indexes holds every column a report reads, so whichever one the
-- planner picks, no wide row is visited (measured in docs/performance.md).
CREATE INDEX IF NOT EXISTS calls_report ON calls (
    slot15, ivr_outcome, start_ms, offered, answered, abandoned, wait_ms, talk_ms, wrapup_ms,
    queue, language, topic, agent
);
CREATE INDEX IF NOT EXISTS calls_queue_report ON calls (
    queue, slot15, ivr_outcome, start_ms, offered, answered, abandoned, wait_ms, talk_ms,
    wrapup_ms, language, topic, agent
);
-- Breakdowns: in this order SQLite skip-scans the few (queue, language, topic, agent, IVR
-- bucket) prefixes for the slot range and needs no sort.
CREATE INDEX IF NOT EXISTS calls_dims ON calls (
    queue, language, topic, agent, ivr_outcome, slot15, start_ms, offered, answered, abandoned,
    wait_ms, talk_ms, wrapup_ms
);
-- Start-up recovery looks for calls that never ended.
CREATE INDEX IF NOT EXISTS calls_open ON calls (end_ms);
-- Staffed time reads only log-outs and pauses (a few per agent and day) by state and time;
-- the primary key (agent, at_ms, …) finds the change that follows each.
CREATE INDEX IF NOT EXISTS agent_events_state ON agent_events (state, at_ms);
