//! One task per call. It owns the caller's leg (sans-IO UAS), the call's media, the IVR
//! interpreter and any legs we originate for it (a transfer target, an agent's phones), moves
//! bytes and timers for them, and writes the call's events.
//!
//! Routing order, emergencies first: the configured emergency numbers, then agents' feature
//! codes, then the plan's misdial rules, then its entry numbers.
//!
//! Files: this one (setup, the loop, the caller's leg, the IVR), `legs` (B-legs: transfers,
//! agent offers, bridging), `queued` (waiting for an agent with the ACD), `record` (voicemail),
//! `feature` (agents' feature codes).

mod feature;
pub(crate) mod legs;
mod queued;
mod record;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{debug, info, warn, Instrument};

use super::sip_driver::{SipCmd, ToCall};
use super::Ctx;
use crate::dialplan::model::{normalize_number, Plan, Route, Target, TargetKind};
use crate::event::{new_call_uid, now_ms, CallLog, EventKind};
use crate::ivr::{Action, Ivr, IvrEvent, Now};
use crate::media::prompt::Lang;
use crate::media::session::{DigitSource, MediaInput, MediaParams, MediaSession};
use crate::sip::builder;
use crate::sip::endpoint::TxId;
use crate::sip::flow::Flow;
use crate::sip::message::{dialled_user, InRequest};
use crate::sip::sdp::Negotiated;
use crate::sip::uas::{EndCause, InboundLeg, LegConfig, LegOutput, LegState};
pub use legs::BLeg;

pub fn spawn(
    ctx: Arc<Ctx>,
    tx: TxId,
    invite: Box<InRequest>,
    flow: Flow,
    rx: mpsc::Receiver<ToCall>,
    me: mpsc::Sender<ToCall>,
) {
    let span = tracing::info_span!("call", call_id = %invite.ids.call_id);
    ctx.stats.live_calls.fetch_add(1, Ordering::Relaxed);
    ctx.stats.calls_total.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(
        async move {
            let call_id = invite.ids.call_id.clone();
            run(ctx.clone(), tx, invite, flow, rx, me).await;
            let _ = ctx.sip.send(SipCmd::Unbind { call_id });
            ctx.stats.live_calls.fetch_sub(1, Ordering::Relaxed);
        }
        .instrument(span),
    );
}

