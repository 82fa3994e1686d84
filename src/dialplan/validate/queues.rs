//! `[queues.<name>]`: skills, priority, service level, relaxation steps, hold prompts and
//! announcements, callback and emergency options, overflow, calendar and seasonal overrides.
//!
//! Owns: the queue rules and their conversion to `model::QueueDef`. Never does: route calls
//! (`acd`), I/O, clock reads, panicking on plan contents.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{is_name, Checker, DEFAULT_CALLBACK_THRESHOLD_S};
use crate::dialplan::document::{Item, RawQueue, Strings, Text};
use crate::dialplan::model::{Overflow, QueueDef, Relax, SeasonOverride, SkillReq};
use crate::media::prompt::Lang;

impl Checker<'_> {
    pub(super) fn skill(&mut self, f: usize, s: &Text) -> Option<SkillReq> {
        let text = s.get_ref().trim();
        let (name, level) = match text.split_once(':') {
            Some((n, l)) => (
                n.trim(),
                l.trim().parse::<u8>().ok().filter(|l| (1..=5).contains(l)),
            ),
            None => (text, Some(1)),
        };
        match level {
            Some(min_level) if is_name(name) => Some(SkillReq {
                skill: name.to_string(),
                min_level,
            }),
            _ => {
                self.err(
                    f,
                    &s.span(),
                    format!("`{text}` is not a skill: write name or name:level, level 1 to 5 (e.g. permis:2)"),
                );
                None
            }
        }
    }

    pub(super) fn skills(&mut self, f: usize, v: &Option<Strings>) -> Vec<SkillReq> {
        v.iter()
            .flatten()
            .filter_map(|s| self.skill(f, s))
            .collect()
    }

    pub(super) fn queue(&mut self, item: &Item<RawQueue>) -> Option<QueueDef> {
        let f = item.file;
        let r = &item.raw;
        let name = item.name.clone();
        let mut ok = true;
        let skills = self.skills(f, &r.skills);
        let priority = self.uint(f, &r.priority, 0i32, -100, 100, "priority");
        let (sl_percent, sl_seconds) = match &r.service_level {
            None => (80, 100),
            Some(s) => {
                let parsed = s.get_ref().split_once('/').and_then(|(p, t)| {
                    let p = p.trim().trim_end_matches('%').parse::<u8>().ok()?;
                    let t = t.trim().trim_end_matches('s').trim().parse::<u32>().ok()?;
                    ((1..=100).contains(&p) && (1..=3600).contains(&t)).then_some((p, t))
                });
                parsed.unwrap_or_else(|| {
                    self.err(
                        f,
                        &s.span(),
                        format!("`{}` is not a service level: write percent/seconds, e.g. \"80/100\" (80 % answered within 100 s)", s.get_ref()),
                    );
                    ok = false;
                    (80, 100)
                })
            }
        };
        let mut relax = Vec::new();
        let mut last_after = 0;
        for step in r.relax.iter().flatten() {
            let raw = step.get_ref();
            let Some(after_v) = &raw.after else {
                self.err(
                    f,
                    &step.span(),
                    "a relax step needs `after` (seconds in queue)",
                );
                ok = false;
                continue;
            };
            let after: u64 = self.uint(f, &raw.after, 0, 1, 86_400, "after");
            if after <= last_after {
                self.err(
                    f,
                    &after_v.span(),
                    "relax steps must be in increasing order of `after`",
                );
                ok = false;
            }
            last_after = after;
            let min_level = raw
                .min_level
                .as_ref()
                .map(|_| self.uint(f, &raw.min_level, 1u8, 1, 5, "min_level"));
            let mut drop_skills = Vec::new();
            for d in raw.drop.iter().flatten() {
                let s = d.get_ref().trim();
                if s.parse::<Lang>().is_ok() && s.len() == 2 {
                    self.err(f, &d.span(), "the caller's language is never dropped");
                    ok = false;
                } else if !is_name(s) {
                    self.err(f, &d.span(), format!("`{s}` is not a skill name"));
                    ok = false;
                } else {
                    drop_skills.push(s.to_string());
                }
            }
            if min_level.is_none() && raw.drop.is_none() {
                self.err(
                    f,
                    &step.span(),
                    "this relax step changes nothing: give min_level and/or drop",
                );
                ok = false;
            }
            relax.push(Relax {
                after: Duration::from_secs(after),
                min_level,
                drop_skills,
            });
        }
        let hold_prompts = self.prompt_list(f, &r.hold);
        let announce_every =
            Duration::from_secs(self.uint(f, &r.announce_every, 0u64, 0, 3600, "announce_every"));
        let offer_callback = r.callback.as_ref().is_some_and(|c| *c.get_ref());
        let callback_threshold = Duration::from_secs(self.uint(
            f,
            &r.callback_threshold,
            DEFAULT_CALLBACK_THRESHOLD_S,
            0,
            86_400,
            "callback_threshold",
        ));
        let resume_window =
            Duration::from_secs(self.uint(f, &r.resume_window, 0u64, 0, 86_400, "resume_window"));
        let resume_withheld = r.resume_withheld.as_ref().is_some_and(|c| *c.get_ref());
        let emergency_escape = r.emergency.as_ref().is_some_and(|c| *c.get_ref());
        let knowledge = self.link(f, &r.knowledge);
        let dispositions: Vec<String> = r
            .dispositions
            .iter()
            .flatten()
            .map(|d| d.get_ref().trim().to_string())
            .filter(|d| !d.is_empty())
            .collect();
        if let (true, Some(e), Some(d)) = (emergency_escape, &r.emergency, self.emergency_digit) {
            if offer_callback && d == '1' {
                self.err(
                    f,
                    &e.span(),
                    "the emergency digit is 1, which also asks for a callback in this queue",
                );
                ok = false;
            }
        } else if let (true, Some(e), None) = (emergency_escape, &r.emergency, self.emergency_digit)
        {
            self.err(
                f,
                &e.span(),
                "this queue allows the emergency escape but the plan has none: add emergency = { digit = \"9\", target = \"911\" } to [plan]",
            );
            ok = false;
        }
        let max_wait = r
            .max_wait
            .as_ref()
            .map(|_| Duration::from_secs(self.uint(f, &r.max_wait, 900u64, 1, 86_400, "max_wait")));
        let overflow = match &r.overflow {
            None => max_wait.map(|_| Overflow::Callback),
            Some(o) => {
                let text = o.get_ref().trim();
                if text == "callback" {
                    Some(Overflow::Callback)
                } else if let Some(n) = text.strip_prefix("node:") {
                    let t = toml::Spanned::new(o.span(), n.trim().to_string());
                    let id = self.node_ref(f, &t, "overflow");
                    if let Some(id) = id {
                        self.queue_overflow.insert(name.clone(), id);
                    }
                    id.map(Overflow::Node)
                } else if let Some(t) = text.strip_prefix("target:") {
                    let t = toml::Spanned::new(o.span(), t.trim().to_string());
                    self.target_ref(f, &t).map(Overflow::Target)
                } else {
                    self.err(
                        f,
                        &o.span(),
                        format!("`{text}` is not an overflow: write \"callback\", \"node:<name>\" or \"target:<name>\""),
                    );
                    ok = false;
                    None
                }
            }
        };
        let calendar = r.calendar.as_ref().and_then(|c| {
            let n = c.get_ref().trim().to_string();
            self.known_calendar(f, &c.span(), &n).then_some(n)
        });
        let mut seasons = BTreeMap::new();
        for (k, v) in r.seasons.iter().flatten() {
            let season = k.get_ref().trim().to_string();
            self.season_exists(f, &k.span(), &season, calendar.as_deref());
            let raw = v.get_ref();
            let closed = raw.closed.as_ref().is_some_and(|c| *c.get_ref());
            if closed && r.overflow.is_none() {
                let at = raw.closed.as_ref().map_or_else(|| k.span(), |c| c.span());
                self.err(
                    f,
                    &at,
                    format!("queue `{name}` is closed in season `{season}` but has no `overflow`: callers would have nowhere to go"),
                );
                ok = false;
            }
            let skills = raw.skills.as_ref().map(|_| self.skills(f, &raw.skills));
            let priority = raw
                .priority
                .as_ref()
                .map(|_| self.uint(f, &raw.priority, 0i32, -100, 100, "priority"));
            seasons.insert(
                season,
                SeasonOverride {
                    skills,
                    priority,
                    closed,
                },
            );
        }
        ok.then_some(QueueDef {
            name,
            skills,
            priority,
            sl_percent,
            sl_seconds,
            relax,
            hold_prompts,
            announce_every,
            offer_callback,
            callback_threshold,
            resume_window,
            resume_withheld,
            emergency_escape,
            knowledge,
            dispositions,
            max_wait,
            overflow,
            seasons,
            calendar,
        })
    }

    /// A `{ label, url }` link: both present, the address http(s).
    pub(super) fn link(
        &mut self,
        f: usize,
        l: &Option<toml::Spanned<crate::dialplan::document::RawLink>>,
    ) -> Option<(String, String)> {
        let l = l.as_ref()?;
        let raw = l.get_ref();
        let label = raw.label.as_ref().map(|t| t.get_ref().trim().to_string());
        let url = raw.url.as_ref().map(|t| t.get_ref().trim().to_string());
        match (label, url) {
            (Some(label), Some(url))
                if !label.is_empty()
                    && (url.starts_with("https://") || url.starts_with("http://")) =>
            {
                Some((label, url))
            }
            _ => {
                self.err(
                    f,
                    &l.span(),
                    "a link needs a label and an http(s) address: { label = \"Info-Sésame\", url = \"https://…\" }",
                );
                None
            }
        }
    }
}
