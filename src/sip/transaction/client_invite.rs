//! INVITE client transaction (RFC 3261 §17.1.1, amended by RFC 6026 §7.2), used for the legs
//! we originate (agents, transfer targets).
//!
//! Calling (timer A retransmits over UDP, timer B gives up) → Proceeding on 1xx → Completed on
//! 300–699 (we ACK, timer D absorbs retransmitted finals) or Accepted on 2xx (timer M: further
//! 2xx are passed up so the TU can ACK each one).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{earliest, Reliability, Timers, TxOutput};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteClientState {
    Calling,
    Proceeding,
    Completed,
    Accepted,
    Terminated,
}

/// What to do with a response that matched this transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientResponse {
    /// Give the response to the TU.
    pub pass_up: bool,
    /// Send this (the ACK for a non-2xx final).
    pub transmit: Option<Bytes>,
}

#[derive(Debug)]
pub struct InviteClient {
    state: InviteClientState,
    reliability: Reliability,
    timers: Timers,
    request: Bytes,
    ack: Option<Bytes>,
    a_interval: Duration,
    timer_a: Option<Instant>,
    timer_b: Option<Instant>,
    timer_d: Option<Instant>,
    timer_m: Option<Instant>,
}

impl InviteClient {
    /// Start the transaction; the caller transmits `request` once now.
    pub fn new(request: Bytes, reliability: Reliability, timers: Timers, now: Instant) -> Self {
        InviteClient {
            state: InviteClientState::Calling,
            reliability,
            timers,
            request,
            ack: None,
            a_interval: timers.t1,
            timer_a: (!reliability.is_reliable()).then_some(now + timers.t1),
            timer_b: Some(now + timers.t1x64()),
            timer_d: None,
            timer_m: None,
        }
    }

    pub fn state(&self) -> InviteClientState {
        self.state
    }

    pub fn request(&self) -> &Bytes {
        &self.request
    }

    /// A response arrived. `make_ack` builds the ACK for a non-2xx final (it needs the
    /// response's To tag); it is only called when an ACK is due.
    pub fn on_response(
        &mut self,
        status: u16,
        now: Instant,
        make_ack: impl FnOnce() -> Bytes,
    ) -> ClientResponse {
        use InviteClientState::*;
        let pass = |transmit| ClientResponse {
            pass_up: true,
            transmit,
        };
        match (self.state, status) {
            (Calling | Proceeding, 100..=199) => {
                self.state = Proceeding;
                self.timer_a = None;
                pass(None)
            }
            (Calling | Proceeding, 200..=299) => {
                self.state = Accepted;
                self.timer_a = None;
                self.timer_b = None;
                self.timer_m = Some(now + self.timers.t1x64());
                pass(None)
            }
            (Accepted, 200..=299) => pass(None),
            (Calling | Proceeding, 300..=699) => {
                self.state = Completed;
                self.timer_a = None;
                self.timer_b = None;
                let ack = make_ack();
                self.ack = Some(ack.clone());
                self.timer_d = Some(if self.reliability.is_reliable() {
                    now
                } else {
                    now + Duration::from_secs(32).max(self.timers.t1x64() / 2)
                });
                pass(Some(ack))
            }
            // A retransmitted final: ACK again, do not bother the TU.
            (Completed, 300..=699) => ClientResponse {
                pass_up: false,
                transmit: self.ack.clone(),
            },
            _ => ClientResponse {
                pass_up: false,
                transmit: None,
            },
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        earliest([self.timer_a, self.timer_b, self.timer_d, self.timer_m])
    }

    pub fn on_timer(&mut self, now: Instant) -> Vec<TxOutput> {
        let mut out = Vec::new();
        if self.timer_b.is_some_and(|t| t <= now) {
            self.terminate();
            out.push(TxOutput::TimedOut);
            out.push(TxOutput::Terminated);
            return out;
        }
        if self.timer_d.is_some_and(|t| t <= now) || self.timer_m.is_some_and(|t| t <= now) {
            self.terminate();
            out.push(TxOutput::Terminated);
            return out;
        }
        if let Some(a) = self.timer_a.filter(|&a| a <= now) {
            out.push(TxOutput::Transmit(self.request.clone()));
            // Timer A doubles without the T2 cap (§17.1.1.2).
            self.a_interval *= 2;
            self.timer_a = Some(a + self.a_interval);
        }
        out
    }

    fn terminate(&mut self) {
        self.state = InviteClientState::Terminated;
        self.timer_a = None;
        self.timer_b = None;
        self.timer_d = None;
        self.timer_m = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn timer_a_doubles_and_timer_b_times_out() {
        let t0 = Instant::now();
        let mut tx = InviteClient::new(
            Bytes::from_static(b"INVITE"),
            Reliability::Unreliable,
            Timers::default(),
            t0,
        );
        let mut sent = Vec::new();
        let mut now = t0;
        let mut timed_out = false;
        while now < t0 + ms(33_000) && !timed_out {
            now += ms(10);
            for o in tx.on_timer(now) {
                match o {
                    TxOutput::Transmit(_) => sent.push((now - t0).as_millis() / 10 * 10),
                    TxOutput::TimedOut => timed_out = true,
                    TxOutput::Terminated => {}
                }
            }
        }
        assert_eq!(sent, vec![500, 1500, 3500, 7500, 15500, 31500]);
        assert!(timed_out);
        assert_eq!((now - t0), ms(32_000));
    }

    #[test]
    fn provisional_stops_retransmissions_and_non_2xx_is_acked() {
        let t0 = Instant::now();
        let mut tx = InviteClient::new(
            Bytes::from_static(b"INVITE"),
            Reliability::Unreliable,
            Timers::default(),
            t0,
        );
        let r = tx.on_response(180, t0, || unreachable!());
        assert!(r.pass_up && r.transmit.is_none());
        assert!(tx.on_timer(t0 + ms(600)).is_empty(), "no timer A after 1xx");
        let r = tx.on_response(486, t0 + ms(700), || Bytes::from_static(b"ACK"));
        assert_eq!(r.transmit, Some(Bytes::from_static(b"ACK")));
        assert_eq!(tx.state(), InviteClientState::Completed);
        // retransmitted 486 → ACK again, not passed up
        let r = tx.on_response(486, t0 + ms(800), || unreachable!());
        assert!(!r.pass_up);
        assert_eq!(r.transmit, Some(Bytes::from_static(b"ACK")));
        // timer D = 32 s
        assert!(tx.on_timer(t0 + ms(32_600)).is_empty());
        assert_eq!(tx.on_timer(t0 + ms(32_700)), vec![TxOutput::Terminated]);
    }

    #[test]
    fn accepted_passes_every_2xx_up_until_timer_m() {
        let t0 = Instant::now();
        let mut tx = InviteClient::new(
            Bytes::from_static(b"INVITE"),
            Reliability::Reliable,
            Timers::default(),
            t0,
        );
        assert_eq!(tx.deadline(), Some(t0 + ms(32_000)), "only B over TCP");
        assert!(tx.on_response(200, t0, || unreachable!()).pass_up);
        assert!(tx.on_response(200, t0 + ms(500), || unreachable!()).pass_up);
        assert_eq!(tx.on_timer(t0 + ms(32_000)), vec![TxOutput::Terminated]);
    }
}