/// Where a new call goes, decided before answering.
enum Decision {
    Reject(u16, Vec<(&'static str, String)>, String),
    Redirect(Target),
    Feature(String),
    Transfer(Arc<Plan>, Target),
    Ivr(Arc<Plan>, usize),
}

fn decide(ctx: &Ctx, dialled: &str, flow: Flow) -> Decision {
    let n = normalize_number(dialled);
    // The emergency path first, from the server config: no plan can break it.
    if ctx
        .cfg
        .emergency
        .numbers
        .iter()
        .any(|e| normalize_number(e) == n)
    {
        return Decision::Redirect(Target {
            name: "911".into(),
            kind: TargetKind::Redirect,
            uri: ctx.cfg.emergency.uri.clone(),
            label: "emergency".into(),
        });
    }
    if n.starts_with('*') && feature::is_agent_phone(ctx, flow) {
        return Decision::Feature(n);
    }
    let Some(plan) = ctx.plans.current() else {
        return Decision::Reject(
            503,
            vec![("Retry-After", "30".into())],
            "no-dial-plan".into(),
        );
    };
    match plan.route(&n) {
        Route::Exit(t) if t.kind == TargetKind::Redirect => Decision::Redirect(t.clone()),
        Route::Exit(t) => {
            let t = t.clone();
            Decision::Transfer(plan, t)
        }
        Route::Entry(node) => Decision::Ivr(plan, node),
        Route::Unknown => Decision::Reject(404, vec![], "unknown-number".into()),
    }
}

async fn run(
    ctx: Arc<Ctx>,
    tx: TxId,
    invite: Box<InRequest>,
    flow: Flow,
    rx: mpsc::Receiver<ToCall>,
    me: mpsc::Sender<ToCall>,
) {
    let start_ms = now_ms();
    let uid = new_call_uid(start_ms);
    let mut log = CallLog::new(uid, ctx.events.clone());
    let dialled = dialled_user(&invite.req.uri);
    let decision = decide(&ctx, &dialled, flow);
    let plan_version = match &decision {
        Decision::Ivr(p, _) | Decision::Transfer(p, _) => p.version.clone(),
        _ => ctx
            .plans
            .current()
            .map(|p| p.version.clone())
            .unwrap_or_default(),
    };
    let caller = from_user(&invite);
    log.emit_at(
        start_ms,
        EventKind::CallStarted {
            sip_call_id: invite.ids.call_id.clone(),
            from: caller.clone(),
            to: dialled.clone(),
            transport: flow.transport.to_string(),
            plan_version,
        },
    );
    info!(to = %dialled, from = %caller, "new call");

    // Refusals and redirects need no media.
    match &decision {
        Decision::Reject(status, extra, outcome) => {
            respond_bare(&ctx, tx, &invite, *status, extra);
            end_log(&mut log, outcome, "system", &status.to_string());
            return;
        }
        Decision::Redirect(t) => {
            let extra = vec![("Contact", format!("<{}>", t.uri))];
            respond_bare(&ctx, tx, &invite, 302, &extra);
            log.emit(EventKind::Redirected {
                target: t.name.clone(),
                uri: t.uri.clone(),
            });
            end_log(&mut log, &t.outcome(false), "system", "302");
            return;
        }
        _ => {}
    }

    let media = match MediaSession::open(&ctx.ports, &ctx.pacer, ctx.cfg.media.symmetric_rtp) {
        Ok(m) => m,
        Err(e) => {
            warn!(error = %e, "no RTP port for a new call");
            respond_bare(&ctx, tx, &invite, 503, &[("Retry-After", "5".into())]);
            end_log(&mut log, "rejected:no-media", "system", "503");
            return;
        }
    };
    let cfg = LegConfig {
        sent_by: ctx.sent_by(flow),
        media_ip: ctx.media_ip(),
        media_port: media.local_port(),
        timers: ctx.timers,
    };
    let leg = match InboundLeg::new(tx, (*invite).clone(), flow, cfg) {
        Ok(l) => l,
        Err(refusal) => {
            debug!(status = refusal.status, reason = %refusal.reason, "refusing INVITE");
            let warning = format!("399 centrale \"{}\"", refusal.reason.replace('"', "'"));
            respond_bare(&ctx, tx, &invite, refusal.status, &[("Warning", warning)]);
            end_log(
                &mut log,
                "rejected:media",
                "system",
                &refusal.status.to_string(),
            );
            return;
        }
    };
    let mut call = Call {
        flow,
        caller_display: from_display(&invite),
        caller,
        me,
        legs: Vec::new(),
        bridged: false,
        queued: None,
        recording: None,
        ctx: ctx.clone(),
        log,
        leg,
        media,
        ivr: None,
        rx,
        outcome: None,
        side: "caller",
        cause: String::new(),
        deadline_max: Instant::now() + Duration::from_secs(ctx.cfg.limits.max_call_seconds),
        answered: false,
        last_media: None,
        pending: None,
        feature_done: None,
    };
    let delay = Duration::from_millis(ctx.cfg.sip.answer_delay_ms);
    let start = match decision {
        Decision::Ivr(plan, node) => Start::Ivr(plan, node),
        Decision::Transfer(plan, target) => Start::Transfer(plan, target),
        Decision::Feature(code) => Start::Feature(code),
        Decision::Reject(..) | Decision::Redirect(_) => return,
    };
    if delay.is_zero() {
        call.start(start);
    } else {
        call.leg.ringing(Instant::now());
        call.pending = Some((Instant::now() + delay, start));
    }
    call.run().await;
}

fn from_user(invite: &InRequest) -> String {
    use rsipstack::sip::HeadersExt;
    invite
        .req
        .from_header()
        .ok()
        .and_then(|h| rsipstack::sip::typed::From::parse(h.value()).ok())
        .map(|f| {
            f.uri
                .user()
                .map(str::to_string)
                .unwrap_or_else(|| f.uri.to_string())
        })
        .unwrap_or_default()
}

fn from_display(invite: &InRequest) -> Option<String> {
    use rsipstack::sip::HeadersExt;
    invite
        .req
        .from_header()
        .ok()
        .and_then(|h| rsipstack::sip::typed::From::parse(h.value()).ok())
        .and_then(|f| f.display_name)
        .filter(|d| !d.is_empty())
}

fn respond_bare(ctx: &Ctx, tx: TxId, invite: &InRequest, status: u16, extra: &[(&str, String)]) {
    let mut b = builder::response(&invite.req, status, Some(&builder::token()));
    for (n, v) in extra {
        b.push_header(n, v);
    }
    let _ = ctx.sip.send(SipCmd::Respond {
        tx,
        status,
        bytes: b.finish(),
    });
}

fn end_log(log: &mut CallLog, outcome: &str, side: &str, cause: &str) {
    log.emit(EventKind::CallEnded {
        outcome: outcome.to_string(),
        side: side.to_string(),
        cause: cause.to_string(),
    });
}

/// What an answered call does first.
enum Start {
    Ivr(Arc<Plan>, usize),
    Transfer(Arc<Plan>, Target),
    Feature(String),
}

struct Call {
    ctx: Arc<Ctx>,
    /// The path the caller's INVITE came on.
    flow: Flow,
    /// Our own inbox, for the Call-IDs of the legs we originate.
    me: mpsc::Sender<ToCall>,
    log: CallLog,
    leg: InboundLeg,
    media: MediaSession,
    ivr: Option<Ivr>,
    rx: mpsc::Receiver<ToCall>,
    caller: String,
    caller_display: Option<String>,
    /// Legs we originated: ringing (several phones of one agent ring together) or, once one
    /// answers, that one alone at index 0 and `bridged`.
    legs: Vec<BLeg>,
    bridged: bool,
    queued: Option<queued::Queued>,
    recording: Option<record::Recording>,
    outcome: Option<String>,
    side: &'static str,
    cause: String,
    deadline_max: Instant,
    answered: bool,
    last_media: Option<Negotiated>,
    /// Ringing before we answer: when, and what then.
    pending: Option<(Instant, Start)>,
    /// A feature-code call hangs up after its confirmation prompt.
    feature_done: Option<u64>,
}

impl Call {
    fn now(&self) -> Now {
        Now {
            mono: Instant::now(),
            wall: self.ctx.wall_now(),
        }
    }

    /// The caller's language (the plan's default until they choose).
    fn lang(&self) -> Lang {
        self.ivr.as_ref().map(|i| i.language()).unwrap_or(Lang::Fr)
    }

    fn start(&mut self, start: Start) {
        self.answer();
        match start {
            Start::Ivr(plan, node) => {
                let mut ivr = Ivr::new(plan);
                ivr.start(node, self.now());
                self.ivr = Some(ivr);
            }
            Start::Transfer(plan, target) => {
                // A misdial with a transfer target: answered, then bridged like a menu transfer.
                self.ivr = Some(Ivr::new(plan));
                self.start_transfer(target);
            }
            Start::Feature(code) => self.feature_code(&code),
        }
    }

    fn answer(&mut self) {
        self.leg.answer(Instant::now());
        self.answered = true;
        self.log.emit(EventKind::Answered);
    }

    async fn run(mut self) {
        loop {
            self.pump();
            if matches!(self.leg.state(), LegState::Ended | LegState::Ending) {
                break;
            }
            let deadline = self.deadline();
            let Call {
                rx,
                media,
                legs,
                bridged,
                queued,
                ..
            } = &mut self;
            // Only a bridged leg's media matters: ringing legs' early media is ignored.
            let bridged_media = async {
                match legs.first_mut().filter(|_| *bridged) {
                    Some(b) => b.media.next().await,
                    None => std::future::pending().await,
                }
            };
            let from_acd = async {
                match queued.as_mut() {
                    Some(q) => q.rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                m = rx.recv() => match m {
                    Some(m) => self.on_sip(m),
                    None => break,
                },
                input = media.next() => self.on_media(input),
                input = bridged_media => self.on_bridged_media(input),
                msg = from_acd => if let Some(msg) = msg { self.on_acd(msg) },
                _ = tokio::time::sleep_until(deadline.into()) => self.on_timer(),
            }
        }
        self.finish();
    }

    fn deadline(&self) -> Instant {
        let mut d = [
            self.leg.deadline(),
            self.ivr.as_ref().and_then(|i| i.deadline()),
            Some(self.media.deadline()),
            self.pending.as_ref().map(|p| p.0),
            self.recording.as_ref().map(|r| r.until),
            Some(self.deadline_max),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(self.deadline_max);
        for b in &self.legs {
            if let Some(x) = b.leg.deadline() {
                d = d.min(x);
            }
            d = d.min(b.media.deadline());
        }
        d
    }

    /// The caller's leg is over: end everything else and write the last event.
    fn finish(&mut self) {
        self.end_legs();
        self.leave_queue("abandoned");
        if self.recording.is_some() {
            self.record_stop();
        }
        self.pump();
        let outcome = self.outcome.take().unwrap_or_else(|| {
            if self.answered {
                "abandoned:ivr".to_string()
            } else {
                "abandoned:before-answer".to_string()
            }
        });
        let side = self.side;
        let cause = std::mem::take(&mut self.cause);
        end_log(&mut self.log, &outcome, side, &cause);
        info!(%outcome, side, "call ended");
    }

    fn on_sip(&mut self, m: ToCall) {
        let now = Instant::now();
        let call_id = match &m {
            ToCall::Request { req, .. } | ToCall::Ack { req } => Some(req.ids.call_id.as_str()),
            ToCall::Response { resp, .. } => Some(resp.ids.call_id.as_str()),
            ToCall::TimedOut { call_id, .. } => Some(call_id.as_str()),
            ToCall::Cancelled => None,
        };
        if let Some(i) = call_id.and_then(|c| self.legs.iter().position(|b| b.call_id() == c)) {
            let b = &mut self.legs[i].leg;
            match m {
                ToCall::Request { tx, req, .. } => b.on_request(tx, &req, now),
                ToCall::Ack { req } => b.on_ack(&req),
                ToCall::Response { resp, flow, .. } => b.on_response(&resp, flow, now),
                ToCall::TimedOut { method, server, .. } => b.on_tx_timeout(method, server),
                ToCall::Cancelled => {}
            }
            return;
        }
        match m {
            ToCall::Request { tx, req, .. } => self.leg.on_request(tx, &req, now),
            ToCall::Ack { req } => self.leg.on_ack(&req, now),
            ToCall::Cancelled => self.leg.on_cancelled(now),
            ToCall::Response { resp, .. } => self.leg.on_response(&resp),
            ToCall::TimedOut { method, server, .. } => self.leg.on_tx_timeout(method, server),
        }
    }

    fn on_bridged_media(&mut self, input: MediaInput) {
        if let MediaInput::Relay(p) = input {
            self.media.send_relayed(&p);
        }
    }

    fn on_media(&mut self, input: MediaInput) {
        match input {
            MediaInput::Relay(p) => {
                if let Some(b) = self.legs.first_mut().filter(|_| self.bridged) {
                    b.media.send_relayed(&p);
                }
            }
            MediaInput::Digit(d, source) => self.on_digit(d, source),
            MediaInput::PlayFinished(token) => self.on_play_finished(token),
            MediaInput::Nothing => {}
        }
    }

    fn on_play_finished(&mut self, token: u64) {
        if self.feature_done == Some(token) {
            self.outcome = Some("feature-code".into());
            self.side = "system";
            self.leg.hangup(Instant::now());
            return;
        }
        if self.queued.is_some() {
            self.queued_play_finished(token);
            return;
        }
        let now = self.now();
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.on_play_finished(token, now);
        }
    }

    fn on_digit(&mut self, d: char, source: DigitSource) {
        debug!(digit = %d, source = source.as_str(), "digit");
        self.log.emit(EventKind::Digit {
            digit: d.to_string(),
            source: source.as_str().to_string(),
        });
        if self.recording.is_some() {
            if d == '#' {
                self.record_stop();
            }
            return;
        }
        if self.queued.is_some() {
            self.queued_digit(d);
            return;
        }
        let now = self.now();
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.on_digit(d, now);
        }
    }

    fn on_timer(&mut self) {
        let now = self.now();
        if now.mono >= self.deadline_max {
            warn!("call exceeded the maximum duration; ending it");
            self.outcome
                .get_or_insert_with(|| "ended:max-duration".into());
            self.side = "system";
            self.leg.hangup(now.mono);
            return;
        }
        self.leg.on_timer(now.mono);
        if self.pending.as_ref().is_some_and(|p| p.0 <= now.mono) {
            if let Some((_, start)) = self.pending.take() {
                if self.leg.state() == LegState::Early {
                    self.start(start);
                }
            }
        }
        if self.recording.as_ref().is_some_and(|r| r.until <= now.mono) {
            self.record_stop();
        }
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.on_timer(now);
        }
        self.media.on_timer(now.mono);
        for b in &mut self.legs {
            b.leg.on_timer(now.mono);
            b.media.on_timer(now.mono);
        }
    }

    /// Move everything the sans-IO parts produced.
    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut progressed = false;
            while let Some(out) = self.leg.poll() {
                progressed = true;
                self.on_leg_output(out);
            }
            while let Some(a) = self.ivr.as_mut().and_then(|i| i.poll()) {
                progressed = true;
                self.on_action(a);
            }
            progressed |= self.pump_legs();
            if !progressed {
                return;
            }
        }
    }

    fn send_sip(&self, call_id: &str, out: LegOutput) {
        legs::send_leg_output(&self.ctx, call_id, out);
    }

    fn on_leg_output(&mut self, out: LegOutput) {
        match out {
            LegOutput::Media(n) => {
                let was_sending = self.last_media.as_ref().map(|n| n.may_send());
                self.media.apply(params(&n));
                match (was_sending, n.may_send()) {
                    (Some(true), false) => self.log.emit(EventKind::Hold),
                    (Some(false), true) => self.log.emit(EventKind::Resume),
                    _ => {}
                }
                self.last_media = Some(n);
            }
            LegOutput::Dtmf(d) => self.on_digit(d, DigitSource::Info),
            LegOutput::Ended(cause) => self.on_leg_ended(cause),
            LegOutput::Ringing | LegOutput::Answered => {}
            other => {
                let id = self.leg.call_id().to_string();
                self.send_sip(&id, other);
            }
        }
    }

    fn on_leg_ended(&mut self, cause: EndCause) {
        let (side, text) = match &cause {
            EndCause::RemoteBye => ("caller", "bye".to_string()),
            EndCause::Cancelled => ("caller", "cancel".to_string()),
            EndCause::LocalBye => ("system", "bye".to_string()),
            EndCause::Rejected(s) => ("system", s.to_string()),
            EndCause::NoAck => ("system", "no-ack".to_string()),
            EndCause::BadAck => ("system", "bad-ack".to_string()),
            EndCause::Failed(s) => ("system", s.to_string()),
        };
        // The caller leaving decides the side; otherwise whoever set it (agent, transfer).
        if side == "caller" || self.side == "caller" {
            self.side = side;
        }
        self.cause = text;
        if matches!(cause, EndCause::NoAck) {
            self.outcome.get_or_insert_with(|| "failed:no-ack".into());
        }
    }

    fn on_action(&mut self, a: Action) {
        match a {
            Action::Play { token, prompts, .. } => {
                let items: Vec<_> = prompts
                    .iter()
                    .filter_map(|s| {
                        let p = self.ctx.prompts.get(&s.id, s.lang);
                        if p.is_none() {
                            warn!(prompt = %s.id, lang = %s.lang, "prompt missing at play time");
                        }
                        p
                    })
                    .collect();
                self.media.play(items, token, false);
            }
            Action::StopPlay => self.media.stop(),
            Action::Event(ev) => self.log.emit(ivr_event(ev)),
            Action::Transfer { target } => self.start_transfer(target),
            Action::Enqueue {
                queue,
                lang,
                path,
                vars,
                ..
            } => self.enqueue(queue, lang, path, vars),
            Action::Record { max_seconds } => self.record_start(max_seconds),
            Action::Hangup { outcome } => {
                self.outcome = Some(outcome);
                self.side = "system";
                self.leg.hangup(Instant::now());
            }
        }
    }

    /// Play prompts by id in the caller's language (announcements, confirmations).
    fn say(&mut self, ids: &[String], token: u64, looping: bool) {
        let lang = self.lang();
        let items: Vec<_> = ids
            .iter()
            .filter_map(|id| self.ctx.prompts.get(id, lang))
            .collect();
        self.media.play(items, token, looping);
    }
}

