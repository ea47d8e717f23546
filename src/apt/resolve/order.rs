//! The order dpkg needs: a package after what it depends on, Pre-Depends strictly first.
//!
//! Depends cycles are normal in Debian (libc6 and libgcc-s1, perl and perl-base); dpkg
//! unpacks the members of a cycle and then configures them together, so a cycle is
//! emitted as one block. Inside a block, Pre-Depends still order the members (dpkg must
//! configure a pre-dependency before unpacking its dependent); a Pre-Depends cycle, which
//! dpkg itself cannot honour, is broken at the member that sorts first. Every choice
//! among ready packages takes the smallest index, so the order never depends on hashing.

use std::collections::BTreeSet;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

/// An edge `dependency → dependent`; `pre` for Pre-Depends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub dependency: usize,
    pub dependent: usize,
    pub pre: bool,
}

/// The install order of nodes `0..count` (sorted by name by the caller, so ties go by
/// name).
pub fn install_order(count: usize, edges: &[Edge]) -> Vec<usize> {
    let mut graph: DiGraph<usize, bool> = DiGraph::with_capacity(count, edges.len());
    for i in 0..count {
        graph.add_node(i);
    }
    for e in edges {
        if e.dependency != e.dependent {
            graph.add_edge(
                NodeIndex::new(e.dependency),
                NodeIndex::new(e.dependent),
                e.pre,
            );
        }
    }
    // Strongly connected components: each is a block dpkg configures together.
    let components = tarjan_scc(&graph);
    let mut component_of = vec![0; count];
    for (c, members) in components.iter().enumerate() {
        for n in members {
            component_of[n.index()] = c;
        }
    }
    let smallest: Vec<usize> = components
        .iter()
        .map(|m| m.iter().map(|n| n.index()).min().unwrap_or(0))
        .collect();
    // Kahn's algorithm over the condensation, the ready set ordered by smallest member.
    let mut incoming = vec![BTreeSet::new(); components.len()];
    let mut outgoing = vec![BTreeSet::new(); components.len()];
    for e in edges {
        let (a, b) = (component_of[e.dependency], component_of[e.dependent]);
        if a != b {
            incoming[b].insert(a);
            outgoing[a].insert(b);
        }
    }
    let mut ready: BTreeSet<(usize, usize)> = (0..components.len())
        .filter(|&c| incoming[c].is_empty())
        .map(|c| (smallest[c], c))
        .collect();
    let mut order = Vec::with_capacity(count);
    while let Some((_, c)) = ready.pop_first() {
        let members: Vec<usize> = components[c].iter().map(|n| n.index()).collect();
        order.extend(order_block(&members, edges));
        for &d in &outgoing[c] {
            incoming[d].remove(&c);
            if incoming[d].is_empty() {
                ready.insert((smallest[d], d));
            }
        }
    }
    order
}

/// The members of one cycle, Pre-Depends first, else by index.
fn order_block(members: &[usize], edges: &[Edge]) -> Vec<usize> {
    if members.len() == 1 {
        return members.to_vec();
    }
    let inside: BTreeSet<usize> = members.iter().copied().collect();
    let pre: Vec<(usize, usize)> = edges
        .iter()
        .filter(|e| e.pre && e.dependency != e.dependent)
        .filter(|e| inside.contains(&e.dependency) && inside.contains(&e.dependent))
        .map(|e| (e.dependency, e.dependent))
        .collect();
    let mut left = inside;
    let mut out = Vec::with_capacity(members.len());
    while !left.is_empty() {
        // The first member whose pre-dependencies are all placed; in a Pre-Depends
        // cycle none is, and the first member breaks it.
        let next = left
            .iter()
            .copied()
            .find(|&n| !pre.iter().any(|&(a, b)| b == n && left.contains(&a)))
            .or_else(|| left.first().copied())
            .expect("left is not empty");
        left.remove(&next);
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(dependency: usize, dependent: usize, pre: bool) -> Edge {
        Edge {
            dependency,
            dependent,
            pre,
        }
    }

    #[test]
    fn dependencies_first_and_cycles_together() {
        // 0 depends on 1; 1 and 2 depend on each other; 2 pre-depends on 3.
        let order = install_order(
            4,
            &[
                edge(1, 0, false),
                edge(2, 1, false),
                edge(1, 2, false),
                edge(3, 2, true),
            ],
        );
        assert_eq!(order, [3, 1, 2, 0]);
    }

    #[test]
    fn pre_depends_order_a_cycle() {
        // 0 and 1 depend on each other, and 0 pre-depends on 1: 1 goes first.
        let order = install_order(2, &[edge(1, 0, true), edge(0, 1, false)]);
        assert_eq!(order, [1, 0]);
        // A Pre-Depends cycle is broken at the smallest member.
        let order = install_order(2, &[edge(1, 0, true), edge(0, 1, true)]);
        assert_eq!(order, [0, 1]);
    }
}
