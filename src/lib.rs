//! centrale — a telephony engine for municipal 311 lines.
//!
//! Modules in the order a call meets them. The protocol and decision cores (`sip`'s
//! transactions, dialogs, legs and registrar, `call`, `ivr`, `acd`, `dialplan::calendar`) are
//! sans-IO state machines: inputs and a clock in, actions out. `server` and `admin` are the
//! tokio drivers at the top; `event` is at the bottom, under everything that logs.

/// The ACD: agents, queues, skills, relaxation, wait estimates, callbacks.
pub mod acd;
/// The admin HTTP/JSON API and `/metrics`.
pub mod admin;
/// One call's life as a state machine: routing, IVR, queue, offers, bridge, transfer, callback.
pub mod call;
/// `centrale.toml`.
pub mod config;
/// The dial plans admins edit: documents, validation, calendars, holidays, versions.
pub mod dialplan;
/// The one event log every figure is derived from.
pub mod event;
/// The IVR interpreter the call runs a plan with.
pub mod ivr;
/// Media: RTP/RTCP, G.711, prompts, DTMF, and the shard threads that pace and relay.
pub mod media;
/// Figures from the event log: call rows, metrics, renderers.
pub mod report;
/// The tokio drivers: SIP, calls, ACD, shutdown.
pub mod server;
/// Staffing: the same ACD on virtual time, Erlang C/A.
pub mod sim;
/// SIP: framing, parsing, transactions, dialogs, legs, the registrar, sockets.
pub mod sip;
/// Writing the event log (SQLite, PostgreSQL), journal and replay.
pub mod store;
/// The certificate and key for HTTPS and SIP over TLS.
pub mod tls;
/// The HTTPS side: agent desktop (sessions, WebSocket, WebRTC signalling).
pub mod web;
