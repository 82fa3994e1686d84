//! Non-INVITE server transaction (RFC 3261 §17.2.2): Trying → Proceeding → Completed →
//! Terminated. Retransmitted requests get the last response again; timer J keeps the
//! transaction around long enough to absorb them over UDP.

use std::time::Instant;

use bytes::Bytes;

use super::{Reliability, Timers, TxOutput};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteServerState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

#[derive(Debug)]
pub struct NonInviteServer {
    state: NonInviteServerState,
    reliability: Reliability,
    timers: Timers,
    last: Option<Bytes>,
    timer_j: Option<Instant>,
}

impl NonInviteServer {
    pub fn new(reliability: Reliability, timers: Timers) -> Self {
        NonInviteServer {
            state: NonInviteServerState::Trying,
            reliability,
            timers,
            last: None,
            timer_j: None,
        }
    }

    pub fn state(&self) -> NonInviteServerState {
        self.state
    }

    pub fn respond(&mut self, status: u16, msg: Bytes, now: Instant) -> Option<Bytes> {
        use NonInviteServerState::*;
        match (self.state, status) {
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                self.last = Some(msg.clone());
                Some(msg)
            }
            (Trying | Proceeding, 200..=699) => {
                self.state = Completed;
                self.last = Some(msg.clone());
                self.timer_j = Some(if self.reliability.is_reliable() {
                    now
                } else {
                    now + self.timers.t1x64()
                });
                Some(msg)
            }
            _ => None,
        }
    }

    /// The request arrived again: replay the last response (nothing yet in Trying).
    pub fn on_retransmission(&self) -> Option<Bytes> {
        match self.state {
            NonInviteServerState::Proceeding | NonInviteServerState::Completed => self.last.clone(),
            _ => None,
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.timer_j
    }

    pub fn on_timer(&mut self, now: Instant) -> Vec<TxOutput> {
        if self.timer_j.is_some_and(|j| j <= now) {
            self.state = NonInviteServerState::Terminated;
            self.timer_j = None;
            return vec![TxOutput::Terminated];
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timer_j_absorbs_retransmissions_for_64_t1() {
        let t0 = Instant::now();
        let mut tx = NonInviteServer::new(Reliability::Unreliable, Timers::default());
        assert_eq!(
            tx.on_retransmission(),
            None,
            "nothing to replay while Trying"
        );
        tx.respond(200, Bytes::from_static(b"200"), t0);
        assert_eq!(tx.state(), NonInviteServerState::Completed);
        assert_eq!(tx.on_retransmission(), Some(Bytes::from_static(b"200")));
        assert!(tx.respond(500, Bytes::from_static(b"500"), t0).is_none());
        assert_eq!(tx.deadline(), Some(t0 + Duration::from_secs(32)));
        assert!(tx.on_timer(t0 + Duration::from_secs(31)).is_empty());
        assert_eq!(
            tx.on_timer(t0 + Duration::from_secs(32)),
            vec![TxOutput::Terminated]
        );
    }

    #[test]
    fn reliable_terminates_at_once() {
        let t0 = Instant::now();
        let mut tx = NonInviteServer::new(Reliability::Reliable, Timers::default());
        tx.respond(180, Bytes::from_static(b"1xx"), t0);
        assert_eq!(tx.state(), NonInviteServerState::Proceeding);
        tx.respond(200, Bytes::from_static(b"200"), t0);
        assert_eq!(tx.on_timer(t0), vec![TxOutput::Terminated]);
    }
}
