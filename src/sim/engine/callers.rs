//! What a simulated caller does with what the ACD tells them: an announcement (log it as the
//! server does; take an offered callback when the announced wait is longer than they would
//! hold), and an overflow (to a callback, another queue node, or a target).
//!
//! Model of the decision, stated in docs/staffing.md: a caller offered a callback takes it when
//! the estimate (or its absence: nobody staffed) says they would hang up before being served
//! — their patience runs out before the announced wait — with the workload's
//! `callback_accept` probability; others keep holding.

use super::*;

impl Engine<'_> {
    /// The ACD announced position and wait to a waiting caller.
    pub(super) fn announced(&mut self, id: CallId, info: &Announcement, now: Time) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if !c.live || c.phase != Phase::Waiting {
            return;
        }
        let ev = crate::announce::event(&c.route.queue, info, info.offer_callback);
        c.emit(&mut *self.sink, now, ev);
        if !info.offer_callback {
            return;
        }
        let would_leave = match (c.patience_at, info.estimate_ms) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(p), Some(w)) => p < now.saturating_add(w),
        };
        if would_leave && self.callback_rng.uniform() < self.sc.callback_accept {
            self.take_callback(id, now);
        }
    }

    /// The caller leaves their number and hangs up; the ACD keeps their place as a callback.
    fn take_callback(&mut self, id: CallId, now: Time) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let queue = c.route.queue.clone();
        c.emit(
            &mut *self.sink,
            now,
            EventKind::CallbackRequested {
                queue: queue.clone(),
                number: "sim".into(),
            },
        );
        c.emit(
            &mut *self.sink,
            now,
            EventKind::QueueLeft {
                queue,
                reason: "callback".into(),
            },
        );
        c.token += 1;
        self.end_call(id, now, "callback".into(), "system");
        self.acd.handle(
            Input::CallbackRequested {
                call: id,
                number: "sim".into(),
            },
            now,
        );
        self.finish(id, true);
    }

    pub(super) fn overflow(&mut self, id: CallId, to: Overflow, now: Time) {
        let sc = self.sc;
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if !c.live {
            return;
        }
        let queue = c.route.queue.clone();
        match to {
            Overflow::Callback => {
                if self.callback_rng.uniform() >= sc.callback_accept {
                    return; // declined: keeps waiting, still offered to agents who free up
                }
                self.take_callback(id, now);
            }
            Overflow::Node(node) => {
                c.emit(
                    &mut *self.sink,
                    now,
                    EventKind::QueueLeft {
                        queue,
                        reason: "overflow".into(),
                    },
                );
                c.token += 1;
                self.acd.handle(Input::CallLeft { call: id }, now);
                let next = sc.nodes.get(&node).cloned();
                let Some(c) = self.calls.get_mut(&id) else {
                    return;
                };
                match next {
                    Some(route) if c.hops < MAX_HOPS => {
                        c.route = route;
                        let lang = c
                            .events
                            .iter()
                            .find_map(|e| match &e.kind {
                                EventKind::LanguageChosen { lang } => Some(lang.clone()),
                                _ => None,
                            })
                            .unwrap_or_default();
                        self.enqueue(id, lang, now);
                    }
                    _ => {
                        self.end_call(id, now, "overflow".into(), "system");
                        self.finish(id, false);
                    }
                }
            }
            Overflow::Target(name) => {
                c.emit(
                    &mut *self.sink,
                    now,
                    EventKind::QueueLeft {
                        queue,
                        reason: "overflow".into(),
                    },
                );
                c.token += 1;
                self.end_call(id, now, format!("transfer:{name}"), "system");
                self.acd.handle(Input::CallLeft { call: id }, now);
                self.finish(id, false);
            }
        }
    }
}
