-- A caller's recent calls (the agent desktop's screen pop): by number, newest first.
CREATE INDEX IF NOT EXISTS calls_caller ON calls (from_uri, start_ms);
