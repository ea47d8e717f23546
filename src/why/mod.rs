//! Why a package is in a runtime: every shortest dependency path from a requested
//! package to it, through the lock's graph; else whether the base image provides it;
//! else the nearest name there is.
//!
//! The graph is the whole lock, every ecosystem at once (petgraph): `requires` edges
//! inside an ecosystem, and `needed-by` edges from the R or pip package that links
//! against a shared library to the apt package that ships it, so `why libgdal32`
//! answers `sf (r) → libgdal32`.
//!
//! Above the lockfile: imports `lockfile` and `pip`'s name normalization; what the base
//! holds comes in as [`BasePackages`], read by the command.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::lockfile::Lockfile;

/// The ecosystems a name can be asked in: `apt:NAME`, `pip:NAME`, `r:NAME`.
pub const ECOSYSTEMS: [&str; 3] = ["apt", "pip", "r"];

/// How many paths of the same (shortest) length are shown from one requested package.
const MAX_PATHS_PER_ROOT: usize = 4;

/// What `why` was asked: a name, in one ecosystem or in any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub ecosystem: Option<&'static str>,
    pub name: String,
}

impl Query {
    /// `apt:libc6`, `pip:NumPy`, `r:sf`, or a bare name (then every ecosystem). An apt
    /// name may carry its architecture (`libc6:amd64`, `apt:libc6:amd64`).
    pub fn parse(text: &str) -> Query {
        if let Some((prefix, rest)) = text.split_once(':')
            && let Some(ecosystem) = ECOSYSTEMS.iter().find(|e| **e == prefix)
            && !rest.is_empty()
        {
            return Query {
                ecosystem: Some(ecosystem),
                name: rest.to_string(),
            };
        }
        Query {
            ecosystem: None,
            name: text.to_string(),
        }
    }

    /// The name as `ecosystem` compares it: apt without `:arch`, pip PEP 503-normalized.
    fn key(&self, ecosystem: &str) -> String {
        match ecosystem {
            "apt" => self
                .name
                .split(':')
                .next()
                .unwrap_or(&self.name)
                .to_string(),
            "pip" => crate::pip::normalize_name(&self.name),
            _ => self.name.clone(),
        }
    }

    fn asks(&self, ecosystem: &str) -> bool {
        self.ecosystem.is_none_or(|e| e == ecosystem)
    }
}

/// The explanation for one locked package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub ecosystem: &'static str,
    pub name: String,
    pub version: String,
    /// The manifest names it itself.
    pub requested: bool,
    /// Every shortest path from a requested package (up to [`MAX_PATHS_PER_ROOT`] from
    /// each), each from the requested package to this one, as shown: a package of
    /// another ecosystem than this one's carries it (`sf (r)`).
    pub paths: Vec<Vec<String>>,
    /// Paths left out because one requested package has more of the same length.
    pub more: usize,
}

/// What the base image holds, by ecosystem: (name, version), as its own databases list
/// them (dpkg's status, the installed distributions, the R libraries).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BasePackages {
    pub apt: Vec<(String, String)>,
    pub pip: Vec<(String, String)>,
    pub r: Vec<(String, String)>,
}

impl BasePackages {
    /// The packages of `ecosystem` (`apt`, `pip` or `r`).
    pub fn of(&self, ecosystem: &str) -> &[(String, String)] {
        match ecosystem {
            "apt" => &self.apt,
            "pip" => &self.pip,
            _ => &self.r,
        }
    }
}

/// A package the base image provides: `bash 5.2.15-2+b7 (apt)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provided {
    pub ecosystem: &'static str,
    pub name: String,
    pub version: String,
}

/// One node of the lock's graph.
#[derive(Debug, Clone, Copy)]
struct Node<'a> {
    ecosystem: &'static str,
    name: &'a str,
    version: &'a str,
    requested: bool,
}

/// A node's identity: (ecosystem, name).
type NodeKey<'a> = (&'static str, &'a str);

/// The lock as one graph, with an index by (ecosystem, name).
struct LockGraph<'a> {
    graph: DiGraph<Node<'a>, ()>,
    index: BTreeMap<NodeKey<'a>, NodeIndex>,
}

impl<'a> LockGraph<'a> {
    fn new(lock: &'a Lockfile) -> LockGraph<'a> {
        let mut graph = DiGraph::new();
        let mut index = BTreeMap::new();
        let mut edges: Vec<(NodeKey<'a>, NodeKey<'a>)> = Vec::new();
        let mut add = |ecosystem: &'static str,
                       name: &'a str,
                       version: &'a str,
                       requested: bool,
                       requires: &'a [String]| {
            let node = Node {
                ecosystem,
                name,
                version,
                requested,
            };
            index.insert((ecosystem, name), graph.add_node(node));
            for r in requires {
                edges.push(((ecosystem, name), (ecosystem, r.as_str())));
            }
        };
        for p in &lock.apt {
            add("apt", &p.name, p.version.as_str(), p.requested, &p.requires);
        }
        for p in &lock.pip {
            add("pip", &p.name, p.version.as_str(), p.requested, &p.requires);
        }
        for p in &lock.r {
            add("r", &p.name, p.version.as_str(), p.requested, &p.requires);
        }
        // `needed-by = ["r:sf"]`: sf links against the library this package ships.
        for p in &lock.apt {
            for needer in &p.needed_by {
                if let Some((ecosystem, name)) = needer.split_once(':')
                    && let Some(ecosystem) = ECOSYSTEMS.iter().find(|e| **e == ecosystem)
                {
                    edges.push(((ecosystem, name), ("apt", p.name.as_str())));
                }
            }
        }
        // Requirements the lock does not hold (the base provides them) are dead ends.
        for (from, to) in edges {
            if let (Some(&a), Some(&b)) = (index.get(&from), index.get(&to))
                && a != b
                && graph.find_edge(a, b).is_none()
            {
                graph.add_edge(a, b, ());
            }
        }
        LockGraph { graph, index }
    }

