//! Where a new call goes, decided before answering, emergencies first: the configured
//! emergency numbers (no plan can break them), then agents' feature codes (only from a
//! registered phone), then the plan's misdial rules, then its entry numbers.

use std::sync::Arc;

use super::{Call, CallConfig, Leg, LegCommand, Output, Phase, Role, Start, CALLER};
use crate::acd;
use crate::dialplan::model::{normalize_number, Plan, Route, Target, TargetKind};
use crate::event::EventKind;
use crate::ivr::Now;

/// A call that reached us.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub uid: String,
    /// The ACD's id, should the call queue.
    pub acd_id: acd::CallId,
    /// The dialled number (Request-URI user).
    pub dialled: String,
    pub caller: String,
    pub caller_display: Option<String>,
    /// For the log: the signalling's own id and transport.
    pub sip_call_id: String,
    pub transport: String,
    /// The plan version current when the call arrived (the call keeps it).
    pub plan: Option<Arc<Plan>>,
    /// The agent whose registered phone this call comes from, if any.
    pub agent_phone: Option<String>,
    /// The storm message in force when the call arrived, and who hears it.
    pub storm: Option<crate::ivr::StormScope>,
}

/// The decision.
enum Decision {
    Reject(u16, Vec<(String, String)>, &'static str),
    Redirect(Target),
    Start(Start),
}

fn decide(cfg: &CallConfig, setup: &Inbound) -> Decision {
    let n = normalize_number(&setup.dialled);
    if cfg
        .emergency_numbers
        .iter()
        .any(|e| normalize_number(e) == n)
    {
        return redirect(Target {
            name: "911".into(),
            kind: TargetKind::Redirect,
            uri: cfg.emergency_uri.clone(),
            label: "emergency".into(),
        });
    }
    if n.starts_with('*') && setup.agent_phone.is_some() {
        return Decision::Start(Start::Feature(n));
    }
    let Some(plan) = setup.plan.as_ref() else {
        return Decision::Reject(
            503,
            vec![("Retry-After".into(), "30".into())],
            "no-dial-plan",
        );
    };
    // A North-American number may be written with or without +1 (carriers send E.164,
    // plans often list 10 digits): try the other spellings before giving up.
    let route = std::iter::once(n.clone())
        .chain(
            crate::config::trunk::nanp10(&n)
                .into_iter()
                .flat_map(|d| [format!("+1{d}"), format!("1{d}"), d]),
        )
        .map(|v| plan.route(&v))
        .find(|r| !matches!(r, Route::Unknown))
        .unwrap_or(Route::Unknown);
    match route {
        Route::Exit(t) if t.kind == TargetKind::Redirect => redirect(t.clone()),
        Route::Exit(t) => Decision::Start(Start::Transfer(t.clone())),
        Route::Entry(node) => Decision::Start(Start::Ivr(node)),
        Route::Unknown => Decision::Reject(404, vec![], "unknown-number"),
    }
}

/// Send the caller's phone to the target itself (302) — unless the target is reached through a
/// carrier trunk, which only we can dial: then we answer and bridge.
fn redirect(t: Target) -> Decision {
    if t.uri.starts_with("trunk:") {
        Decision::Start(Start::Transfer(Target {
            kind: TargetKind::Transfer,
            ..t
        }))
    } else {
        Decision::Redirect(t)
    }
}

impl Call {
    /// A new inbound call: logs its start and decides where it goes (reject, redirect, or
    /// answer — at once or after `answer_delay` of ringing).
    pub fn inbound(cfg: Arc<CallConfig>, setup: Inbound, now: Now) -> Call {
        let decision = decide(&cfg, &setup);
        let mut call = Call::new(cfg, setup.uid.clone(), setup.acd_id, now);
        call.caller = setup.caller.clone();
        call.caller_display = setup.caller_display.clone();
        call.agent_phone = setup.agent_phone.clone();
        call.plan = setup.plan.clone();
        call.storm = setup.storm.clone();
        call.legs.insert(
            CALLER,
            Leg {
                role: Role::Caller,
                phase: Phase::Early,
            },
        );
        call.emit(EventKind::CallStarted {
            sip_call_id: setup.sip_call_id,
            from: setup.caller,
            to: setup.dialled,
            transport: setup.transport,
            plan_version: setup
                .plan
                .as_ref()
                .map(|p| p.version.clone())
                .unwrap_or_default(),
        });
        match decision {
            Decision::Reject(status, headers, outcome) => {
                call.command(CALLER, LegCommand::Reject { status, headers });
                call.outcome = Some(outcome.into());
                call.side = "system";
                call.cause = status.to_string();
                call.legs.remove(&CALLER);
                call.complete();
            }
            Decision::Redirect(t) => {
                call.command(CALLER, LegCommand::Redirect { uri: t.uri.clone() });
                call.emit(EventKind::Redirected {
                    target: t.name.clone(),
                    uri: t.uri.clone(),
                });
                call.outcome = Some(t.outcome(false));
                call.side = "system";
                call.cause = "302".into();
                call.legs.remove(&CALLER);
                call.complete();
            }
            Decision::Start(start) => {
                if call.cfg.answer_delay.is_zero() {
                    call.start(start);
                } else {
                    call.out.push_back(Output::Leg {
                        leg: CALLER,
                        cmd: LegCommand::Ring,
                    });
                    call.pending = Some((now.mono + call.cfg.answer_delay, start));
                }
            }
        }
        call
    }
}
