//! The apt resolver against small hand-written universes, one table per rule of
//! apt-get's it follows. The data is `Packages` and dpkg status text read by the real
//! parsers, so it looks like what the mirrors and images hold.

use std::collections::BTreeMap;

use rtlock::apt::index::parse_packages;
use rtlock::apt::relation::{Relation, parse_relation};
use rtlock::apt::resolve::{
    Candidate, PRIORITY_BUT_AUTOMATIC_UPGRADES, PRIORITY_DEFAULT, PRIORITY_NOT_AUTOMATIC,
    ResolveError, ResolveOptions, parse_status, resolve,
};

/// Adds the fields every real stanza has (`Architecture` defaults to amd64) so the
/// tables below only show what matters.
fn complete(text: &str) -> String {
    let mut out = String::new();
    for stanza in text.split("\n\n").map(str::trim).filter(|s| !s.is_empty()) {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
        };
        let package = field("Package:").unwrap();
        let version = field("Version:").unwrap();
        let arch = field("Architecture:").unwrap_or_else(|| "amd64".into());
        out.push_str(stanza);
        out.push('\n');
        if field("Architecture:").is_none() {
            out.push_str("Architecture: amd64\n");
        }
        let first = &package[..1];
        out.push_str(&format!(
            "Filename: pool/main/{first}/{package}/{package}_{version}_{arch}.deb\n\
             Size: 1000\nSHA256: {}\n\n",
            "0".repeat(64)
        ));
    }
    out
}

/// A status file: each stanza installed, amd64 unless it says otherwise.
fn status(text: &str) -> String {
    let mut out = String::new();
    for stanza in text.split("\n\n").map(str::trim).filter(|s| !s.is_empty()) {
        out.push_str(stanza);
        out.push_str("\nStatus: install ok installed\n");
        if !stanza.contains("Architecture:") {
            out.push_str("Architecture: amd64\n");
        }
        out.push('\n');
    }
    out
}

/// What a resolution came to, owned so tests can compare it.
#[derive(Debug, Default)]
struct Outcome {
    /// `name version`, sorted.
    packages: Vec<String>,
    order: Vec<String>,
    requested: Vec<String>,
    requires: BTreeMap<String, Vec<String>>,
    /// `name old→new`.
    upgrades: Vec<String>,
}

struct Case<'t> {
    sources: Vec<(&'t str, i32)>,
    installed: &'t str,
    recommends: bool,
}

impl<'t> Case<'t> {
    fn new(packages: &'t str) -> Self {
        Case {
            sources: vec![(packages, PRIORITY_DEFAULT)],
            installed: "",
            recommends: true,
        }
    }
    fn source(mut self, packages: &'t str, priority: i32) -> Self {
        self.sources.push((packages, priority));
        self
    }
    fn installed(mut self, status: &'t str) -> Self {
        self.installed = status;
        self
    }
    fn no_recommends(mut self) -> Self {
        self.recommends = false;
        self
    }

    fn run(&self, requests: &[&str]) -> Result<Outcome, ResolveError> {
        let texts: Vec<(String, i32)> = self
            .sources
            .iter()
            .map(|(t, p)| (complete(t), *p))
            .collect();
        let mut universe = Vec::new();
        for (text, priority) in &texts {
            for record in parse_packages(text).unwrap() {
                universe.push(Candidate {
                    record,
                    priority: *priority,
                });
            }
        }
        let status_text = status(self.installed);
        let installed = parse_status(&status_text);
        let requests: Vec<Relation> = requests
            .iter()
            .map(|r| parse_relation(r, true).unwrap())
            .collect();
        let mut options = ResolveOptions::new("amd64");
        options.install_recommends = self.recommends;
        let first = resolve(&universe, &installed, &requests, &options)?;
        // Determinism: the same answer with the universe in reverse order.
        universe.reverse();
        let again = resolve(&universe, &installed, &requests, &options)?;
        assert_eq!(first.summary(), again.summary());
        assert_eq!(first.order_names(), again.order_names());
        Ok(Outcome {
            packages: first.summary(),
            order: first.order_names().iter().map(|s| s.to_string()).collect(),
            requested: first
                .packages
                .iter()
                .filter(|p| p.requested)
                .map(|p| p.record.package.to_string())
                .collect(),
            requires: first
                .packages
                .iter()
                .map(|p| (p.record.package.to_string(), p.requires.clone()))
                .collect(),
            upgrades: first
                .packages
                .iter()
                .filter_map(|p| {
                    p.upgrades
                        .as_ref()
                        .map(|old| format!("{} {old}→{}", p.record.package, p.record.version))
                })
                .collect(),
        })
    }