pub(crate) fn params(n: &Negotiated) -> MediaParams {
    MediaParams {
        law: n.law,
        payload_type: n.payload_type,
        dtmf_pt: n.dtmf_pt,
        remote_rtp: n.remote_rtp,
        remote_rtcp: n.remote_rtcp,
        send: n.may_send(),
    }
}

pub fn ivr_event(ev: IvrEvent) -> EventKind {
    match ev {
        IvrEvent::NodeEntered { node, kind } => EventKind::NodeEntered {
            node,
            kind: kind.to_string(),
        },
        IvrEvent::PromptPlayed { prompt, lang } => EventKind::PromptPlayed {
            prompt,
            lang: lang.to_string(),
        },
        IvrEvent::MenuChoice { node, digit, next } => EventKind::MenuChoice {
            node,
            digit: digit.to_string(),
            next,
        },
        IvrEvent::MenuInvalid { node, digit } => EventKind::MenuInvalid {
            node,
            digit: digit.to_string(),
        },
        IvrEvent::MenuTimeout { node } => EventKind::MenuTimeout { node },
        IvrEvent::LanguageChosen { lang } => EventKind::LanguageChosen {
            lang: lang.to_string(),
        },
        IvrEvent::BranchTaken {
            node,
            condition,
            taken,
            reason,
        } => EventKind::BranchTaken {
            node,
            condition,
            taken,
            reason,
        },
        IvrEvent::EmergencyEscape { node } => EventKind::EmergencyEscape { node },
        IvrEvent::Collected { variable, digits } => EventKind::Collected { variable, digits },
    }
}
