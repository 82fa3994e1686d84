//! A call's legs that go out through carrier trunks: the first trunk of the chain, and the
//! next one when a carrier fails the call in a way another may not (down, 408, 5xx) — before
//! the core ever hears of the failure. Never does: choosing the chain (the trunk board does)
//! or any call logic.

use tracing::{debug, warn};

use super::{dest_for, Leg, Task};
use crate::call::{LegEvent, LegId, Originate};
use crate::server::messages::SipCmd;
use crate::sip::flow::{Flow, TransportKind};
use crate::sip::uac;

/// A leg going out through a trunk: what the core asked for, and the trunks not yet tried.
pub(super) struct TrunkTry {
    pub req: Originate,
    pub number: String,
    pub rest: Vec<usize>,
}

impl Task {
    /// Try the next trunk for `leg` (its first, or the failover after a carrier failure).
    pub(super) fn next_trunk(&mut self, leg: LegId) -> bool {
        let Some(t) = self.trunk_tries.get_mut(&leg) else {
            return false;
        };
        if t.rest.is_empty() {
            return false;
        }
        let i = t.rest.remove(0);
        let r = &t.req;
        let tl = self.ctx.trunks.leg(
            i,
            &t.number,
            &r.from_user,
            r.from_display.as_deref(),
            r.headers.clone(),
        );
        debug!(trunk = %tl.trunk, number = %t.number, "dialling through trunk");
        let transport = match self.ctx.trunks.trunks.get(i) {
            Some(t) => crate::server::trunks::transport_of(&t.cfg),
            None => TransportKind::Udp,
        };
        let dest = match (
            tl.next_hop,
            self.ctx.transports.local_for_outbound(transport),
        ) {
            (Some(remote), Some(local)) => Some(Flow {
                transport,
                local,
                remote,
                conn: 0,
            }),
            _ => dest_for(&self.ctx, &tl.request_uri),
        };
        let sip = uac::Originate {
            to: r.to.clone().unwrap_or_else(|| tl.request_uri.clone()),
            request_uri: tl.request_uri,
            from_user: tl.from_user,
            from_display: tl.from_display,
            headers: tl.headers,
            dest,
            symmetric: false,
            auth: tl.auth,
            // SDES keys only toward a TLS carrier that asks for them.
            srtp: self
                .ctx
                .trunks
                .trunks
                .get(i)
                .and_then(|t| t.cfg.srtp)
                .filter(|_| transport == TransportKind::Tls)
                .and_then(|p| p.offer()),
        };
        self.place(leg, sip, None);
        true
    }

    /// A trunk leg failed in a way the next trunk may not: place it there instead of telling
    /// the core. True when the failure was absorbed.
    pub(super) fn trunk_failover(&mut self, leg: LegId, event: &LegEvent) -> bool {
        match event {
            LegEvent::Ringing | LegEvent::Answered => {
                // It got through: no failover past this point.
                if let Some(t) = self.trunk_tries.get_mut(&leg) {
                    t.rest.clear();
                }
                false
            }
            LegEvent::Failed { status } if crate::server::trunks::fails_over(*status) => {
                let more = self
                    .trunk_tries
                    .get(&leg)
                    .is_some_and(|t| !t.rest.is_empty());
                if !more {
                    return false;
                }
                warn!(status, "trunk failed the call: trying the next trunk");
                if let Some(Leg::Sip(old)) = self.legs.remove(&leg) {
                    self.by_call_id.remove(&old.call_id);
                    let _ = self.ctx.sip.send(SipCmd::Unbind {
                        call_id: old.call_id.clone(),
                    });
                }
                self.next_trunk(leg)
            }
            _ => false,
        }
    }
}