    fn ok(&self, requests: &[&str]) -> Outcome {
        self.run(requests)
            .unwrap_or_else(|e| panic!("{requests:?} failed: {e}"))
    }

    fn err(&self, requests: &[&str]) -> String {
        match self.run(requests) {
            Ok(o) => panic!("{requests:?} resolved to {:?}", o.packages),
            Err(e) => e.to_string(),
        }
    }
}

const LIBC: &str = "Package: libc6\nVersion: 2.36-9\nMulti-Arch: same\nPriority: optional\n";

#[test]
fn candidate_is_the_highest_priority_then_the_highest_version() {
    let main = "Package: foo\nVersion: 1.0-1\n\nPackage: foo\nVersion: 1.1-1\n";
    let experimental = "Package: foo\nVersion: 2.0-1\n";
    let case = Case::new(main).source(experimental, PRIORITY_NOT_AUTOMATIC);
    assert_eq!(case.ok(&["foo"]).packages, ["foo 1.1-1"]);
    // Asking for a version reaches below the candidate, in any source.
    assert_eq!(case.ok(&["foo=2.0-1"]).packages, ["foo 2.0-1"]);
    assert_eq!(case.ok(&["foo=1.0-1"]).packages, ["foo 1.0-1"]);
    assert_eq!(case.ok(&["foo (>= 1.5)"]).packages, ["foo 2.0-1"]);
    assert_eq!(case.ok(&["foo (<< 1.1)"]).packages, ["foo 1.0-1"]);

    // Backports (NotAutomatic + ButAutomaticUpgrades, 100) upgrade what was installed
    // from there (installed is 100 too, and the higher version wins the tie) …
    let backports = "Package: foo\nVersion: 3.0-1~bpo12+1\n\nPackage: bar\nVersion: 1\n";
    let case = Case::new(main)
        .source(backports, PRIORITY_BUT_AUTOMATIC_UPGRADES)
        .installed("Package: foo\nVersion: 2.9-1~bpo12+1\n");
    assert_eq!(
        case.ok(&["foo"]).upgrades,
        ["foo 2.9-1~bpo12+1→3.0-1~bpo12+1"]
    );
    // … but not a version the main archive still has: it keeps the archive's 500.
    let case = Case::new(main)
        .source(backports, PRIORITY_BUT_AUTOMATIC_UPGRADES)
        .installed("Package: foo\nVersion: 1.1-1\n");
    assert!(case.ok(&["foo"]).packages.is_empty());
    // … but a 500 source wins over them for what is not installed yet.
    let case = Case::new(main).source(backports, PRIORITY_BUT_AUTOMATIC_UPGRADES);
    assert_eq!(case.ok(&["foo"]).packages, ["foo 1.1-1"]);
    // The only version of bar is a backport: it is still the candidate.
    assert_eq!(case.ok(&["bar"]).packages, ["bar 1"]);
    // Already the newest version: nothing to do.
    let case = Case::new(main).installed("Package: foo\nVersion: 1.1-1\n");
    assert!(case.ok(&["foo"]).packages.is_empty());
    // apt does not downgrade below priority 1000: an older archive version is no
    // candidate when a newer one is installed.
    let case = Case::new(main).installed("Package: foo\nVersion: 1.2-1\n");
    assert!(case.ok(&["foo"]).packages.is_empty());
}

