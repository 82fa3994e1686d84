//! DNS for SIP next hops, sans-IO: the wire format of queries and responses (`wire`) and the
//! RFC 3263 / RFC 2782 choices among NAPTR, SRV and address records (`select`).
//!
//! Owns: bytes in and out, and the order in which to try what DNS returned. Never does: I/O,
//! clocks or randomness of its own (query ids and SRV draws are passed in); the sockets and
//! timeouts are `sip::dns_client`'s.

pub mod select;
pub mod wire;

pub use select::{Candidate, SipTarget, SrvPlan};
pub use wire::{RData, Rcode, Record, RecordType, Response, WireError};
