//! The plan-level tables: `[plan]` (name, language, emergency escape, menu defaults),
//! `[targets]`, `[numbers]` (entry numbers) and `[[misdial]]`.
//!
//! Owns: what makes each of them valid, and their conversion to the model. Never does: I/O,
//! clock reads, panicking on plan contents.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{is_dialable, single_key, Checker, DEFAULT_MENU_RETRIES, DEFAULT_MENU_TIMEOUT_SECS};
use crate::dialplan::document::{where_is, Item, RawPlan, RawTarget};
use crate::dialplan::model::{normalize_number, Emergency, Misdial, NodeId, Target, TargetKind};

impl Checker<'_> {
    pub(super) fn emergency(&mut self, p: &Item<RawPlan>) -> Option<Emergency> {
        let e = p.raw.emergency.as_ref()?;
        let f = p.file;
        let raw = e.get_ref();
        let digit = match &raw.digit {
            None => {
                self.err(
                    f,
                    &e.span(),
                    "the emergency escape needs a `digit`, e.g. digit = \"9\"",
                );
                None
            }
            Some(d) => {
                let k = single_key(d.get_ref());
                if k.is_none() {
                    self.err(
                        f,
                        &d.span(),
                        format!(
                            "emergency digit `{}` is not one phone key (0-9, * or #)",
                            d.get_ref()
                        ),
                    );
                }
                k
            }
        };
        let target = match &raw.target {
            None => {
                self.err(
                    f,
                    &e.span(),
                    "the emergency escape has no target: add target = \"911\" (a name from [targets])",
                );
                None
            }
            Some(t) => self.target_ref(f, t),
        };
        let prompts = self.prompt_list(f, &raw.prompts);
        // Menus are checked against the digit even if the escape itself has errors.
        self.emergency_digit = digit;
        Some(Emergency {
            digit: digit?,
            target: target?,
            prompts,
        })
    }

    pub(super) fn menu_defaults(&mut self, p: &Item<RawPlan>) {
        let Some(d) = &p.raw.menu_defaults else {
            return;
        };
        let f = p.file;
        let d = d.get_ref();
        if d.timeout.is_some() {
            self.defaults.timeout =
                Some(self.uint(f, &d.timeout, DEFAULT_MENU_TIMEOUT_SECS, 1, 60, "timeout"));
        }
        if d.retries.is_some() {
            self.defaults.retries =
                Some(self.uint(f, &d.retries, DEFAULT_MENU_RETRIES, 0, 9, "retries"));
        }
        if d.invalid.is_some() {
            self.defaults.invalid = Some(self.prompt_list(f, &d.invalid));
        }
        if d.no_input.is_some() {
            self.defaults.no_input = Some(self.prompt_list(f, &d.no_input));
        }
    }

    pub(super) fn target(&mut self, item: &Item<RawTarget>) -> Option<Target> {
        let f = item.file;
        let r = &item.raw;
        let kind = match &r.kind {
            None => Some(TargetKind::Transfer),
            Some(k) => match k.get_ref().trim() {
                "redirect" => Some(TargetKind::Redirect),
                "transfer" => Some(TargetKind::Transfer),
                other => {
                    self.err(
                        f,
                        &k.span(),
                        format!("unknown target kind `{other}`: use \"redirect\" (302 before answering) or \"transfer\" (we bridge the call)"),
                    );
                    None
                }
            },
        };
        let uri = match &r.uri {
            None => {
                self.err(
                    f,
                    &item.key,
                    format!(
                        "target `{}` has no `uri`, e.g. uri = \"sip:911@gateway.example\"",
                        item.name
                    ),
                );
                None
            }
            Some(u) => {
                let text = u.get_ref().trim();
                let lower = text.to_ascii_lowercase();
                let trunk_ok = lower.strip_prefix("trunk:").is_some_and(|r| {
                    r.split_once('/')
                        .is_some_and(|(name, number)| !name.is_empty() && !number.is_empty())
                });
                let ok = (trunk_ok
                    || ["sip:", "sips:", "tel:"]
                        .iter()
                        .any(|s| lower.starts_with(s) && lower.len() > s.len()))
                    && !text.contains(char::is_whitespace);
                if !ok {
                    self.err(
                        f,
                        &u.span(),
                        format!("`{text}` is not a SIP or tel URI nor a trunk: write e.g. sip:811@gateway.example, tel:+18115550000 or trunk:carrier/811"),
                    );
                }
                ok.then(|| text.to_string())
            }
        };
        let label = r
            .label
            .as_ref()
            .map_or_else(|| item.name.clone(), |l| l.get_ref().trim().to_string());
        Some(Target {
            name: item.name.clone(),
            kind: kind?,
            uri: uri?,
            label,
        })
    }

    pub(super) fn numbers(&mut self) -> BTreeMap<String, NodeId> {
        let mut out = BTreeMap::new();
        let doc = self.doc;
        for item in &doc.numbers {
            let n = normalize_number(&item.name);
            if !is_dialable(&n) {
                self.err(
                    item.file,
                    &item.key,
                    format!(
                        "`{}` is not a dialable number: use digits (spaces and dashes are ignored), \
                         * and #, an optional leading +, or \"s\" for any other number",
                        item.name
                    ),
                );
            }
            if let Some(id) = self.node_ref(item.file, &item.raw, "numbers") {
                out.insert(n, id);
            }
        }
        out
    }

    pub(super) fn misdials(&mut self) -> Vec<Misdial> {
        let doc = self.doc;
        let entries: HashSet<String> = doc
            .numbers
            .iter()
            .map(|i| normalize_number(&i.name))
            .collect();
        let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
        let mut out = Vec::new();
        for item in &doc.misdials {
            let f = item.file;
            let mut numbers = Vec::new();
            match &item.raw.numbers {
                Some(list) if !list.get_ref().is_empty() => {
                    for n in list.get_ref() {
                        let norm = normalize_number(n.get_ref());
                        if !is_dialable(&norm) || norm == "s" {
                            self.err(
                                f,
                                &n.span(),
                                format!("`{}` is not a dialable number", n.get_ref()),
                            );
                            continue;
                        }
                        if entries.contains(&norm) {
                            self.err(
                                f,
                                &n.span(),
                                format!("`{norm}` is both a misdial and an entry in [numbers]: misdials are checked first, so the entry would never be used"),
                            );
                        }
                        if let Some(&(pf, po)) = seen.get(&norm) {
                            let first = where_is(self.files, pf, po);
                            self.err(
                                f,
                                &n.span(),
                                format!("`{norm}` is already a misdial at {first}"),
                            );
                        } else {
                            seen.insert(norm.clone(), (f, n.span().start));
                        }
                        numbers.push(norm);
                    }
                }
                Some(list) => self.err(f, &list.span(), "`numbers` is empty"),
                None => self.err(
                    f,
                    &item.key,
                    "a misdial needs `numbers`, e.g. numbers = [\"911\", \"9911\"]",
                ),
            }
            let target = match &item.raw.target {
                None => {
                    self.err(
                        f,
                        &item.key,
                        "a misdial without a target: add target = \"<name from [targets]>\"",
                    );
                    None
                }
                Some(t) => self.target_ref(f, t),
            };
            if let Some(target) = target {
                out.push(Misdial { numbers, target });
            }
        }
        out
    }
}
