//! Why a package is in a lock: the shortest dependency path from each requested package
//! that leads to it, through the lock's `requires` lists. Each ecosystem is its own graph
//! (an apt package never requires a pip one); an apt library that R packages link
//! against (`needed-by`) is reached from them too.
//!
//! Above the lockfile: imports `lockfile` and `pip`'s name normalization.

use std::collections::{BTreeMap, VecDeque};

use crate::lockfile::Lockfile;

/// One ecosystem's packages as a graph: name → (version, requested, requires).
struct Graph<'a> {
    nodes: BTreeMap<&'a str, (&'a str, bool, &'a [String])>,
    /// Packages another ecosystem's packages need (an apt library an R package links
    /// against: `needed-by = ["r:sf"]`), with who needs them: roots too.
    needed_by: BTreeMap<&'a str, &'a [String]>,
}

/// The explanation for one package in one ecosystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub ecosystem: &'static str,
    pub name: String,
    pub version: String,
    /// The manifest names it itself.
    pub requested: bool,
    /// Shortest paths from requested packages, each starting at the requested package and
    /// ending at this one; one per requested package that reaches it.
    pub paths: Vec<Vec<String>>,
}

/// Explains `name` in every ecosystem of `lock` that has it (apt names may carry
/// `:arch`; pip names are compared PEP 503-normalized).
pub fn explain(lock: &Lockfile, name: &str) -> Vec<Explanation> {
    let graphs: [(&'static str, Graph); 3] = [
        (
            "apt",
            Graph {
                nodes: lock
                    .apt
                    .iter()
                    .map(|p| {
                        (
                            p.name.as_str(),
                            (p.version.as_str(), p.requested, p.requires.as_slice()),
                        )
                    })
                    .collect(),
                needed_by: lock
                    .apt
                    .iter()
                    .filter(|p| !p.needed_by.is_empty())
                    .map(|p| (p.name.as_str(), p.needed_by.as_slice()))
                    .collect(),
            },
        ),
        (
            "pip",
            Graph {
                nodes: lock
                    .pip
                    .iter()
                    .map(|p| {
                        (
                            p.name.as_str(),
                            (p.version.as_str(), p.requested, p.requires.as_slice()),
                        )
                    })
                    .collect(),
                needed_by: BTreeMap::new(),
            },
        ),
        (
            "r",
            Graph {
                nodes: lock
                    .r
                    .iter()
                    .map(|p| {
                        (
                            p.name.as_str(),
                            (p.version.as_str(), p.requested, p.requires.as_slice()),
                        )
                    })
                    .collect(),
                needed_by: BTreeMap::new(),
            },
        ),
    ];
    let apt_name = name.split(':').next().unwrap_or(name);
    let pip_name = crate::pip::normalize_name(name);
    let mut out = Vec::new();
    for (ecosystem, graph) in &graphs {
        let wanted = match *ecosystem {
            "apt" => apt_name.to_string(),
            "pip" => pip_name.clone(),
            _ => name.to_string(),
        };
        let Some((&key, &(version, requested, _))) = graph.nodes.get_key_value(wanted.as_str())
        else {
            continue;
        };
        let mut paths: Vec<Vec<String>> = graph
            .nodes
            .iter()
            .filter(|(_, (_, is_requested, _))| *is_requested)
            .filter_map(|(root, _)| graph.shortest_path(root, key))
            .filter(|path| path.len() > 1)
            .collect();
        // From the packages of other ecosystems that need a library: `sf (r) → libgdal32`.
        for (root, by) in &graph.needed_by {
            let Some(path) = graph.shortest_path(root, key) else {
                continue;
            };
            for needer in by.iter() {
                let shown = match needer.split_once(':') {
                    Some((eco, name)) => format!("{name} ({eco})"),
                    None => needer.clone(),
                };
                let mut full = vec![shown];
                full.extend(path.iter().cloned());
                paths.push(full);
            }
        }
        out.push(Explanation {
            ecosystem,
            name: key.to_string(),
            version: version.to_string(),
            requested,
            paths,
        });
    }
    out
}

impl Graph<'_> {
    /// Breadth-first from `from` to `to`; requirements not in the lock (held by the base
    /// image) are dead ends.
    fn shortest_path(&self, from: &str, to: &str) -> Option<Vec<String>> {
        let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([from]);
        let mut seen = std::collections::BTreeSet::from([from]);
        while let Some(node) = queue.pop_front() {
            if node == to {
                let mut path = vec![to.to_string()];
                let mut at = to;
                while let Some(&p) = previous.get(at) {
                    path.push(p.to_string());
                    at = p;
                }
                path.reverse();
                return Some(path);
            }
            let Some((_, _, requires)) = self.nodes.get(node) else {
                continue;
            };
            for next in requires.iter() {
                if let Some((&key, _)) = self.nodes.get_key_value(next.as_str())
                    && seen.insert(key)
                {
                    previous.insert(key, node);
                    queue.push_back(key);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::pip::normalize_name;

    #[test]
    fn pip_names_normalize_as_pep_503() {
        assert_eq!(normalize_name("Scikit_Learn"), "scikit-learn");
        assert_eq!(normalize_name("zope.interface"), "zope-interface");
        assert_eq!(normalize_name("a__b--c"), "a-b-c");
    }
}