    /// Breadth-first distances from `root`, up to `target` when one is given.
    fn distances(&self, root: NodeIndex, target: Option<NodeIndex>) -> BTreeMap<NodeIndex, usize> {
        let mut distance: BTreeMap<NodeIndex, usize> = BTreeMap::from([(root, 0)]);
        let mut queue = VecDeque::from([root]);
        while let Some(node) = queue.pop_front() {
            if Some(node) == target {
                break;
            }
            let d = distance[&node];
            for next in self.graph.neighbors(node) {
                if let std::collections::btree_map::Entry::Vacant(slot) = distance.entry(next) {
                    slot.insert(d + 1);
                    queue.push_back(next);
                }
            }
        }
        distance
    }

    /// Every shortest path from `root` to `target` (at most `limit`), and how many more
    /// of that length there are.
    fn shortest_paths(
        &self,
        root: NodeIndex,
        target: NodeIndex,
        limit: usize,
    ) -> (Vec<Vec<NodeIndex>>, usize) {
        let distance = self.distances(root, Some(target));
        if !distance.contains_key(&target) {
            return (Vec::new(), 0);
        }
        // Back from the target through the nodes one step nearer the root, in name
        // order so the listing is stable.
        let mut paths = Vec::new();
        let mut total = 0;
        let mut stack = vec![vec![target]];
        while let Some(path) = stack.pop() {
            let last = *path.last().expect("a path is never empty");
            if last == root {
                total += 1;
                if paths.len() < limit {
                    paths.push(path.into_iter().rev().collect());
                }
                continue;
            }
            let d = distance[&last];
            let mut previous: Vec<NodeIndex> = self
                .graph
                .neighbors_directed(last, Direction::Incoming)
                .filter(|p| distance.get(p).is_some_and(|&dp| dp + 1 == d))
                .collect();
            // Reversed, so the stack pops them in order.
            previous.sort_by(|a, b| self.sort_key(*b).cmp(&self.sort_key(*a)));
            for p in previous {
                let mut longer = path.clone();
                longer.push(p);
                stack.push(longer);
            }
        }
        let more = total - paths.len();
        (paths, more)
    }

    fn sort_key(&self, node: NodeIndex) -> NodeKey<'a> {
        let n = self.graph[node];
        (n.ecosystem, n.name)
    }
}

/// Explains the locked packages `query` names (one per ecosystem that has it).
pub fn explain(lock: &Lockfile, query: &Query) -> Vec<Explanation> {
    let lock_graph = LockGraph::new(lock);
    let mut roots: Vec<NodeIndex> = lock_graph
        .graph
        .node_indices()
        .filter(|&n| lock_graph.graph[n].requested)
        .collect();
    roots.sort_by_key(|&n| lock_graph.sort_key(n));
    let mut out = Vec::new();
    for ecosystem in ECOSYSTEMS.into_iter().filter(|e| query.asks(e)) {
        let key = query.key(ecosystem);
        let Some(&target) = lock_graph.index.get(&(ecosystem, key.as_str())) else {
            continue;
        };
        let node = lock_graph.graph[target];
        let (mut paths, mut more) = (Vec::new(), 0);
        for &root in roots.iter().filter(|&&r| r != target) {
            let (found, left) = lock_graph.shortest_paths(root, target, MAX_PATHS_PER_ROOT);
            more += left;
            paths.extend(found.into_iter().map(|path| {
                path.into_iter()
                    .map(|n| {
                        let step = lock_graph.graph[n];
                        if step.ecosystem == ecosystem {
                            step.name.to_string()
                        } else {
                            format!("{} ({})", step.name, step.ecosystem)
                        }
                    })
                    .collect()
            }));
        }
        out.push(Explanation {
            ecosystem,
            name: node.name.to_string(),
            version: node.version.to_string(),
            requested: node.requested,
            paths,
            more,
        });
    }
    out
}

