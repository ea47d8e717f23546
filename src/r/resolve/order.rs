//! The order to install resolved packages in: each after what it needs.
//!
//! `R CMD INSTALL` needs a package's Depends, Imports and LinkingTo installed first;
//! R forbids cycles among those. Suggests are not needed to install, but ordering
//! them first keeps a requested package after what it suggests when they allow it; a
//! Suggests edge that would close a cycle is dropped. Edges are added in a fixed order
//! (strong ones first, then by index), and among ready packages the smallest index
//! goes first, so the order depends on nothing but the input.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::algo::has_path_connecting;
use petgraph::graph::{DiGraph, NodeIndex};

use super::Resolved;

/// Indices into `resolved` (sorted by name, as [`super::resolve`] returns it):
/// dependencies before dependents.
pub fn install_order(resolved: &[Resolved]) -> Vec<usize> {
    let index: BTreeMap<&str, usize> = resolved
        .iter()
        .enumerate()
        .map(|(i, r)| (r.package.name.as_str(), i))
        .collect();
    // (dependency, dependent) pairs: strong first, then Suggests.
    let mut strong = BTreeSet::new();
    let mut weak = BTreeSet::new();
    for (i, r) in resolved.iter().enumerate() {
        let strong_names: BTreeSet<&str> = r
            .package
            .dependencies(false)
            .map(|d| d.name.as_str())
            .collect();
        for name in &r.requires {
            let Some(&j) = index.get(name.as_str()) else {
                continue; // held by the base: already installed
            };
            if j == i {
                continue;
            }
            if strong_names.contains(name.as_str()) {
                strong.insert((j, i));
            } else {
                weak.insert((j, i));
            }
        }
    }
    let mut graph: DiGraph<(), ()> = DiGraph::with_capacity(resolved.len(), strong.len());
    for _ in resolved {
        graph.add_node(());
    }
    for (dependency, dependent) in strong.into_iter().chain(weak) {
        let (a, b) = (NodeIndex::new(dependency), NodeIndex::new(dependent));
        // An edge a → b closes a cycle when b already reaches a.
        if !has_path_connecting(&graph, b, a, None) {
            graph.add_edge(a, b, ());
        }
    }
    // Kahn's algorithm, the smallest ready index first.
    let mut incoming: Vec<usize> = (0..resolved.len())
        .map(|i| {
            graph
                .neighbors_directed(NodeIndex::new(i), petgraph::Direction::Incoming)
                .count()
        })
        .collect();
    let mut ready: BTreeSet<usize> = (0..resolved.len()).filter(|&i| incoming[i] == 0).collect();
    let mut order = Vec::with_capacity(resolved.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for next in graph.neighbors_directed(NodeIndex::new(i), petgraph::Direction::Outgoing) {
            let j = next.index();
            incoming[j] -= 1;
            if incoming[j] == 0 {
                ready.insert(j);
            }
        }
    }
    order
}
