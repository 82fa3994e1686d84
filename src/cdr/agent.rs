//! Agent states as staffing classes: logged out, paused, or ready for (or busy with) calls,
//! from the free-form state names the ACD logs, and the exact state names the store's SQL
//! filters on (which `classify` must agree with; a test holds them together).
//!
//! Owns: the classification and both state lists. Never does: I/O, SQL, or time arithmetic
//! (staffed time is `report::metrics::agent_time`).

/// The three kinds of agent state that matter for staffing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateClass {
    LoggedOut,
    Paused,
    /// Available, reserved, ringing, on a call, in wrap-up: ready for or busy with calls.
    Ready,
}

/// Classify an ACD state name (case, `-`, `_` and spaces ignored).
pub fn classify(state: &str) -> StateClass {
    let s: String = state
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    match s.as_str() {
        "loggedout" | "logout" | "offline" | "off" => StateClass::LoggedOut,
        _ if s.starts_with("pause")
            || s.starts_with("break")
            || s.starts_with("lunch")
            || s.starts_with("notready")
            || s.starts_with("away") =>
        {
            StateClass::Paused
        }
        _ => StateClass::Ready,
    }
}

/// States that only follow a ready state (an agent is offered calls only when available), so
/// the report need not read them to know staffed and paused time.
pub const CALL_DRIVEN_STATES: [&str; 9] = [
    "reserved", "ringing", "on_call", "on-call", "oncall", "busy", "talking", "wrap_up", "wrapup",
];

/// State names that end or suspend a shift (the SQL needs exact names; `metrics::classify`
/// must put each in `LoggedOut` or `Paused`).
pub const STAFFING_STATES: [&str; 10] = [
    "logged_out",
    "logout",
    "offline",
    "off",
    "paused",
    "pause",
    "break",
    "lunch",
    "not_ready",
    "away",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_states() {
        assert_eq!(classify("logged_out"), StateClass::LoggedOut);
        assert_eq!(classify("Logged Out"), StateClass::LoggedOut);
        assert_eq!(classify("paused"), StateClass::Paused);
        assert_eq!(classify("break"), StateClass::Paused);
        assert_eq!(classify("wrap-up"), StateClass::Ready);
        assert_eq!(classify("available"), StateClass::Ready);
        for s in CALL_DRIVEN_STATES {
            assert_eq!(classify(s), StateClass::Ready, "{s}");
        }
        for s in STAFFING_STATES {
            assert_ne!(classify(s), StateClass::Ready, "{s}");
        }
    }
}
