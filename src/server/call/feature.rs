//! Agents' feature codes, dialled from their registered softphone: *1 log in, *2 log out,
//! *3 pause, *4 resume, *5 end wrap-up now. A code is accepted only from the address a phone
//! registered from (its digest registration vouches for who dials); the agent hears a short
//! confirmation and the call ends.

use tracing::info;

use super::Call;
use crate::acd::Input;
use crate::server::Ctx;
use crate::sip::flow::Flow;

/// Token of the confirmation playlist; its end hangs up.
pub const FEATURE_DONE: u64 = u64::MAX - 10;

pub fn is_agent_phone(ctx: &Ctx, flow: Flow) -> bool {
    agent_at(ctx, flow).is_some()
}

fn agent_at(ctx: &Ctx, flow: Flow) -> Option<String> {
    ctx.registrar.as_ref()?.agent_at(flow.remote)
}

impl Call {
    pub(super) fn feature_code(&mut self, code: &str) {
        let agent = agent_at(&self.ctx, self.flow);
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
            self.acd(i);
        }
        self.feature_done = Some(FEATURE_DONE);
        self.say(&[prompt.to_string()], FEATURE_DONE, false);
    }
}
