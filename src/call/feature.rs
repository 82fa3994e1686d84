//! Agents' feature codes, dialled from their registered softphone: *1 log in, *2 log out,
//! *3 pause, *4 resume, *5 end wrap-up now. The driver names the agent whose registered phone
//! dials (its digest registration vouches for who dials); the agent hears a short confirmation
//! and the call ends.

use tracing::info;

use super::{Call, CALLER, FEATURE_DONE};
use crate::acd::Input;

impl Call {
    pub(super) fn feature_code(&mut self, code: &str) {
        let agent = self.agent_phone.clone();
        let (input, prompt) = match (agent.clone(), code) {
            (Some(agent), "*1") => (Some(Input::AgentLogin { agent }), "agent_login"),
            (Some(agent), "*2") => (Some(Input::AgentLogout { agent }), "agent_logout"),
            (Some(agent), "*3") => (
                Some(Input::AgentPause {
                    agent,
                    reason: "break".into(),
                }),
                "agent_pause",
            ),
            (Some(agent), "*4") => (Some(Input::AgentResume { agent }), "agent_resume"),
            (Some(agent), "*5") => (Some(Input::WrapupDone { agent }), "agent_wrapup_done"),
            _ => (None, "feature_unknown"),
        };
        info!(?agent, code, "feature code");
        if let Some(i) = input {
            self.acd_input(i);
        }
        self.say(CALLER, &[prompt], FEATURE_DONE, false);
    }
}
