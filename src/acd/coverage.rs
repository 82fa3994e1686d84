//! Coverage: which callers no agent could ever take. A queue that needs a skill nobody has, or
//! a language nobody speaks, leaves its callers waiting forever — the simulator would report
//! thousands of unfinished calls, the live server would hold callers until they give up. The
//! answer comes from the ACD itself (every agent logged in, each demand queued, asked whether
//! any staffed agent qualifies at some relaxation step), so it can never disagree with routing.
//!
//! Pure: no clock, no I/O.

use std::collections::BTreeSet;

use super::agents::AgentDef;
use super::{Acd, AcdConfig, Input};
use crate::dialplan::model::QueueDef;

/// Callers of one kind: a queue, the caller's language, the queue node's extra skills.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Demand {
    pub queue: String,
    pub lang: String,
    pub skills: Vec<String>,
    pub topic: Option<String>,
    /// The season the callers come in (None: no named season).
    pub season: Option<String>,
}

impl std::fmt::Display for Demand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "queue `{}` in {}", self.queue, self.lang)?;
        let mut extra: Vec<&str> = self.skills.iter().map(String::as_str).collect();
        if let Some(t) = &self.topic {
            extra.push(t);
        }
        extra.sort();
        extra.dedup();
        if !extra.is_empty() {
            write!(f, " needing {}", extra.join(", "))?;
        }
        if let Some(s) = &self.season {
            write!(f, " (season {s})")?;
        }
        Ok(())
    }
}

/// One line per kind of caller, seasons grouped ("in every season" when no season helps).
pub fn describe(gaps: &[Demand], seasons: &BTreeSet<Option<String>>) -> Vec<String> {
    let mut by_kind: std::collections::BTreeMap<String, Vec<Option<String>>> = Default::default();
    for g in gaps {
        let kind = Demand {
            season: None,
            ..g.clone()
        };
        by_kind
            .entry(kind.to_string())
            .or_default()
            .push(g.season.clone());
    }
    by_kind
        .into_iter()
        .map(|(kind, s)| {
            let all = seasons.iter().all(|x| s.contains(x));
            if all || seasons.len() <= 1 {
                kind
            } else {
                let names: Vec<&str> = s.iter().map(|x| x.as_deref().unwrap_or("none")).collect();
                format!("{kind} (seasons: {})", names.join(", "))
            }
        })
        .collect()
}

/// The demands no agent of `agents` could ever take, even after every relaxation step. A
/// queue closed in the demand's season is not a gap (its callers overflow by design).
pub fn unservable(queues: &[QueueDef], agents: &[AgentDef], demands: &[Demand]) -> Vec<Demand> {
    let seasons: BTreeSet<Option<String>> = demands.iter().map(|d| d.season.clone()).collect();
    let mut gaps = Vec::new();
    for season in seasons {
        let mut acd = Acd::new(AcdConfig::default());
        acd.set_queues(queues, 0);
        acd.set_season(season.as_deref(), 0);
        acd.set_agents(agents, 0);
        for a in agents {
            acd.handle(
                Input::AgentRegistered {
                    agent: a.id.clone(),
                },
                0,
            );
            acd.handle(
                Input::AgentLogin {
                    agent: a.id.clone(),
                },
                0,
            );
        }
        let mine = demands.iter().filter(|d| d.season == season);
        for (i, d) in mine.enumerate() {
            let closed = queues.iter().any(|q| {
                q.name == d.queue
                    && season
                        .as_ref()
                        .and_then(|s| q.seasons.get(s))
                        .is_some_and(|o| o.closed)
            });
            if closed {
                continue;
            }
            let call = 1_000_000 + i as u64;
            acd.handle(
                Input::CallQueued {
                    call,
                    queue: d.queue.clone(),
                    lang: d.lang.clone(),
                    skills: d.skills.clone(),
                    topic: d.topic.clone(),
                    priority: 0,
                    since: 0,
                    callback: None,
                    caller: None,
                    agent: None,
                },
                0,
            );
            if acd.estimated_wait_ms(call, 0).is_none() {
                gaps.push(d.clone());
            }
            // Each demand is judged alone: take it out before the next.
            acd.handle(Input::CallLeft { call }, 0);
            while acd.poll().is_some() {}
        }
    }
    gaps.sort();
    gaps.dedup();
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialplan::model::SkillReq;

    fn queue(name: &str, skill: &str) -> QueueDef {
        QueueDef {
            name: name.into(),
            skills: vec![SkillReq {
                skill: skill.into(),
                min_level: 1,
            }],
            priority: 0,
            sl_percent: 80,
            sl_seconds: 100,
            relax: vec![],
            hold_prompts: vec![],
            announce_every: std::time::Duration::ZERO,
            offer_callback: false,
            emergency_escape: false,
            knowledge: None,
            dispositions: vec![],
            callback_threshold: std::time::Duration::ZERO,
            resume_window: std::time::Duration::ZERO,
            resume_withheld: false,
            max_wait: None,
            overflow: None,
            seasons: Default::default(),
            calendar: None,
        }
    }

    fn agent(id: &str, skills: &[(&str, u8)]) -> AgentDef {
        AgentDef {
            id: id.into(),
            name: String::new(),
            username: id.into(),
            ha1_md5: String::new(),
            ha1_sha256: String::new(),
            skills: skills.iter().map(|(s, l)| (s.to_string(), *l)).collect(),
            queues: vec![],
            wrapup_s: None,
            seasons: vec![],
            auto_answer: false,
            srtp: None,
        }
    }

    fn demand(queue: &str, lang: &str) -> Demand {
        Demand {
            queue: queue.into(),
            lang: lang.into(),
            skills: vec![],
            topic: None,
            season: None,
        }
    }

    #[test]
    fn a_skill_or_a_language_nobody_has_is_a_gap() {
        let queues = [queue("general", "general"), queue("permis", "permis")];
        let agents = [agent("marie", &[("fr", 5), ("general", 3)])];
        let gaps = unservable(
            &queues,
            &agents,
            &[
                demand("general", "fr"),
                demand("general", "en"),
                demand("permis", "fr"),
            ],
        );
        assert_eq!(gaps, vec![demand("general", "en"), demand("permis", "fr")]);
        assert_eq!(
            gaps[1].to_string(),
            "queue `permis` in fr",
            "readable for a warning"
        );
    }
}