#[test]
fn depends_and_pre_depends_with_their_install_order() {
    let packages = format!(
        "Package: app\nVersion: 1\nDepends: libapp (>= 1), libc6 (>= 2.34)\n\n\
         Package: libapp\nVersion: 1\nPre-Depends: helper\nDepends: libc6\n\n\
         Package: helper\nVersion: 1\nDepends: libc6\n\n{LIBC}"
    );
    let case = Case::new(&packages).installed(LIBC);
    let out = case.ok(&["app"]);
    assert_eq!(out.packages, ["app 1", "helper 1", "libapp 1"]);
    assert_eq!(out.order, ["helper", "libapp", "app"]);
    assert_eq!(out.requested, ["app"]);
    assert_eq!(out.requires["app"], ["libapp", "libc6"]);
    assert_eq!(out.requires["libapp"], ["helper", "libc6"]);

    // A Depends cycle installs as one block; a Pre-Depends inside it goes first.
    let cycle = "Package: perl\nVersion: 5.36\nDepends: perl-modules\n\n\
        Package: perl-modules\nVersion: 5.36\nDepends: perl\nPre-Depends: perl-base\n\n\
        Package: perl-base\nVersion: 5.36\n";
    let out = Case::new(cycle).ok(&["perl"]);
    assert_eq!(out.order, ["perl-base", "perl", "perl-modules"]);
}

#[test]
fn recommends_are_followed_when_asked_and_skipped_when_unsatisfiable() {
    let packages = "Package: graphviz\nVersion: 2.42\nDepends: libgvc6\n\
        Recommends: fonts-liberation, missing-package, libgts-bin (>= 9)\n\n\
        Package: libgvc6\nVersion: 2.42\nRecommends: libgvc6-plugins\n\n\
        Package: fonts-liberation\nVersion: 1.07\n\n\
        Package: libgvc6-plugins\nVersion: 2.42\n\n\
        Package: libgts-bin\nVersion: 0.7\n\n\
        Package: base-tool\nVersion: 1\nRecommends: fonts-liberation\n\n\
        Package: uses-base-tool\nVersion: 1\nDepends: base-tool\n";
    let case = Case::new(packages);
    assert_eq!(
        case.ok(&["graphviz"]).packages,
        [
            "fonts-liberation 1.07",
            "graphviz 2.42",
            "libgvc6 2.42",
            "libgvc6-plugins 2.42"
        ]
    );
    assert_eq!(
        case.ok(&["graphviz"]).requires["graphviz"],
        ["fonts-liberation", "libgvc6"]
    );
    let case = Case::new(packages).no_recommends();
    assert_eq!(
        case.ok(&["graphviz"]).packages,
        ["graphviz 2.42", "libgvc6 2.42"]
    );
    // The Recommends of a package that stays as installed are not newly installed.
    let case = Case::new(packages).installed("Package: base-tool\nVersion: 1\n");
    assert_eq!(case.ok(&["uses-base-tool"]).packages, ["uses-base-tool 1"]);
}

#[test]
fn or_groups_prefer_what_is_there_then_go_left_to_right() {
    let packages = "Package: mailer\nVersion: 1\nDepends: default-mta | mail-transport-agent\n\n\
        Package: default-mta\nVersion: 1\nDepends: exim4\n\n\
        Package: exim4\nVersion: 4.96\nProvides: mail-transport-agent\n\n\
        Package: postfix\nVersion: 3.7\nProvides: mail-transport-agent\n\n\
        Package: pager-user\nVersion: 1\nDepends: no-such-pager | less | more\n\n\
        Package: less\nVersion: 590\n\n\
        Package: more\nVersion: 2.38\n";
    // Nothing installed: the first alternative.
    let out = Case::new(packages).ok(&["mailer"]);
    assert_eq!(out.packages, ["default-mta 1", "exim4 4.96", "mailer 1"]);
    // An installed provider of a later alternative wins.
    let out = Case::new(packages)
        .installed("Package: postfix\nVersion: 3.7\nProvides: mail-transport-agent\n")
        .ok(&["mailer"]);
    assert_eq!(out.packages, ["mailer 1"]);
    assert_eq!(out.requires["mailer"], ["postfix"]);
    // An alternative chosen earlier in the same run wins too.
    let out = Case::new(packages).ok(&["postfix", "mailer"]);
    assert_eq!(out.packages, ["mailer 1", "postfix 3.7"]);
    // An unknown first alternative is passed over.
    let out = Case::new(packages).ok(&["pager-user"]);
    assert_eq!(out.packages, ["less 590", "pager-user 1"]);
    let out = Case::new(packages)
        .installed("Package: more\nVersion: 2.38\n")
        .ok(&["pager-user"]);
    assert_eq!(out.packages, ["pager-user 1"]);
}

