//! The ACD: queues callers and hands each to the best free agent by skill, proficiency, idle
//! time and season, tells waiting callers their position and an estimated wait (`ewt`), and
//! gives a caller who hung up their place back when they call again (`resume`) — a pure state
//! machine (`engine::Acd`) driven by the server's ACD task and by the simulator alike.
//! `agents` is the admin's agents.toml.

mod agent;
pub mod agents;
mod announce;
mod calls;
mod consult;
pub mod coverage;
mod dispatch;
pub mod engine;
pub mod ewt;
mod matching;
mod query;
mod queue;
pub mod resume;
mod stats;
mod timers;
pub mod types;

#[cfg(test)]
mod tests;

pub use engine::Acd;
pub use types::*;
