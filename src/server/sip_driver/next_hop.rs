//! Where the SIP driver sends a request whose next hop is a URI rather than an address: the
//! RFC 3263 lookup (off the driver task), the other candidates kept for a request whose
//! connection cannot be made (tried in order, RFC 3263 §4.3), and the pin that sends a call's
//! later requests toward the same next hop — its CANCEL — where its first one went.
//!
//! Owns: the DNS side of sending. Never does: answering or routing messages (the driver), or
//! reading DNS bytes (`sip::dns`, `sip::dns_client`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use tracing::{debug, info, warn};

use super::Driver;
use crate::server::ctx::Ctx;
use crate::server::messages::{ResolvedRequest, SipCmd, ToCall};
use crate::sip::builder;
use crate::sip::dns::SipTarget;
use crate::sip::endpoint::TxId;
use crate::sip::flow::{Flow, TransportKind};
use crate::sip::message::Method;

/// Requests kept for a failover at most (a flood of unanswered requests cannot grow it).
const MAX_ALTERNATES: usize = 10_000;

#[derive(Default)]
pub(super) struct NextHops {
    /// By a call task's Call-ID: the flow each of its next hops was sent to.
    pins: HashMap<String, Vec<(String, Flow)>>,
    /// Client transactions that have other candidates left.
    alternates: HashMap<TxId, ResolvedRequest>,
}

/// A request to send once its next hop is found.
pub(super) struct Pending {
    pub call_id: String,
    /// None: outside any transaction (the ACK of a 2xx).
    pub method: Option<Method>,
    pub branch: String,
    pub bytes: Bytes,
    pub next_hop: String,
}

impl Driver {
    /// Find `p.next_hop` (the call's pin, else DNS off the driver task), then come back as
    /// `Resolved` (or `Unresolvable`).
    pub(super) fn resolve(&mut self, p: Pending) {
        let pinned = self.hops.pins.get(&p.call_id).and_then(|v| {
            v.iter()
                .find(|(hop, _)| *hop == p.next_hop)
                .map(|(_, f)| *f)
        });
        if let Some(dest) = pinned {
            match p.method {
                Some(method) => self.send_resolved(ResolvedRequest {
                    call_id: p.call_id,
                    method,
                    branch: p.branch,
                    bytes: p.bytes,
                    dest,
                    rest: Vec::new(),
                    next_hop: p.next_hop,
                }),
                None => {
                    let bytes = self.written_for(&p.bytes, dest);
                    self.endpoint.send_stateless(dest, bytes);
                }
            }
            return;
        }
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            let mut flows = locate(&ctx, &p.next_hop).await.into_iter();
            let cmd = match (flows.next(), p.method) {
                (None, Some(method)) => SipCmd::Unresolvable {
                    call_id: p.call_id,
                    method,
                },
                (None, None) => return,
                (Some(dest), Some(method)) => SipCmd::Resolved(ResolvedRequest {
                    call_id: p.call_id,
                    method,
                    branch: p.branch,
                    bytes: p.bytes,
                    dest,
                    rest: flows.collect(),
                    next_hop: p.next_hop,
                }),
                (Some(dest), None) => SipCmd::Stateless {
                    bytes: builder::via_for_transport(&p.bytes, dest.transport, &ctx.sent_by(dest))
                        .unwrap_or(p.bytes),
                    dest: Some(dest),
                    next_hop: String::new(),
                },
            };
            let _ = ctx.sip.send(cmd);
        });
    }

    /// The request as it must travel on `flow`: its top Via rewritten when DNS chose another
    /// transport than the one it was written for.
    pub(super) fn written_for(&self, bytes: &Bytes, flow: Flow) -> Bytes {
        builder::via_for_transport(bytes, flow.transport, &self.ctx.sent_by(flow))
            .unwrap_or_else(|| bytes.clone())
    }

    /// Start the client transaction of a resolved request, keeping the other candidates and
    /// pinning a call's next hop.
    pub(super) fn send_resolved(&mut self, r: ResolvedRequest) {
        let wire = self.written_for(&r.bytes, r.dest);
        let tx = self.endpoint.send_request(
            r.method,
            &r.branch,
            &r.call_id,
            wire,
            r.dest,
            Instant::now(),
        );
        if self.calls.contains_key(&r.call_id) {
            let pins = self.hops.pins.entry(r.call_id.clone()).or_default();
            pins.retain(|(hop, _)| *hop != r.next_hop);
            pins.push((r.next_hop.clone(), r.dest));
        }
        if !r.rest.is_empty() && self.hops.alternates.len() < MAX_ALTERNATES {
            self.hops.alternates.insert(tx, r);
        }
    }

    /// A connection for `failed` could not be made: the requests that have another DNS
    /// candidate go there (same branch: nothing left on the failed flow) instead of failing.
    pub(super) fn next_candidate(&mut self, failed: Flow) {
        let moved: Vec<TxId> = self
            .hops
            .alternates
            .iter()
            .filter(|(_, a)| a.dest.remote == failed.remote && a.dest.transport == failed.transport)
            .map(|(tx, _)| *tx)
            .collect();
        for tx in moved {
            let Some(mut a) = self.hops.alternates.remove(&tx) else {
                continue;
            };
            if a.rest.is_empty() || !self.endpoint.abandon(tx) {
                continue;
            }
            a.dest = a.rest.remove(0);
            info!(call_id = %a.call_id, method = %a.method, failed = %failed.remote, next = %a.dest.remote,
                transport = %a.dest.transport, "cannot connect to this DNS candidate: trying the next");
            self.send_resolved(a);
        }
    }

    /// Transaction `tx` was answered or ended: its other candidates are not needed.
    pub(super) fn hop_settled(&mut self, tx: TxId) {
        self.hops.alternates.remove(&tx);
    }

    /// DNS found no way to `next_hop`: the request's owner hears a timeout now.
    pub(super) fn unresolvable(&mut self, call_id: String, method: Method) {
        self.ctx.stats.tx_timeouts.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        if let Some((_, t)) = self
            .trunk_clients
            .iter_mut()
            .find(|(_, t)| t.owns(&call_id))
        {
            t.on_timeout(&call_id, method, now);
            self.flush_trunks();
        }
        if let Some(c) = self.calls.get(&call_id) {
            let _ = c.try_send(ToCall::TimedOut {
                method,
                server: false,
                call_id,
            });
        }
    }

    /// Forget the pins of calls that are gone (called every second).
    pub(super) fn tidy_next_hops(&mut self) {
        let calls = &self.calls;
        self.hops
            .pins
            .retain(|call_id, _| calls.contains_key(call_id));
    }

    /// The call task `call_id` is gone.
    pub(super) fn unpin(&mut self, call_id: &str) {
        self.hops.pins.remove(call_id);
    }
}

