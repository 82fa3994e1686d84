//! The thin driver of one call: a tokio task that owns the call core (`call::Call`), its SIP
//! legs and their media, moves bytes and events between them, and keeps one reusable timer.
//! No call logic here: every decision is the core's; this file only carries it out (open media,
//! create SIP legs, resolve prompt ids, look up contacts, write a voice message to disk, stamp
//! and send events).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{debug, warn, Instrument};

use super::call_setup::{dest_for, from_display, numbers};
use super::ctx::Ctx;
use super::desk_leg::DeskLeg;
use super::messages::{AcdCmd, DeskHandle, NewCall, SipCmd, ToCall};
use super::sip_leg::{LegIo, SipLeg};
use crate::call::{
    AcdDecision, AcdRequest, Call, CallbackSetup, Contact, Dial, Inbound, Input, LegCommand,
    LegEvent, LegId, MediaCommand, Originate, Output, CALLER,
};
use crate::event::{new_call_uid, now_ms, CallLog};
use crate::ivr::Now;
use crate::media::engine::{MediaEvent, MediaEventKind, MediaLeg};
use crate::sip::builder;
use crate::sip::endpoint::TxId;
use crate::sip::flow::{Flow, TransportKind};
use crate::sip::leg::LegConfig;
use crate::sip::message::InRequest;
use crate::sip::random::Random;
use crate::sip::uac::{self, OutboundLeg};
use crate::sip::uas::InboundLeg;

mod trunk;

use trunk::TrunkTry;

static NEXT_ACD_ID: AtomicU64 = AtomicU64::new(1);

/// One leg of the call: SIP (caller, phones, targets) or an agent's desktop.
enum Leg {
    Sip(Box<LegIo>),
    Desk(DeskLeg),
}

