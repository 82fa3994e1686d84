//! Graph checks over the finished nodes: loops through nodes that never wait for the caller,
//! sets of nodes a caller can never leave, and nodes no entry number reaches (Tarjan's strongly
//! connected components, iteratively).
//!
//! Owns: those three rules. Never does: check a node on its own (`nodes`), I/O, clock reads,
//! recursion whose depth a plan file decides.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ops::Range;

use super::Checker;
use crate::dialplan::model::{Node, NodeId, NodeKind};

impl Checker<'_> {
    pub(super) fn graph(
        &mut self,
        nodes: &[Node],
        positions: &[(usize, Range<usize>)],
        numbers: &BTreeMap<String, NodeId>,
    ) {
        let mut succ: Vec<Vec<NodeId>> = nodes.iter().map(|n| n.kind.successors()).collect();
        for (i, n) in nodes.iter().enumerate() {
            if let NodeKind::Queue(q) = &n.kind {
                if let (Some(&o), Some(s)) = (self.queue_overflow.get(&q.queue), succ.get_mut(i)) {
                    s.push(o);
                }
            }
        }
        for s in &mut succ {
            s.retain(|&x| x < nodes.len());
            s.sort_unstable();
            s.dedup();
        }
        let at = |i: usize| positions.get(i).cloned().unwrap_or((0, 0..0));
        let name = |i: usize| nodes.get(i).map_or("?", |n| n.name.as_str());

        // 1. A cycle through nodes that never wait for the caller spins forever.
        let passes = |i: usize| {
            nodes.get(i).is_some_and(|n| {
                matches!(
                    n.kind,
                    NodeKind::Play { .. }
                        | NodeKind::Goto { .. }
                        | NodeKind::Language { .. }
                        | NodeKind::Branch { .. }
                )
            })
        };
        let fast: Vec<Vec<NodeId>> = succ
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if passes(i) {
                    s.iter().copied().filter(|&j| passes(j)).collect()
                } else {
                    Vec::new()
                }
            })
            .collect();
        for comp in sccs(&fast) {
            if !is_cycle(&comp, &fast) {
                continue;
            }
            let start = comp.iter().copied().min().unwrap_or(0);
            let path = cycle_path(start, &comp, &fast);
            let shown: Vec<&str> = path.iter().map(|&i| name(i)).collect();
            let (file, span) = at(start);
            self.err(
                file,
                &span,
                format!(
                    "loop without an exit: {} → {} never waits for the caller (add a menu, or end a path with a hangup, transfer or queue)",
                    shown.join(" → "),
                    name(start)
                ),
            );
        }

        if !self.graph_ok {
            return;
        }

        // 2. A set of nodes callers can never leave (only by hanging up themselves).
        for comp in sccs(&succ) {
            if !is_cycle(&comp, &succ) || comp.iter().all(|&i| passes(i)) {
                continue;
            }
            let inside: HashSet<NodeId> = comp.iter().copied().collect();
            let leaves = comp
                .iter()
                .any(|&i| succ[i].iter().any(|j| !inside.contains(j)));
            let ends = comp.iter().any(|&i| {
                matches!(
                    nodes[i].kind,
                    NodeKind::Transfer { .. } | NodeKind::Queue(_) | NodeKind::Hangup { .. }
                )
            });
            if leaves || ends {
                continue;
            }
            let mut members = comp.clone();
            members.sort_unstable();
            let names: Vec<&str> = members.iter().map(|&i| name(i)).collect();
            let (file, span) = at(members[0]);
            self.err(
                file,
                &span,
                format!(
                    "loop without an exit: callers can never leave {} except by hanging up (give one of them a choice or on_fail leading to a hangup, transfer or queue)",
                    names.join(", ")
                ),
            );
        }

        // 3. Unreachable nodes.
        if numbers.is_empty() {
            return;
        }
        let mut seen = vec![false; nodes.len()];
        let mut todo: VecDeque<NodeId> = numbers.values().copied().collect();
        while let Some(i) = todo.pop_front() {
            if i < seen.len() && !seen[i] {
                seen[i] = true;
                todo.extend(succ[i].iter().copied());
            }
        }
        for (i, reached) in seen.iter().enumerate() {
            if !reached {
                let (file, span) = at(i);
                self.err(
                    file,
                    &span,
                    format!(
                        "node `{}` is unreachable: no entry number in [numbers] and no other node leads to it",
                        name(i)
                    ),
                );
            }
        }
    }
}

/// A strongly connected component that holds a cycle (more than one node, or a self-loop).
fn is_cycle(comp: &[NodeId], succ: &[Vec<NodeId>]) -> bool {
    comp.len() > 1 || comp.iter().any(|&i| succ[i].contains(&i))
}

/// The nodes of a cycle through `start` inside `comp`, starting with `start`.
fn cycle_path(start: NodeId, comp: &[NodeId], succ: &[Vec<NodeId>]) -> Vec<NodeId> {
    let inside: HashSet<NodeId> = comp.iter().copied().collect();
    let mut parent: HashMap<NodeId, NodeId> = HashMap::new();
    let mut todo = VecDeque::from([start]);
    while let Some(v) = todo.pop_front() {
        for &w in &succ[v] {
            if w == start {
                let mut path = vec![v];
                let mut cur = v;
                while cur != start {
                    match parent.get(&cur) {
                        Some(&p) => {
                            path.push(p);
                            cur = p;
                        }
                        None => break,
                    }
                }
                path.reverse();
                return path;
            }
            if inside.contains(&w) && w != start && !parent.contains_key(&w) {
                parent.insert(w, v);
                todo.push_back(w);
            }
        }
    }
    vec![start]
}

/// Tarjan's strongly connected components, iteratively (plans come from files: no recursion
/// depth to exhaust).
fn sccs(succ: &[Vec<NodeId>]) -> Vec<Vec<NodeId>> {
    const NONE: usize = usize::MAX;
    let n = succ.len();
    let mut index = vec![NONE; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root] != NONE {
            continue;
        }
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        let mut call: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some(top) = call.len().checked_sub(1) {
            let (v, i) = call[top];
            if let Some(&w) = succ[v].get(i) {
                call[top].1 += 1;
                if index[w] == NONE {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                call.pop();
                if let Some(&(p, _)) = call.last() {
                    low[p] = low[p].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    out.push(comp);
                }
            }
        }
    }
    out
}