/// The transports we can send on toward `host`: those we have a socket for, and TLS only to a
/// carrier trunk configured for it.
fn usable(ctx: &Ctx, host: &str) -> Vec<TransportKind> {
    [TransportKind::Udp, TransportKind::Tcp, TransportKind::Tls]
        .into_iter()
        .filter(|&t| ctx.transports.local_for_outbound(t).is_some())
        .filter(|&t| t != TransportKind::Tls || ctx.transports.is_tls_carrier(host))
        .collect()
}

/// Where requests for `next_hop` may go, best first (RFC 3263). A TLS candidate must prove
/// the URI's domain, not the SRV target's name (RFC 5922 §4).
async fn locate(ctx: &Ctx, next_hop: &str) -> Vec<Flow> {
    let Some(target) = SipTarget::from_uri(next_hop) else {
        warn!(%next_hop, "cannot send: unusable URI");
        return Vec::new();
    };
    let candidates = ctx.dns.locate(&target, &usable(ctx, &target.host)).await;
    let flows: Vec<Flow> = candidates
        .iter()
        .filter_map(|c| {
            let local = ctx.transports.local_for_outbound(c.transport)?;
            // A UDP socket sends to its own address family only.
            if c.transport == TransportKind::Udp && local.is_ipv4() != c.addr.is_ipv4() {
                return None;
            }
            if c.transport == TransportKind::Tls {
                ctx.transports.resolved_tls(&target.host, c.addr);
            }
            Some(Flow {
                transport: c.transport,
                local,
                remote: c.addr,
                conn: 0,
            })
        })
        .collect();
    if flows.is_empty() {
        warn!(%next_hop, servers = ?ctx.dns.servers(), "cannot resolve: DNS gives no address we can send to");
    } else {
        debug!(%next_hop, candidates = ?flows.iter().map(|f| format!("{}/{}", f.remote, f.transport)).collect::<Vec<_>>(), "resolved");
    }
    flows
}
