//! RFC 3261 §17 transactions (with the RFC 6026 "Accepted" states) as plain state machines.
//! Each takes events and the current instant and returns what to send and what happened; each
//! exposes its next deadline. They never read a clock, own a socket or spawn a task, so tests
//! drive every timer with a fake clock.
//!
//! A transaction talks to exactly one peer; its owner (the endpoint) knows where that peer is.

use std::time::Duration;

use bytes::Bytes;

mod client_invite;
mod client_non_invite;
mod server_invite;
mod server_non_invite;

pub use client_invite::{InviteClient, InviteClientState};
pub use client_non_invite::{NonInviteClient, NonInviteClientState};
pub use server_invite::{InviteServer, InviteServerState};
pub use server_non_invite::{NonInviteServer, NonInviteServerState};

/// Whether the transport retransmits for us (TCP, TLS, WS) or we must (UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reliability {
    Unreliable,
    Reliable,
}

impl Reliability {
    pub fn is_reliable(self) -> bool {
        self == Reliability::Reliable
    }
}

/// The base timers of RFC 3261 §17.1.1.1; every other timer derives from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// 64·T1: timers B, F, H, J (unreliable), L, M.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
}

/// Something a transaction asks its owner to do after an event or a timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxOutput {
    /// Send these bytes to the transaction's peer.
    Transmit(Bytes),
    /// Timer B, F or H fired: the peer never answered (or never ACKed). Tell the TU.
    TimedOut,
    /// The transaction is over; forget it.
    Terminated,
}

/// Earliest of several optional deadlines.
pub(crate) fn earliest<const N: usize>(
    deadlines: [Option<std::time::Instant>; N],
) -> Option<std::time::Instant> {
    deadlines.into_iter().flatten().min()
}
