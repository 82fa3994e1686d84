//! Staffing: the simulator and the planner.
//!
//! * `erlang` — queueing formulas (Erlang B, C, A; service level, ASA, staffing).
//! * `workload` — the workload file (traffic, mix, handling, agents) and its validation.
//! * `scenario` — workload + dial plan → a concrete timeline of half-hours, routes and shifts.
//! * `rng` — seeded, portable random numbers and distributions.
//! * `engine` — the discrete-event loop around the server's own `acd::Acd`.
//! * `collect` — simulated calls → the figures of `centrale report`.
//! * `plan` — Erlang staffing per half-hour, checked by simulation.
//! * `history` — a workload estimated from the call log.
//! * `grid` — the wait estimate against M/M/N+M queues (`centrale wait-grid`).
//! * `cli` — `centrale simulate` and `centrale plan`.
//!
//! Only `cli` and `history` touch files, the database or the terminal; the rest is pure and
//! never reads the wall clock.

pub mod cli;
pub mod collect;
pub mod engine;
pub mod erlang;
pub mod grid;
pub mod history;
pub mod plan;
pub mod rng;
pub mod scenario;
mod shift;
pub mod workload;

#[cfg(test)]
mod tests;

pub use cli::{run_plan, run_simulate, PlanArgs, SimulateArgs};
pub use grid::GridArgs;