impl Leg {
    fn media(&self) -> Option<&MediaLeg> {
        match self {
            Leg::Sip(l) => l.media.as_ref(),
            Leg::Desk(l) => l.media.as_ref(),
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match self {
            Leg::Sip(l) => l.deadline(),
            Leg::Desk(_) => None,
        }
    }

    fn on_timer(&mut self, now: Instant) {
        if let Leg::Sip(l) = self {
            l.on_timer(now);
        }
    }

    fn is_ended(&self) -> bool {
        match self {
            Leg::Sip(l) => l.is_ended(),
            Leg::Desk(l) => l.is_ended(),
        }
    }

    fn drain(&mut self, ctx: &Ctx, events: &mut Vec<LegEvent>) -> bool {
        match self {
            Leg::Sip(l) => l.drain(ctx, events),
            Leg::Desk(l) => l.drain(events),
        }
    }
}

/// Start the task of a new inbound call.
pub fn spawn(ctx: Arc<Ctx>, c: NewCall) {
    let span = tracing::info_span!("call", call_id = %c.invite.ids.call_id);
    ctx.stats.live_calls.fetch_add(1, Ordering::Relaxed);
    ctx.stats.calls_total.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(
        async move {
            let call_id = c.invite.ids.call_id.clone();
            let (dialled, caller) = numbers(&ctx, &c.invite, c.flow);
            let setup = Inbound {
                uid: new_call_uid(now_ms()),
                acd_id: NEXT_ACD_ID.fetch_add(1, Ordering::Relaxed),
                dialled,
                caller,
                caller_display: from_display(&c.invite),
                sip_call_id: call_id.clone(),
                transport: c.flow.transport.to_string(),
                plan: ctx.plans.current(),
                agent_phone: c.agent_phone.clone(),
                storm: ctx.storm.scope(ctx.wall_now().as_millisecond()),
            };
            tracing::info!(to = %setup.dialled, from = %setup.caller, "new call");
            let mut task = Task::new(ctx.clone(), c.rx, c.me);
            task.invite = Some((c.tx, c.invite, c.flow));
            task.by_call_id.insert(call_id.clone(), CALLER);
            let now = task.now();
            let core = Call::inbound(ctx.call.clone(), setup, now);
            task.run(core).await;
            let _ = ctx.sip.send(SipCmd::Unbind { call_id });
            ctx.stats.live_calls.fetch_sub(1, Ordering::Relaxed);
        }
        .instrument(span),
    );
}

/// Start the task of a callback the ACD chose an agent for.
pub fn spawn_callback(ctx: Arc<Ctx>, setup: CallbackSetup) {
    let span = tracing::info_span!("callback", number = %setup.number, agent = %setup.agent);
    ctx.stats.live_calls.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(
        async move {
            let (me, rx) = mpsc::channel(64);
            let mut task = Task::new(ctx.clone(), rx, me);
            let now = task.now();
            let core = Call::callback(ctx.call.clone(), setup, now);
            task.run(core).await;
            ctx.stats.live_calls.fetch_sub(1, Ordering::Relaxed);
        }
        .instrument(span),
    );
}

struct Task {
    ctx: Arc<Ctx>,
    log: Option<CallLog>,
    /// All of this call's legs share one media shard (a bridge never crosses threads).
    shard: usize,
    legs: HashMap<LegId, Leg>,
    by_call_id: HashMap<String, LegId>,
    /// Desktops named in the last contact lists (by web session).
    desks: HashMap<u64, DeskHandle>,
    /// The caller's INVITE, until its leg is created (or the call refused without one).
    invite: Option<(TxId, Box<InRequest>, Flow)>,
    rx: mpsc::Receiver<ToCall>,
    me: mpsc::Sender<ToCall>,
    media_rx: mpsc::UnboundedReceiver<MediaEvent>,
    media_tx: mpsc::UnboundedSender<MediaEvent>,
    acd_rx: mpsc::UnboundedReceiver<AcdDecision>,
    acd_tx: mpsc::UnboundedSender<AcdDecision>,
    rng: Random,
    /// The name the voice message being stopped is saved under.
    recording_name: Option<String>,
    /// The prompts this call plays, as they were when it started (an upload mid-call does
    /// not change what it hears).
    prompts: Arc<crate::media::prompt::PromptSet>,
    /// Inputs for the core produced while carrying out its outputs.
    inputs: Vec<(LegId, LegEvent)>,
    /// Legs dialled through a carrier trunk, with the trunks left to fail over to.
    trunk_tries: HashMap<LegId, TrunkTry>,
    done: bool,
}

impl Task {
    fn new(ctx: Arc<Ctx>, rx: mpsc::Receiver<ToCall>, me: mpsc::Sender<ToCall>) -> Task {
        let (media_tx, media_rx) = mpsc::unbounded_channel();
        let (acd_tx, acd_rx) = mpsc::unbounded_channel();
        Task {
            prompts: ctx.prompts.current(),
            shard: ctx.media.pick_shard(),
            ctx,
            log: None,
            legs: HashMap::new(),
            by_call_id: HashMap::new(),
            desks: HashMap::new(),
            invite: None,
            rx,
            me,
            media_rx,
            media_tx,
            acd_rx,
            acd_tx,
            rng: Random::from_os(),
            recording_name: None,
            inputs: Vec::new(),
            trunk_tries: HashMap::new(),
            done: false,
        }
    }

    fn now(&self) -> Now {
        Now {
            mono: Instant::now(),
            wall: self.ctx.wall_now(),
        }
    }

    async fn run(&mut self, mut core: Call) {
        self.log = Some(CallLog::new(
            core.uid().to_string(),
            self.ctx.events.clone(),
        ));
        let mut shutdown = self.ctx.shutdown.clone();
        if let Some(until) = *shutdown.borrow_and_update() {
            core.handle(Input::Shutdown { drain_until: until }, self.now());
        }
        let timer = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(timer);
        loop {
            self.pump(&mut core);
            if self.done {
                break;
            }
            let deadline = self
                .legs
                .values()
                .filter_map(|l| l.deadline())
                .chain(core.poll_timeout())
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            timer.as_mut().reset(deadline.into());
            tokio::select! {
                m = self.rx.recv() => match m {
                    Some(m) => self.on_sip(&mut core, m),
                    None => break,
                },
                Some(e) = self.media_rx.recv() => self.on_media(&mut core, e),
                Some(d) = self.acd_rx.recv() => core.handle(Input::Acd(d), self.now()),
                Ok(()) = shutdown.changed() => {
                    if let Some(until) = *shutdown.borrow_and_update() {
                        core.handle(Input::Shutdown { drain_until: until }, self.now());
                    }
                }
                _ = &mut timer => {
                    let now = self.now();
                    for l in self.legs.values_mut() {
                        l.on_timer(now.mono);
                    }
                    core.handle_timeout(now);
                }
            }
        }
        // What the legs still have to send (a BYE, a CANCEL); then stop routing to them.
        let mut events = Vec::new();
        for l in self.legs.values_mut() {
            l.drain(&self.ctx, &mut events);
        }
        for (call_id, leg) in &self.by_call_id {
            if *leg != CALLER {
                let _ = self.ctx.sip.send(SipCmd::Unbind {
                    call_id: call_id.clone(),
                });
            }
        }
    }