#[test]
fn virtual_packages_and_provider_ranking() {
    let packages = "Package: needs-awk\nVersion: 1\nDepends: awk\n\n\
        Package: gawk\nVersion: 5.2\nProvides: awk\nPriority: optional\n\n\
        Package: mawk\nVersion: 1.3\nProvides: awk\nPriority: required\n\n\
        Package: original-awk\nVersion: 2012\nProvides: awk\nPriority: optional\n\n\
        Package: needs-java\nVersion: 1\nDepends: java-runtime\n\n\
        Package: openjdk-17-jre\nVersion: 17\nProvides: java-runtime, java17-runtime\n";
    // Nothing installed: the provider with the most important Priority.
    assert_eq!(
        Case::new(packages).ok(&["needs-awk"]).packages,
        ["mawk 1.3", "needs-awk 1"]
    );
    // An installed provider is used.
    let installed = "Package: gawk\nVersion: 5.2\nProvides: awk\n";
    assert_eq!(
        Case::new(packages)
            .installed(installed)
            .ok(&["needs-awk"])
            .packages,
        ["needs-awk 1"]
    );
    // Requesting a virtual package with one provider installs that provider …
    let out = Case::new(packages).ok(&["java17-runtime"]);
    assert_eq!(out.packages, ["openjdk-17-jre 17"]);
    assert_eq!(out.requested, ["openjdk-17-jre"]);
    // … with several, apt-get makes the user choose.
    let e = Case::new(packages).err(&["awk"]);
    assert!(
        e.contains("virtual package provided by gawk, mawk, original-awk"),
        "{e}"
    );
    // Even when one of them is installed.
    let e = Case::new(packages).installed(installed).err(&["awk"]);
    assert!(e.contains("virtual package provided by"), "{e}");
    // Providers equal in every rank: the name last in order, as apt chose for
    // x-terminal-emulator on real data.
    let terminals = "Package: needs-term\nVersion: 1\nDepends: x-terminal-emulator\n\n\
        Package: alacritty\nVersion: 0.11\nProvides: x-terminal-emulator\nPriority: optional\n\n\
        Package: zutty\nVersion: 0.14\nProvides: x-terminal-emulator\nPriority: optional\n\n\
        Package: kitty\nVersion: 0.26\nProvides: x-terminal-emulator\nPriority: optional\n";
    assert_eq!(
        Case::new(terminals).ok(&["needs-term"]).packages,
        ["needs-term 1", "zutty 0.14"]
    );
}

#[test]
fn versioned_provides_satisfy_versioned_dependencies_unversioned_never() {
    let packages = "Package: app\nVersion: 1\nDepends: libfoo-abi (>= 2)\n\n\
        Package: libfoo2\nVersion: 2.1\nProvides: libfoo-abi (= 2)\n\n\
        Package: old-app\nVersion: 1\nDepends: libbar-api (>= 1)\n\n\
        Package: libbar\nVersion: 1\nProvides: libbar-api\n\n\
        Package: plain\nVersion: 1\nDepends: libbar-api\n";
    let case = Case::new(packages);
    assert_eq!(case.ok(&["app"]).packages, ["app 1", "libfoo2 2.1"]);
    assert_eq!(case.ok(&["plain"]).packages, ["libbar 1", "plain 1"]);
    let e = case.err(&["old-app"]);
    assert!(
        e.contains("old-app 1 depends on `libbar-api (>= 1)`"),
        "{e}"
    );
    assert!(e.contains("no package provides libbar-api"), "{e}");
}