/// For every locked package nobody requested: the requested packages that pulled it in,
/// those at the shortest distance from it (as [`explain`]'s paths start), keyed by
/// (ecosystem, name) as the lock names it. A root of another ecosystem than the
/// package's carries it: `sf (r)`.
pub fn pulled_in_by(lock: &Lockfile) -> BTreeMap<(&'static str, String), Vec<String>> {
    let lock_graph = LockGraph::new(lock);
    let graph = &lock_graph.graph;
    let mut roots: Vec<NodeIndex> = graph
        .node_indices()
        .filter(|&n| graph[n].requested)
        .collect();
    roots.sort_by_key(|&n| lock_graph.sort_key(n));
    // One breadth-first pass per requested package: a manifest names tens of them, the
    // lock holds hundreds of packages, so this stays far below a millisecond.
    let mut nearest: BTreeMap<NodeIndex, (usize, Vec<NodeIndex>)> = BTreeMap::new();
    for &root in &roots {
        for (node, d) in lock_graph.distances(root, None) {
            if graph[node].requested {
                continue;
            }
            let best = nearest.entry(node).or_insert((d, Vec::new()));
            if d < best.0 {
                *best = (d, Vec::new());
            }
            if d == best.0 {
                best.1.push(root);
            }
        }
    }
    nearest
        .into_iter()
        .map(|(node, (_, by))| {
            let n = graph[node];
            let by = by
                .into_iter()
                .map(|root| {
                    let r = graph[root];
                    if r.ecosystem == n.ecosystem {
                        r.name.to_string()
                    } else {
                        format!("{} ({})", r.name, r.ecosystem)
                    }
                })
                .collect();
            ((n.ecosystem, n.name.to_string()), by)
        })
        .collect()
}

/// The packages of the base that `query` names.
pub fn provided(base: &BasePackages, query: &Query) -> Vec<Provided> {
    let mut out = Vec::new();
    for ecosystem in ECOSYSTEMS.into_iter().filter(|e| query.asks(e)) {
        let key = query.key(ecosystem);
        let mut seen = BTreeSet::new();
        for (name, version) in base.of(ecosystem) {
            let same = match ecosystem {
                "pip" => crate::pip::normalize_name(name) == key,
                _ => *name == key,
            };
            // One line per version (a multi-arch package is listed once per arch).
            if same && seen.insert(version) {
                out.push(Provided {
                    ecosystem,
                    name: name.clone(),
                    version: version.clone(),
                });
            }
        }
    }
    out
}

/// The name nearest to `query`'s among the lock's and the base's (a likely typo).
pub fn nearest(lock: &Lockfile, base: Option<&BasePackages>, query: &Query) -> Option<String> {
    let mut names: BTreeSet<(&'static str, &str)> = BTreeSet::new();
    let asks = |e: &str| query.asks(e);
    if asks("apt") {
        names.extend(lock.apt.iter().map(|p| ("apt", p.name.as_str())));
    }
    if asks("pip") {
        names.extend(lock.pip.iter().map(|p| ("pip", p.name.as_str())));
    }
    if asks("r") {
        names.extend(lock.r.iter().map(|p| ("r", p.name.as_str())));
    }
    if let Some(base) = base {
        for ecosystem in ECOSYSTEMS.into_iter().filter(|e| asks(e)) {
            names.extend(
                base.of(ecosystem)
                    .iter()
                    .map(|(n, _)| (ecosystem, n.as_str())),
            );
        }
    }
    let candidates: Vec<&str> = names.iter().map(|(_, n)| *n).collect();
    let close = crate::diagnostic::did_you_mean(&query.name, &candidates)?;
    let (ecosystem, name) = names.iter().find(|(_, n)| *n == close)?;
    Some(format!("{ecosystem}:{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pip::normalize_name;

    #[test]
    fn pip_names_normalize_as_pep_503() {
        assert_eq!(normalize_name("Scikit_Learn"), "scikit-learn");
        assert_eq!(normalize_name("zope.interface"), "zope-interface");
        assert_eq!(normalize_name("a__b--c"), "a-b-c");
    }

    #[test]
    fn a_query_names_its_ecosystem_or_none() {
        let q = Query::parse("apt:libc6:amd64");
        assert_eq!(q.ecosystem, Some("apt"));
        assert_eq!(q.key("apt"), "libc6");
        let q = Query::parse("libc6:amd64");
        assert_eq!(q.ecosystem, None);
        assert_eq!(q.key("apt"), "libc6");
        assert_eq!(Query::parse("pip:NumPy").key("pip"), "numpy");
        assert_eq!(Query::parse("r:sf").ecosystem, Some("r"));
        // Not an ecosystem: the whole text is the name.
        assert_eq!(Query::parse("deb:x").name, "deb:x");
        assert_eq!(Query::parse("r:").name, "r:");
    }

    #[test]
    fn what_the_base_provides_is_found_by_each_ecosystems_names() {
        let base = BasePackages {
            apt: vec![
                ("libc6".into(), "2.36-9".into()),
                ("libc6".into(), "2.36-9".into()),
            ],
            pip: vec![("PyYAML".into(), "6.0".into())],
            r: vec![("stats".into(), "4.2.2".into())],
        };
        let found = provided(&base, &Query::parse("libc6:i386"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].version, "2.36-9");
        assert_eq!(provided(&base, &Query::parse("pyyaml"))[0].name, "PyYAML");
        assert!(provided(&base, &Query::parse("apt:stats")).is_empty());
        assert_eq!(provided(&base, &Query::parse("r:stats"))[0].ecosystem, "r");
    }
}