    /// Carry out what the core asks, and feed it what the legs report, until both are quiet.
    fn pump(&mut self, core: &mut Call) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(out) = core.poll() {
                moved = true;
                self.execute(out);
            }
            let mut events = Vec::new();
            for (&id, l) in self.legs.iter_mut() {
                let mut evs = Vec::new();
                moved |= l.drain(&self.ctx, &mut evs);
                events.extend(evs.into_iter().map(|e| (id, e)));
            }
            for (id, e) in events.iter_mut() {
                self.resolve_replaces(*id, e);
            }
            events.append(&mut self.inputs);
            for (leg, event) in events {
                moved = true;
                if self.trunk_failover(leg, &event) {
                    continue;
                }
                core.handle(Input::Leg { leg, event }, self.now());
            }
            if !moved {
                return;
            }
        }
        warn!("call driver did not settle");
    }

    /// A REFER with Replaces names a dialog by its Call-ID: which leg of this call that is.
    fn resolve_replaces(&mut self, leg: LegId, e: &mut LegEvent) {
        if let LegEvent::ConsultComplete { other, .. } = e {
            if let Some(Leg::Sip(l)) = self.legs.get_mut(&leg) {
                if let Some(call_id) = l.replaces.take() {
                    *other = self.by_call_id.get(&call_id).copied();
                }
            }
        }
    }

    fn execute(&mut self, out: Output) {
        match out {
            Output::Leg { leg, cmd } => self.leg_command(leg, cmd),
            Output::Originate { leg, req } => self.originate(leg, req),
            Output::Media(m) => self.media(m),
            Output::Acd(r) => self.acd(r),
            Output::FindContacts { agent } => {
                let _ = self.ctx.sip.send(SipCmd::Contacts {
                    agent,
                    reply: self.me.clone(),
                });
            }
            Output::Event(kind) => {
                if let Some(log) = self.log.as_mut() {
                    log.emit(kind);
                }
            }
            Output::Ended => self.done = true,
        }
    }

    fn leg_command(&mut self, leg: LegId, cmd: LegCommand) {
        let now = Instant::now();
        if leg == CALLER && !self.legs.contains_key(&CALLER) {
            match &cmd {
                LegCommand::Reject { status, headers } => {
                    let h: Vec<(&str, String)> = headers
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.clone()))
                        .collect();
                    self.respond_bare(*status, &h);
                    return;
                }
                LegCommand::Redirect { uri } => {
                    self.respond_bare(302, &[("Contact", format!("<{uri}>"))]);
                    return;
                }
                LegCommand::Hangup => {
                    self.respond_bare(480, &[]);
                    return;
                }
                LegCommand::Notify { .. } => return,
                LegCommand::Ring | LegCommand::Answer => {
                    if !self.open_caller_leg() {
                        return;
                    }
                }
            }
        }
        let caller_gone = self.legs.get(&CALLER).is_none_or(|l| l.is_ended());
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        let l = match l {
            Leg::Sip(l) => l,
            Leg::Desk(d) => {
                match cmd {
                    LegCommand::Hangup => d.hangup(if caller_gone { "caller" } else { "system" }),
                    LegCommand::Notify { status } => d.transfer_progress(status),
                    _ => {}
                }
                return;
            }
        };
        match cmd {
            LegCommand::Ring => l.ring(now),
            LegCommand::Answer => l.answer(now),
            LegCommand::Reject { status, headers } => {
                let h: Vec<(&str, String)> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.clone()))
                    .collect();
                l.reject(status, &h, now);
            }
            LegCommand::Redirect { uri } => l.reject(302, &[("Contact", format!("<{uri}>"))], now),
            LegCommand::Hangup => l.hangup(now),
            LegCommand::Notify { status } => l.refer_progress(status, now),
        }
    }

    /// The caller's leg: media first (the SDP answer names its port), then the UAS.
    fn open_caller_leg(&mut self) -> bool {
        let Some((tx, invite, flow)) = self.invite.take() else {
            return false;
        };
        let media = match self
            .ctx
            .media
            .open(self.shard, self.media_tx.clone(), CALLER)
        {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "no RTP port for a new call");
                self.invite = Some((tx, invite, flow));
                self.respond_bare(503, &[("Retry-After", "5".into())]);
                self.inputs.push((
                    CALLER,
                    LegEvent::Refused {
                        status: 503,
                        outcome: "rejected:no-media",
                    },
                ));
                return false;
            }
        };
        let cfg = self.inbound_cfg(flow, media.local_port());
        match InboundLeg::new(tx, (*invite).clone(), flow, cfg, self.rng.fork()) {
            Ok(leg) => {
                self.legs.insert(
                    CALLER,
                    Leg::Sip(Box::new(LegIo::new(SipLeg::In(leg), media))),
                );
                true
            }
            Err(refusal) => {
                debug!(status = refusal.status, reason = %refusal.reason, "refusing INVITE");
                let warning = format!("399 centrale \"{}\"", refusal.reason.replace('"', "'"));
                self.invite = Some((tx, invite, flow));
                let mut extra = vec![("Warning", warning)];
                extra.extend(refusal.headers.iter().cloned());
                self.respond_bare(refusal.status, &extra);
                let outcome = if refusal.status == 422 {
                    "rejected:session-interval"
                } else {
                    "rejected:media"
                };
                self.inputs.push((
                    CALLER,
                    LegEvent::Refused {
                        status: refusal.status,
                        outcome,
                    },
                ));
                false
            }
        }
    }

    /// A final response to the caller's INVITE without a leg (refusals, redirects).
    fn respond_bare(&mut self, status: u16, extra: &[(&str, String)]) {
        let Some((tx, invite, _)) = self.invite.take() else {
            return;
        };
        self.respond_to(tx, &invite, status, extra);
    }

    /// A final response to an INVITE no leg was made for.
    fn respond_to(&mut self, tx: TxId, invite: &InRequest, status: u16, extra: &[(&str, String)]) {
        let mut b = builder::response(&invite.req, status, Some(&self.rng.token()));
        for (n, v) in extra {
            b.push_header(n, v);
        }
        let _ = self.ctx.sip.send(SipCmd::Respond {
            tx,
            status,
            bytes: b.finish(),
        });
    }

    /// The phone of `agent` calls a colleague while this call has their caller: the core
    /// takes it as its consultation leg, or it is refused (403).
    fn consultation(
        &mut self,
        core: &mut Call,
        tx: TxId,
        invite: Box<InRequest>,
        flow: Flow,
        agent: &str,
    ) {
        let to = crate::sip::message::dialled_user(&invite.req.uri);
        let call_id = invite.ids.call_id.clone();
        let leg = match core.consult_from_phone(agent, &to, self.now()) {
            Ok(leg) => leg,
            Err(why) => {
                debug!(%agent, %to, %why, "consultation refused");
                let warning = format!("399 centrale \"{why}\"");
                self.respond_to(tx, &invite, 403, &[("Warning", warning)]);
                let _ = self.ctx.sip.send(SipCmd::Unbind { call_id });
                return;
            }
        };
        let media = match self.ctx.media.open(self.shard, self.media_tx.clone(), leg) {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "no RTP port for a consultation");
                self.respond_to(tx, &invite, 503, &[("Retry-After", "5".into())]);
                self.inputs
                    .push((leg, LegEvent::Ended(crate::call::LegEnd::Rejected(503))));
                return;
            }
        };
        let cfg = self.inbound_cfg(flow, media.local_port());
        match InboundLeg::new(tx, (*invite).clone(), flow, cfg, self.rng.fork()) {
            Ok(l) => {
                self.by_call_id.insert(call_id, leg);
                self.legs
                    .insert(leg, Leg::Sip(Box::new(LegIo::new(SipLeg::In(l), media))));
            }
            Err(refusal) => {
                let warning = format!("399 centrale \"{}\"", refusal.reason.replace('"', "'"));
                self.respond_to(tx, &invite, refusal.status, &[("Warning", warning)]);
                let end = crate::call::LegEnd::Rejected(refusal.status);
                self.inputs.push((leg, LegEvent::Ended(end)));
            }
        }
    }

    fn inbound_cfg(&self, flow: Flow, media_port: u16) -> LegConfig {
        LegConfig {
            sent_by: self.ctx.sent_by(flow),
            media_ip: self.ctx.media_ip(),
            media_port,
            timers: self.ctx.timers,
            min_se: self.ctx.cfg.sip.min_se,
        }
    }

    fn originate(&mut self, leg: LegId, req: Originate) {
        let agent = req.agent.clone();
        if let Dial::Contact(Contact::Desk { session }) = &req.dial {
            self.offer_desk(leg, *session, req.context);
            return;
        }
        if let Dial::Uri(uri) = &req.dial {
            match self.ctx.trunks.parse_dial(uri) {
                None => {}
                Some(Err(why)) => {
                    warn!(%why, "cannot dial through a trunk");
                    self.inputs.push((leg, LegEvent::Failed { status: 503 }));
                    return;
                }
                Some(Ok((chain, number))) => {
                    self.trunk_tries.insert(
                        leg,
                        TrunkTry {
                            req,
                            number,
                            rest: chain,
                        },
                    );
                    self.next_trunk(leg);
                    return;
                }
            }
        }
        let (request_uri, dest, symmetric) = match &req.dial {
            Dial::Uri(uri) => (uri.clone(), dest_for(&self.ctx, uri), false),
            // Down the flow the phone registered from (NAT-safe), answering there too.
            Dial::Contact(Contact::Sip { uri, flow }) => (uri.clone(), Some(*flow), true),
            Dial::Contact(Contact::Desk { .. }) => return,
        };
        let sip = uac::Originate {
            to: req.to.unwrap_or_else(|| request_uri.clone()),
            request_uri,
            from_user: req.from_user,
            from_display: req.from_display,
            headers: req.headers,
            // Keys only over TLS; the agent's own policy, else the server's.
            srtp: dest
                .filter(|f| f.transport == TransportKind::Tls)
                .and_then(|_| {
                    agent
                        .as_deref()
                        .and_then(|a| self.ctx.call.agents.srtp(a))
                        .unwrap_or(self.ctx.cfg.sip.srtp)
                        .offer()
                }),
            dest,
            symmetric,
            auth: None,
        };
        self.place(leg, sip, agent);
    }

    /// Open the leg's media and send its INVITE.
    fn place(&mut self, leg: LegId, sip: uac::Originate, agent: Option<String>) {
        let media = match self.ctx.media.open(self.shard, self.media_tx.clone(), leg) {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "no RTP port for a new leg");
                self.inputs.push((leg, LegEvent::Failed { status: 503 }));
                return;
            }
        };
        // With no address yet (a name to resolve), the URI says how the request travels.
        let transport = sip.dest.map(|f| f.transport).unwrap_or_else(|| {
            crate::sip::dns::SipTarget::from_uri(&sip.request_uri)
                .map_or(TransportKind::Udp, |t| t.default_transport())
        });
        let Some(local) = self.ctx.transports.local_for_outbound(transport) else {
            warn!("no SIP socket for the new leg");
            self.inputs.push((leg, LegEvent::Failed { status: 503 }));
            return;
        };
        let flow = sip.dest.unwrap_or(Flow {
            transport,
            local,
            remote: local,
            conn: 0,
        });
        let sent_by = self.ctx.sent_by(flow);
        let cfg = LegConfig {
            sent_by: sent_by.clone(),
            media_ip: self.ctx.media_ip(),
            media_port: media.local_port(),
            timers: self.ctx.timers,
            min_se: self.ctx.cfg.sip.min_se,
        };
        let host = sent_by
            .rsplit_once(':')
            .map(|(h, _)| h.to_string())
            .unwrap_or(sent_by);
        let out = OutboundLeg::invite(sip, cfg, &host, self.rng.fork());
        let call_id = out.call_id().to_string();
        let _ = self.ctx.sip.send(SipCmd::Bind {
            call_id: call_id.clone(),
            to: self.me.clone(),
            agent,
        });
        self.by_call_id.insert(call_id, leg);
        self.legs
            .insert(leg, Leg::Sip(Box::new(LegIo::new(SipLeg::Out(out), media))));
    }

    /// Ring an agent's desktop: the offer (and screen pop) goes over its WebSocket.
    fn offer_desk(
        &mut self,
        leg: LegId,
        session: u64,
        context: Option<Box<crate::call::OfferContext>>,
    ) {
        let Some(desk) = self.desks.get(&session).cloned() else {
            self.inputs.push((leg, LegEvent::Failed { status: 480 }));
            return;
        };
        let key = format!(
            "{}/{leg}",
            self.log.as_ref().map(|l| l.call.as_str()).unwrap_or("")
        );
        let pop = context.unwrap_or_default();
        let d = DeskLeg::offer(desk, key.clone(), self.me.clone(), pop);
        self.by_call_id.insert(key, leg);
        self.legs.insert(leg, Leg::Desk(d));
    }

    fn media(&mut self, m: MediaCommand) {
        match m {
            MediaCommand::Play {
                leg,
                prompts,
                token,
                looping,
            } => {
                let items: Vec<_> = prompts
                    .iter()
                    .filter_map(|s| {
                        if s.id == crate::storm::PROMPT_ID {
                            // Switched off since: nothing (an empty play ends at once).
                            let now = self.ctx.wall_now().as_millisecond();
                            return self.ctx.storm.prompt(s.lang, now);
                        }
                        let p = self.prompts.get(&s.id, s.lang);
                        if p.is_none() {
                            warn!(prompt = %s.id, lang = %s.lang, "prompt missing at play time");
                        }
                        p
                    })
                    .collect();
                if let Some(media) = self.legs.get(&leg).and_then(|l| l.media()) {
                    media.play(items, token, looping);
                }
            }
            MediaCommand::Stop { leg } => {
                if let Some(media) = self.legs.get(&leg).and_then(|l| l.media()) {
                    media.stop();
                }
            }
            MediaCommand::Bridge { a, b } => {
                let ma = self.legs.get(&a).and_then(|l| l.media());
                let mb = self.legs.get(&b).and_then(|l| l.media());
                if let (Some(ma), Some(mb)) = (ma, mb) {
                    ma.bridge(mb);
                }
            }
            MediaCommand::Unbridge { leg } => {
                if let Some(media) = self.legs.get(&leg).and_then(|l| l.media()) {
                    media.unbridge();
                }
            }
            MediaCommand::RecordStart { leg, max_seconds } => {
                if let Some(media) = self.legs.get(&leg).and_then(|l| l.media()) {
                    media.record_start(max_seconds);
                }
            }
            MediaCommand::RecordStop { leg, name } => {
                match self.legs.get(&leg).and_then(|l| l.media()) {
                    Some(media) => {
                        self.recording_name = Some(name);
                        media.record_stop();
                    }
                    // The leg's media is gone with the leg: nothing was kept.
                    None => self.inputs.push((
                        leg,
                        LegEvent::Recorded {
                            file: None,
                            seconds: 0,
                        },
                    )),
                }
            }
        }
    }

    fn acd(&mut self, r: AcdRequest) {
        let cmd = match r {
            AcdRequest::Queue(input) => AcdCmd::Queue {
                input,
                to: self.acd_tx.clone(),
            },
            AcdRequest::Input(i) => AcdCmd::Input(i),
            AcdRequest::Route(call) => AcdCmd::Route {
                call,
                to: self.acd_tx.clone(),
            },
            AcdRequest::Forget(call) => AcdCmd::Forget(call),
            AcdRequest::CallbackLog {
                call,
                uid,
                queue,
                lang,
            } => AcdCmd::CallbackLog {
                call,
                uid,
                queue,
                lang,
            },
            AcdRequest::WrapupLog { agent, uid } => AcdCmd::WrapupLog { agent, uid },
        };
        self.ctx.acd(cmd);
    }

    fn on_sip(&mut self, core: &mut Call, m: ToCall) {
        let now = Instant::now();
        let call_id = match &m {
            ToCall::Request { req, .. } | ToCall::Ack { req } => req.ids.call_id.clone(),
            ToCall::Response { resp, .. } => resp.ids.call_id.clone(),
            ToCall::TimedOut { call_id, .. } => call_id.clone(),
            ToCall::Cancelled { call_id } => call_id.clone(),
            ToCall::Contacts {
                agent,
                bindings,
                desks,
            } => {
                let agent = agent.clone();
                let mut contacts: Vec<Contact> = bindings
                    .iter()
                    .cloned()
                    .map(|b| Contact::Sip {
                        uri: b.uri,
                        flow: b.flow,
                    })
                    .collect();
                for d in desks {
                    contacts.push(Contact::Desk { session: d.session });
                    self.desks.insert(d.session, d.clone());
                }
                core.handle(Input::Contacts { agent, contacts }, self.now());
                return;
            }
            ToCall::Consult {
                tx,
                req,
                flow,
                agent,
            } => {
                self.consultation(core, *tx, req.clone(), *flow, agent);
                return;
            }
            ToCall::Desk { leg, msg } => {
                let Some(&id) = self.by_call_id.get(leg) else {
                    return;
                };
                let msg = msg.clone();
                if let Some(Leg::Desk(d)) = self.legs.get_mut(&id) {
                    d.on_desk(msg, &self.ctx, self.shard, &self.media_tx, id);
                }
                return;
            }
        };
        let Some(&leg) = self.by_call_id.get(&call_id) else {
            return;
        };
        if let Some(Leg::Sip(l)) = self.legs.get_mut(&leg) {
            l.on_message(m, now);
        }
    }

    fn on_media(&mut self, core: &mut Call, e: MediaEvent) {
        let event = match e.kind {
            MediaEventKind::Digit { digit, source } => LegEvent::Digit { digit, source },
            MediaEventKind::PlayFinished { token } => LegEvent::PlayFinished { token },
            MediaEventKind::Recorded { pcm } => self.save_recording(&pcm),
            MediaEventKind::Connected | MediaEventKind::Lost => {
                if let Some(Leg::Desk(d)) = self.legs.get_mut(&e.leg) {
                    if e.kind == MediaEventKind::Connected {
                        d.on_media_up();
                    } else {
                        d.on_media_lost();
                    }
                }
                return;
            }
        };
        core.handle(Input::Leg { leg: e.leg, event }, self.now());
    }

    /// Write a voice message: `<recordings>/<name>.wav`, 8 kHz 16-bit mono.
    fn save_recording(&mut self, pcm: &[i16]) -> LegEvent {
        let Some(name) = self.recording_name.take() else {
            return LegEvent::Recorded {
                file: None,
                seconds: 0,
            };
        };
        let dir = self.ctx.cfg.paths.recordings.clone();
        let file = dir.join(format!("{name}.wav"));
        let seconds = (pcm.len() / 8000) as u32;
        match crate::media::wav::write(&dir, &file, pcm) {
            Ok(()) => {
                tracing::info!(file = %file.display(), seconds, "voice message recorded");
                LegEvent::Recorded {
                    file: Some(file.display().to_string()),
                    seconds,
                }
            }
            Err(e) => {
                warn!(file = %file.display(), error = %e, "cannot save a voice message");
                LegEvent::Recorded {
                    file: None,
                    seconds,
                }
            }
        }
    }
}
