//! centrale — a telephony engine for municipal 311 lines.
//!
//! Modules in the order a call meets them. The protocol and decision cores (`sip`'s
//! transactions, dialogs, legs and registrar, `call`, `ivr`, `acd`, `dialplan::calendar`) are
//! sans-IO state machines: inputs and a clock in, actions out. `server`, `web` and `admin` are
//! the tokio drivers at the top; `event` is at the bottom, under everything that logs.

/// SIP: framing, parsing, transactions, dialogs, legs, the registrar, sockets.
pub mod sip;
/// Media: RTP/RTCP, G.711, prompts, DTMF, WebRTC, and the shard threads that pace and relay.
pub mod media;
/// One call's life as a state machine: routing, IVR, queue, offers, bridge, transfer, callback.
pub mod call;
/// The dial plans admins edit: documents, validation, calendars, holidays, versions.
pub mod dialplan;
/// The IVR interpreter the call runs a plan with.
pub mod ivr;
/// The ACD: agents, queues, skills, relaxation, wait estimates, callbacks.
pub mod acd;
/// What a caller waiting in a queue hears: position and wait in words, in their language.
pub mod announce;
/// Storm (surge) messages: what every caller, or a queue's callers, hear on a storm morning.
pub mod storm;
/// The one event log every figure is derived from.
pub mod event;
/// A call's row from its events, and the sums over rows that every figure uses.
pub mod cdr;
/// Writing the event log (SQLite, PostgreSQL), journal and replay, dead letters.
pub mod store;
/// Figures from the event log: metrics, renderers, seeding.
pub mod report;
/// The tokio drivers: SIP, calls, ACD, shutdown.
pub mod server;
/// The HTTPS side: agent desktop (sessions, WebSocket, WebRTC signalling), the console and
/// its JSON API.
pub mod web;
/// The admin HTTP/JSON API and `/metrics`.
pub mod admin;
/// Staffing: the same ACD on virtual time, Erlang C/A.
pub mod sim;
/// `centrale.toml`.
pub mod config;
/// The certificate and key for HTTPS and SIP over TLS.
pub mod tls;
/// The fuzz targets' bodies (driven by `fuzz/`, replayed on the committed corpus by `cargo test`).
#[doc(hidden)]
pub mod fuzzing;
