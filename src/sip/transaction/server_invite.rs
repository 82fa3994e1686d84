//! INVITE server transaction (RFC 3261 §17.2.1, amended by RFC 6026 §7.1).
//!
//! Proceeding → (non-2xx) Completed → (ACK) Confirmed → Terminated, retransmitting the final
//! response on timer G over UDP until the ACK, giving up on timer H. A 2xx moves it to Accepted
//! for timer L: the 2xx itself is retransmitted by the TU (the dialog), and INVITE
//! retransmissions are absorbed so they never start a second call.

use std::time::Instant;

use bytes::Bytes;

use super::{earliest, Reliability, Timers, TxOutput};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteServerState {
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

#[derive(Debug)]
pub struct InviteServer {
    state: InviteServerState,
    reliability: Reliability,
    timers: Timers,
    /// Last response sent; replayed on request retransmissions and timer G.
    last: Option<Bytes>,
    g_interval: std::time::Duration,
    timer_g: Option<Instant>,
    timer_h: Option<Instant>,
    timer_i: Option<Instant>,
    timer_l: Option<Instant>,
}

impl InviteServer {
    pub fn new(reliability: Reliability, timers: Timers) -> Self {
        InviteServer {
            state: InviteServerState::Proceeding,
            reliability,
            timers,
            last: None,
            g_interval: timers.t1,
            timer_g: None,
            timer_h: None,
            timer_i: None,
            timer_l: None,
        }
    }

    pub fn state(&self) -> InviteServerState {
        self.state
    }

    /// The TU sends a response. Returns the bytes to transmit, or None when the state no
    /// longer allows this response (e.g. a second final response).
    pub fn respond(&mut self, status: u16, msg: Bytes, now: Instant) -> Option<Bytes> {
        use InviteServerState::*;
        match (self.state, status) {
            (Proceeding, 100..=199) => {
                self.last = Some(msg.clone());
                Some(msg)
            }
            (Proceeding, 200..=299) => {
                self.state = Accepted;
                self.last = None;
                self.timer_l = Some(now + self.timers.t1x64());
                Some(msg)
            }
            // RFC 6026: 2xx retransmissions from the TU pass straight through.
            (Accepted, 200..=299) => Some(msg),
            (Proceeding, 300..=699) => {
                self.state = Completed;
                self.last = Some(msg.clone());
                if !self.reliability.is_reliable() {
                    self.g_interval = self.timers.t1;
                    self.timer_g = Some(now + self.g_interval);
                }
                self.timer_h = Some(now + self.timers.t1x64());
                Some(msg)
            }
            _ => None,
        }
    }

    /// The INVITE arrived again: resend the last provisional or final response; in Accepted
    /// the retransmission is absorbed (the TU's 2xx retransmissions answer it).
    pub fn on_retransmission(&mut self) -> Option<Bytes> {
        match self.state {
            InviteServerState::Proceeding | InviteServerState::Completed => self.last.clone(),
            _ => None,
        }
    }

    /// An ACK matched this transaction (only ACKs for non-2xx do). Returns true if absorbed.
    pub fn on_ack(&mut self, now: Instant) -> bool {
        match self.state {
            InviteServerState::Completed => {
                self.state = InviteServerState::Confirmed;
                self.timer_g = None;
                self.timer_h = None;
                self.timer_i = Some(if self.reliability.is_reliable() {
                    now
                } else {
                    now + self.timers.t4
                });
                true
            }
            InviteServerState::Confirmed => true,
            _ => false,
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        earliest([self.timer_g, self.timer_h, self.timer_i, self.timer_l])
    }

    pub fn on_timer(&mut self, now: Instant) -> Vec<TxOutput> {
        let mut out = Vec::new();
        if self.timer_h.is_some_and(|t| t <= now) {
            // No ACK ever came for our final response.
            self.terminate();
            out.push(TxOutput::TimedOut);
            out.push(TxOutput::Terminated);
            return out;
        }
        if self.timer_i.is_some_and(|t| t <= now) || self.timer_l.is_some_and(|t| t <= now) {
            self.terminate();
            out.push(TxOutput::Terminated);
            return out;
        }
        if let Some(g) = self.timer_g.filter(|&g| g <= now) {
            if let Some(last) = &self.last {
                out.push(TxOutput::Transmit(last.clone()));
            }
            self.g_interval = (self.g_interval * 2).min(self.timers.t2);
            self.timer_g = Some(g + self.g_interval);
        }
        out
    }

    fn terminate(&mut self) {
        self.state = InviteServerState::Terminated;
        self.timer_g = None;
        self.timer_h = None;
        self.timer_i = None;
        self.timer_l = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn non_2xx_is_retransmitted_on_timer_g_until_ack() {
        let t0 = Instant::now();
        let mut tx = InviteServer::new(Reliability::Unreliable, Timers::default());
        assert!(tx.respond(100, Bytes::from_static(b"100"), t0).is_some());
        assert_eq!(tx.on_retransmission(), Some(Bytes::from_static(b"100")));
        assert!(tx.respond(486, Bytes::from_static(b"486"), t0).is_some());
        assert_eq!(tx.state(), InviteServerState::Completed);
        // G fires at 0.5, 1.5, 3.5, 7.5, 11.5 s (doubling, capped at T2 = 4 s).
        let mut sent_at = Vec::new();
        let mut now = t0;
        while now < t0 + ms(12_000) {
            now += ms(10);
            for o in tx.on_timer(now) {
                if o == TxOutput::Transmit(Bytes::from_static(b"486")) {
                    sent_at.push((now - t0).as_millis() / 10 * 10);
                }
            }
        }
        assert_eq!(sent_at, vec![500, 1500, 3500, 7500, 11500]);
        assert!(tx.on_ack(now));
        assert_eq!(tx.state(), InviteServerState::Confirmed);
        assert!(tx.on_timer(now + ms(100)).is_empty(), "no G after ACK");
        // Timer I = T4 absorbs ACK retransmissions, then terminates.
        assert!(tx.on_ack(now + ms(200)));
        assert_eq!(tx.deadline(), Some(now + ms(5_000)));
        assert_eq!(tx.on_timer(now + ms(5_000)), vec![TxOutput::Terminated]);
    }

    #[test]
    fn timer_h_gives_up_without_ack() {
        let t0 = Instant::now();
        let mut tx = InviteServer::new(Reliability::Unreliable, Timers::default());
        tx.respond(404, Bytes::from_static(b"404"), t0);
        let outs = tx.on_timer(t0 + ms(32_000));
        assert_eq!(outs, vec![TxOutput::TimedOut, TxOutput::Terminated]);
        assert_eq!(tx.state(), InviteServerState::Terminated);
        assert_eq!(tx.deadline(), None);
    }

    #[test]
    fn reliable_transport_has_no_timer_g_and_zero_timer_i() {
        let t0 = Instant::now();
        let mut tx = InviteServer::new(Reliability::Reliable, Timers::default());
        tx.respond(487, Bytes::from_static(b"487"), t0);
        assert_eq!(tx.deadline(), Some(t0 + ms(32_000)));
        assert!(tx.on_timer(t0 + ms(500)).is_empty());
        tx.on_ack(t0 + ms(600));
        assert_eq!(tx.on_timer(t0 + ms(600)), vec![TxOutput::Terminated]);
    }

    #[test]
    fn accepted_absorbs_retransmissions_and_ends_on_timer_l() {
        let t0 = Instant::now();
        let mut tx = InviteServer::new(Reliability::Unreliable, Timers::default());
        tx.respond(100, Bytes::from_static(b"100"), t0);
        assert!(tx.respond(200, Bytes::from_static(b"200"), t0).is_some());
        assert_eq!(tx.state(), InviteServerState::Accepted);
        assert_eq!(tx.on_retransmission(), None);
        // TU retransmits the 2xx through the transaction.
        assert!(tx
            .respond(200, Bytes::from_static(b"200"), t0 + ms(500))
            .is_some());
        // 2xx ACKs are not ours.
        assert!(!tx.on_ack(t0 + ms(600)));
        assert!(tx.respond(486, Bytes::from_static(b"486"), t0).is_none());
        assert_eq!(tx.on_timer(t0 + ms(31_999)), vec![]);
        assert_eq!(tx.on_timer(t0 + ms(32_000)), vec![TxOutput::Terminated]);
    }
}