#[test]
fn multi_arch_any_foreign_and_architecture_all() {
    let packages = "Package: py-tool\nVersion: 1\nArchitecture: all\nDepends: python3:any, libfoo\n\n\
        Package: python3\nVersion: 3.11\nMulti-Arch: allowed\n\n\
        Package: libfoo\nVersion: 1\nMulti-Arch: same\n\n\
        Package: libfoo\nVersion: 1\nArchitecture: i386\nMulti-Arch: same\n\n\
        Package: make-user\nVersion: 1\nDepends: make\n\n\
        Package: strict\nVersion: 1\nDepends: libbaz:any\n\n\
        Package: libbaz\nVersion: 1\nArchitecture: i386\n";
    let tools = "Package: make\nVersion: 4.3\nArchitecture: i386\nMulti-Arch: foreign\n";
    let case = Case::new(packages).source(tools, PRIORITY_DEFAULT);
    // `all` depends like a native package: the amd64 libfoo, never the i386 one.
    let out = case.ok(&["py-tool"]);
    assert_eq!(out.packages, ["libfoo 1", "py-tool 1", "python3 3.11"]);
    // A Multi-Arch: foreign package of another architecture satisfies a plain dependency.
    assert_eq!(
        case.ok(&["make-user"]).packages,
        ["make 4.3", "make-user 1"]
    );
    // `:any` of another architecture only for Multi-Arch: allowed.
    let e = case.err(&["strict"]);
    assert!(e.contains("depends on `libbaz:any`"), "{e}");
    // `name:arch` requests that architecture.
    let out = case.ok(&["libfoo:i386"]);
    assert_eq!(out.packages, ["libfoo 1"]);
    // An installed python3 satisfies `python3:any`.
    let out = Case::new(packages)
        .installed("Package: python3\nVersion: 3.11\nMulti-Arch: allowed\n")
        .ok(&["py-tool"]);
    assert_eq!(out.packages, ["libfoo 1", "py-tool 1"]);
}

#[test]
fn installed_packages_are_kept_unless_a_versioned_dependency_needs_more() {
    let packages = "Package: libssl3\nVersion: 3.0.15-1\n\n\
        Package: curl\nVersion: 7.88\nDepends: libssl3\n\n\
        Package: newer-curl\nVersion: 8\nDepends: libssl3 (>= 3.0.15)\n\n\
        Package: libc6\nVersion: 2.36-9+deb12u9\n\n\
        Package: libc-bin\nVersion: 2.36-9+deb12u9\nDepends: libc6 (= 2.36-9+deb12u9)\n\n\
        Package: needs-new-libc\nVersion: 1\nDepends: libc6 (>= 2.36-9+deb12u9)\n";
    let installed = "Package: libssl3\nVersion: 3.0.11-1\n\n\
        Package: libc6\nVersion: 2.36-9\n\n\
        Package: libc-bin\nVersion: 2.36-9\nDepends: libc6 (= 2.36-9)\n";
    let case = Case::new(packages).installed(installed);
    assert_eq!(case.ok(&["curl"]).packages, ["curl 7.88"]);
    let out = case.ok(&["newer-curl"]);
    assert_eq!(out.packages, ["libssl3 3.0.15-1", "newer-curl 8"]);
    assert_eq!(out.upgrades, ["libssl3 3.0.11-1→3.0.15-1"]);
    // Upgrading libc6 breaks libc-bin's `(= 2.36-9)`: libc-bin moves along, as in apt.
    let out = case.ok(&["needs-new-libc"]);
    assert_eq!(
        out.upgrades,
        [
            "libc-bin 2.36-9→2.36-9+deb12u9",
            "libc6 2.36-9→2.36-9+deb12u9"
        ]
    );
}

