//! Non-INVITE client transaction (RFC 3261 §17.1.2), used for the BYEs, re-INVITE-free
//! in-dialog requests and OPTIONS pings we send.
//!
//! Trying (timer E retransmits over UDP, doubling to T2; timer F gives up) → Proceeding on 1xx
//! (E continues at T2) → Completed on a final (timer K absorbs retransmitted finals).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{earliest, Reliability, Timers, TxOutput};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteClientState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

#[derive(Debug)]
pub struct NonInviteClient {
    state: NonInviteClientState,
    reliability: Reliability,
    timers: Timers,
    request: Bytes,
    e_interval: Duration,
    timer_e: Option<Instant>,
    timer_f: Option<Instant>,
    timer_k: Option<Instant>,
}

impl NonInviteClient {
    /// Start the transaction; the caller transmits `request` once now.
    pub fn new(request: Bytes, reliability: Reliability, timers: Timers, now: Instant) -> Self {
        NonInviteClient {
            state: NonInviteClientState::Trying,
            reliability,
            timers,
            request,
            e_interval: timers.t1,
            timer_e: (!reliability.is_reliable()).then_some(now + timers.t1),
            timer_f: Some(now + timers.t1x64()),
            timer_k: None,
        }
    }

    pub fn state(&self) -> NonInviteClientState {
        self.state
    }

    /// A response arrived; returns whether to pass it to the TU.
    pub fn on_response(&mut self, status: u16, now: Instant) -> bool {
        use NonInviteClientState::*;
        match (self.state, status) {
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                true
            }
            (Trying | Proceeding, 200..=699) => {
                self.state = Completed;
                self.timer_e = None;
                self.timer_f = None;
                self.timer_k = Some(if self.reliability.is_reliable() {
                    now
                } else {
                    now + self.timers.t4
                });
                true
            }
            _ => false,
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        earliest([self.timer_e, self.timer_f, self.timer_k])
    }

    pub fn on_timer(&mut self, now: Instant) -> Vec<TxOutput> {
        let mut out = Vec::new();
        if self.timer_f.is_some_and(|t| t <= now) {
            self.terminate();
            out.push(TxOutput::TimedOut);
            out.push(TxOutput::Terminated);
            return out;
        }
        if self.timer_k.is_some_and(|t| t <= now) {
            self.terminate();
            out.push(TxOutput::Terminated);
            return out;
        }
        if let Some(e) = self.timer_e.filter(|&e| e <= now) {
            out.push(TxOutput::Transmit(self.request.clone()));
            self.e_interval = if self.state == NonInviteClientState::Proceeding {
                self.timers.t2
            } else {
                (self.e_interval * 2).min(self.timers.t2)
            };
            self.timer_e = Some(e + self.e_interval);
        }
        out
    }

    fn terminate(&mut self) {
        self.state = NonInviteClientState::Terminated;
        self.timer_e = None;
        self.timer_f = None;
        self.timer_k = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn run(tx: &mut NonInviteClient, t0: Instant, until: u64) -> (Vec<u128>, bool) {
        let mut sent = Vec::new();
        let mut timed_out = false;
        let mut now = t0;
        while now < t0 + ms(until) {
            now += ms(10);
            for o in tx.on_timer(now) {
                match o {
                    TxOutput::Transmit(_) => sent.push((now - t0).as_millis()),
                    TxOutput::TimedOut => timed_out = true,
                    TxOutput::Terminated => {}
                }
            }
        }
        (sent, timed_out)
    }

    #[test]
    fn timer_e_caps_at_t2_and_f_times_out() {
        let t0 = Instant::now();
        let mut tx = NonInviteClient::new(
            Bytes::from_static(b"BYE"),
            Reliability::Unreliable,
            Timers::default(),
            t0,
        );
        let (sent, timed_out) = run(&mut tx, t0, 33_000);
        assert_eq!(
            sent,
            vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert!(timed_out);
        assert_eq!(tx.state(), NonInviteClientState::Terminated);
    }

    #[test]
    fn provisional_moves_e_to_t2_and_final_starts_k() {
        let t0 = Instant::now();
        let mut tx = NonInviteClient::new(
            Bytes::from_static(b"BYE"),
            Reliability::Unreliable,
            Timers::default(),
            t0,
        );
        assert!(tx.on_response(100, t0 + ms(100)));
        let (sent, _) = run(&mut tx, t0, 5_000);
        assert_eq!(sent, vec![500, 4500]);
        assert!(tx.on_response(200, t0 + ms(5_000)));
        assert!(
            !tx.on_response(200, t0 + ms(5_100)),
            "retransmitted final absorbed"
        );
        assert_eq!(tx.deadline(), Some(t0 + ms(10_000)), "timer K = T4");
        assert_eq!(tx.on_timer(t0 + ms(10_000)), vec![TxOutput::Terminated]);
    }

    #[test]
    fn reliable_has_no_e_and_zero_k() {
        let t0 = Instant::now();
        let mut tx = NonInviteClient::new(
            Bytes::from_static(b"BYE"),
            Reliability::Reliable,
            Timers::default(),
            t0,
        );
        assert_eq!(tx.deadline(), Some(t0 + ms(32_000)));
        tx.on_response(200, t0);
        assert_eq!(tx.on_timer(t0), vec![TxOutput::Terminated]);
    }
}
