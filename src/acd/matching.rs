//! Skills and eligibility: interning names to small ids, the requirements of a waiting call at
//! its relaxation step, whether an agent qualifies, and how well (proficiency score).
//!
//! Pure functions over levels and requirements: never looks at agent states, time or queue order.

use std::collections::BTreeMap;

/// Names (skills, queues) to dense ids, so that matching compares integers, not strings.
#[derive(Debug, Clone, Default)]
pub(super) struct Interner {
    ids: BTreeMap<String, usize>,
    names: Vec<String>,
}

impl Interner {
    pub(super) fn intern(&mut self, name: &str) -> usize {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len();
        self.ids.insert(name.to_string(), id);
        self.names.push(name.to_string());
        id
    }

    pub(super) fn get(&self, name: &str) -> Option<usize> {
        self.ids.get(name).copied()
    }

    pub(super) fn name(&self, id: usize) -> &str {
        self.names.get(id).map_or("", String::as_str)
    }

    pub(super) fn len(&self) -> usize {
        self.names.len()
    }
}

/// One relaxation step, in interned form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RelaxStep {
    pub after_ms: u64,
    pub min_level: Option<u8>,
    pub drop: Vec<usize>,
}

/// What an agent needs to take a call. The language is kept apart: it is always required
/// (level ≥ 1) and never dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Reqs {
    pub lang: usize,
    pub lang_level: u8,
    /// Other skills, sorted by id, one entry per skill.
    pub skills: Vec<(usize, u8)>,
}

/// `"permis"` → (permis, 1); `"permis:3"` → (permis, 3). Levels are clamped to 1..=5 (a bad
/// level from a hand-made input must not make a call unroutable or panic).
pub(super) fn parse_skill(s: &str) -> (&str, u8) {
    match s.rsplit_once(':') {
        Some((name, lvl)) => {
            let l = lvl.trim().parse::<u8>().unwrap_or(1).clamp(1, 5);
            (name.trim(), l)
        }
        None => (s.trim(), 1),
    }
}

/// The requirements before any relaxation: queue skills ∪ the call's own skills (highest level
/// wins when both name a skill), plus the language at level 1 unless the queue asks more.
pub(super) fn base_reqs(lang: usize, queue: &[(usize, u8)], call: &[(usize, u8)]) -> Reqs {
    let mut lang_level = 1;
    let mut skills: Vec<(usize, u8)> = Vec::with_capacity(queue.len() + call.len());
    for &(s, l) in queue.iter().chain(call) {
        let l = l.clamp(1, 5);
        if s == lang {
            lang_level = lang_level.max(l);
        } else {
            skills.push((s, l));
        }
    }
    skills.sort_unstable();
    // Sorted by (skill, level): keep the last (highest) level of each skill.
    let mut out: Vec<(usize, u8)> = Vec::with_capacity(skills.len());
    for (s, l) in skills {
        match out.last_mut() {
            Some(last) if last.0 == s => last.1 = l,
            _ => out.push((s, l)),
        }
    }
    Reqs {
        lang,
        lang_level,
        skills: out,
    }
}

/// Apply every reached step, cumulatively: `min_level` caps every level (the language's too,
/// never below 1), `drop` removes skills (never the language).
pub(super) fn relaxed<'a>(base: &Reqs, steps: impl Iterator<Item = &'a RelaxStep>) -> Reqs {
    let mut r = base.clone();
    for st in steps {
        if let Some(m) = st.min_level {
            let m = m.max(1);
            r.lang_level = r.lang_level.min(m);
            for x in &mut r.skills {
                x.1 = x.1.min(m);
            }
        }
        if !st.drop.is_empty() {
            r.skills.retain(|(s, _)| !st.drop.contains(s));
        }
    }
    r
}

/// An agent's level in a skill (0: does not have it).
pub(super) fn level(levels: &[u8], skill: usize) -> u8 {
    levels.get(skill).copied().unwrap_or(0)
}

/// Whether levels meet the requirements.
pub(super) fn qualifies(levels: &[u8], r: &Reqs) -> bool {
    level(levels, r.lang) >= r.lang_level.max(1)
        && r.skills.iter().all(|&(s, l)| level(levels, s) >= l)
}

/// How well an agent fits, higher is better: (lowest level over the call's unrelaxed topic
/// skills, their sum, the language level). Scored on the *unrelaxed* requirements so that a
/// relaxed call still goes to the best fit among those now eligible (a skill that was dropped
/// counts 0 for agents without it, not "don't care"). A call with no topic skill compares on
/// the language level alone.
pub(super) fn score(levels: &[u8], base: &Reqs) -> (u8, u32, u8) {
    let mut min = u8::MAX;
    let mut sum = 0u32;
    for &(s, _) in &base.skills {
        let l = level(levels, s);
        min = min.min(l);
        sum += u32::from(l);
    }
    if base.skills.is_empty() {
        min = 0;
    }
    (min, sum, level(levels, base.lang))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_relax_and_score() {
        assert_eq!(parse_skill("permis:3"), ("permis", 3));
        assert_eq!(parse_skill("permis"), ("permis", 1));
        assert_eq!(parse_skill("permis:9"), ("permis", 5));
        assert_eq!(parse_skill("permis:x"), ("permis", 1));
        // lang = 0, permis = 1, zonage = 2
        let b = base_reqs(0, &[(1, 3), (0, 2)], &[(2, 2), (1, 1)]);
        assert_eq!(b.lang_level, 2);
        assert_eq!(b.skills, vec![(1, 3), (2, 2)]);
        let s1 = RelaxStep {
            after_ms: 60_000,
            min_level: Some(1),
            drop: vec![],
        };
        let s2 = RelaxStep {
            after_ms: 120_000,
            min_level: None,
            drop: vec![1, 0],
        };
        let r = relaxed(&b, [&s1].into_iter());
        assert_eq!((r.lang_level, r.skills.clone()), (1, vec![(1, 1), (2, 1)]));
        let r = relaxed(&b, [&s1, &s2].into_iter());
        assert_eq!(
            (r.lang, r.lang_level, r.skills.clone()),
            (0, 1, vec![(2, 1)])
        );
        assert!(qualifies(&[1, 0, 1], &r));
        assert!(!qualifies(&[0, 5, 5], &r));
        // Lowest topic level first, then the sum, then the language.
        assert!(score(&[5, 3, 3], &b) > score(&[5, 4, 2], &b));
        assert!(score(&[5, 3, 4], &b) > score(&[5, 3, 3], &b));
        assert!(score(&[1, 3, 3], &b) > score(&[5, 3, 2], &b));
    }
}