#[test]
fn breaks_and_conflicts_upgrade_the_base_or_fail_naming_both() {
    let packages = "Package: newtool\nVersion: 2\nBreaks: oldlib (<< 2)\n\n\
        Package: oldlib\nVersion: 2\n\n\
        Package: rival\nVersion: 1\nConflicts: incumbent\n\n\
        Package: fresh\nVersion: 1\n\n\
        Package: picky\nVersion: 3\nBreaks: fresh\n";
    let installed = "Package: oldlib\nVersion: 1\n\n\
        Package: incumbent\nVersion: 1\n\n\
        Package: grumpy\nVersion: 1\nConflicts: fresh\n";
    let case = Case::new(packages).installed(installed);
    // A candidate of the installed package fixes the Breaks: it is upgraded.
    let out = case.ok(&["newtool"]);
    assert_eq!(out.packages, ["newtool 2", "oldlib 2"]);
    assert_eq!(out.upgrades, ["oldlib 1→2"]);
    // No version fixes it: an error naming both sides.
    let e = case.err(&["rival"]);
    assert!(
        e.contains(
            "rival 1 conflicts with `incumbent`, and incumbent 1 (installed in the base image)"
        ),
        "{e}"
    );
    // An installed package's Conflicts against a new one.
    let e = case.err(&["fresh"]);
    assert!(e.contains("grumpy 1 conflicts with `fresh`"), "{e}");
    // Two requests that cannot go together.
    let e = Case::new(packages).err(&["fresh", "picky"]);
    assert!(
        e.contains("picky 3 breaks `fresh`, and fresh 1 (to be installed)"),
        "{e}"
    );
}

#[test]
fn bad_requests_get_errors_that_say_what_exists() {
    let packages = "Package: graphviz\nVersion: 2.42.2-7\n\n\
        Package: graphviz\nVersion: 2.42.2-7+b3\n\n\
        Package: libpq5\nVersion: 15.8-0+deb12u1\n";
    let case = Case::new(packages);
    let e = case.err(&["grafviz"]);
    assert!(
        e.contains("`grafviz` is not in any configured source"),
        "{e}"
    );
    assert!(e.contains("did you mean graphviz?"), "{e}");
    let e = case.err(&["libpq5 (>= 16)"]);
    assert!(
        e.contains("no version of `libpq5` satisfies the request `libpq5 (>= 16)`; the sources have 15.8-0+deb12u1"),
        "{e}"
    );
    let e = case.err(&["graphviz=2.40"]);
    assert!(e.contains("the sources have 2.42.2-7+b3, 2.42.2-7"), "{e}");
    let e =
        Case::new("Package: app\nVersion: 1\nDepends: lib (>= 2)\n\nPackage: lib\nVersion: 1\n")
            .err(&["app"]);
    assert!(e.contains("app 1 depends on `lib (>= 2)`"), "{e}");
    assert!(e.contains("lib has 1"), "{e}");
}

#[test]
fn installed_binaries_of_the_same_source_upgrade_together() {
    // apt-get's upgrade by source package: a new xz-utils brings the installed
    // liblzma5 to the same source version, though xz-utils' Depends do not ask for it.
    let packages = "Package: xz-utils\nVersion: 5.4.1-1+deb12u2\nDepends: liblzma5 (>= 5.4.0)\n\n\
        Package: liblzma5\nSource: xz-utils\nVersion: 5.4.1-1+deb12u2\n\n\
        Package: libfoo1\nSource: foo (1.0-2)\nVersion: 1.0-2+b1\n\n\
        Package: foo-tool\nSource: foo\nVersion: 1.0-3\n";
    let installed = "Package: liblzma5\nSource: xz-utils\nVersion: 5.4.1-1+deb12u1\n\n\
        Package: libfoo1\nSource: foo (1.0-1)\nVersion: 1.0-1+b1\n";
    let case = Case::new(packages).installed(installed);
    let out = case.ok(&["xz-utils"]);
    assert_eq!(out.upgrades, ["liblzma5 5.4.1-1+deb12u1→5.4.1-1+deb12u2"]);
    assert_eq!(out.requested, ["xz-utils"]);
    // Only to the same source version: foo-tool is 1.0-3, libfoo1's candidate 1.0-2.
    assert_eq!(case.ok(&["foo-tool"]).packages, ["foo-tool 1.0-3"]);
}
