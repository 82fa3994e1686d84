//! centrale — a telephony engine for municipal 311 lines.
//!
//! The layout follows a call: `sip` (transport, transactions, dialogs) → `server` (one task per
//! call) → `ivr` driven by `dialplan` → `media` (prompts, DTMF, bridging) → `acd` (queues and
//! agents) → `event` → `store` → `report`. The protocol and decision cores (`sip::transaction`,
//! `sip::endpoint`, `sip::uas`, `ivr`, `acd`, `dialplan::calendar`) are sans-IO state machines.

pub mod acd;
pub mod admin;
pub mod announce;
pub mod config;
pub mod dialplan;
pub mod event;
pub mod ivr;
pub mod media;
pub mod report;
pub mod server;
pub mod sim;
pub mod sip;
pub mod store;
