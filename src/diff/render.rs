//! The renderings of a [`LockDiff`]: text for a terminal, markdown for a pull request,
//! JSON (SPEC.md's shape) for machines.

use std::fmt::Write as _;

use super::LockDiff;

pub fn text(d: &LockDiff) -> String {
    if d.is_empty() {
        return "no changes\n".into();
    }
    let mut out = String::new();
    if let Some(base) = &d.base {
        if let Some((from, to)) = &base.reference {
            let _ = writeln!(out, "base: {from} -> {to}");
        }
        let _ = writeln!(out, "base: {} -> {}", base.from, base.to);
    }
    for (name, changes) in d.ecosystems() {
        if changes.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{name}:");
        for p in &changes.added {
            let _ = writeln!(out, "  + {} {}", p.name, p.version);
        }
        for p in &changes.removed {
            let _ = writeln!(out, "  - {} {}", p.name, p.version);
        }
        for c in &changes.changed {
            let _ = writeln!(out, "  ~ {} {} -> {}", c.name, c.from, c.to);
        }
        for r in &changes.replaced {
            let _ = writeln!(
                out,
                "  ! {} {}: artifact replaced (sha256 {} -> {}, size {} -> {})",
                r.name,
                r.version,
                short_hex(&r.sha256.from),
                short_hex(&r.sha256.to),
                r.size.from,
                r.size.to
            );
        }
        for m in &changes.moved {
            let _ = writeln!(
                out,
                "  > {} {}: moved ({} -> {})",
                m.name, m.version, m.from, m.to
            );
        }
    }
    out
}

pub fn markdown(d: &LockDiff) -> String {
    if d.is_empty() {
        return "**runtime.lock**: no changes\n".into();
    }
    let mut out = String::from("### runtime.lock changes\n\n");
    let summary: Vec<String> = d
        .ecosystems()
        .iter()
        .filter(|(_, c)| !c.is_empty())
        .map(|(name, c)| {
            let mut line = format!(
                "{name}: {} added, {} removed, {} changed",
                c.added.len(),
                c.removed.len(),
                c.changed.len()
            );
            // Only when there are some: they are rare, and alarming when they happen.
            for (count, what) in [(c.replaced.len(), "**replaced**"), (c.moved.len(), "moved")] {
                if count > 0 {
                    let _ = write!(line, ", {count} {what}");
                }
            }
            line
        })
        .collect();
    if let Some(base) = &d.base {
        let _ = writeln!(
            out,
            "**Base image changed**: `{}` → `{}`\n",
            short(base.from.as_str()),
            short(base.to.as_str())
        );
        if let Some((from, to)) = &base.reference {
            let _ = writeln!(out, "Reference: `{from}` → `{to}`\n");
        }
    }
    if !summary.is_empty() {
        let _ = writeln!(out, "{}\n", summary.join(" · "));
    }
    for (name, changes) in d.ecosystems() {
        if changes.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "#### {name}\n\n| package | before | after |\n|---|---|---|"
        );
        for p in &changes.added {
            row(&mut out, &p.name, "—", &cell(&p.version));
        }
        for p in &changes.removed {
            row(&mut out, &p.name, &cell(&p.version), "—");
        }
        for c in &changes.changed {
            row(&mut out, &c.name, &cell(&c.from), &cell(&c.to));
        }
        for r in &changes.replaced {
            let version = cell(&r.version);
            let pinned = |sha256: &str, size: u64| {
                format!("{version} (sha256 `{}`, {size} bytes)", short_hex(sha256))
            };
            let after = pinned(&r.sha256.to, r.size.to);
            row(
                &mut out,
                &r.name,
                &pinned(&r.sha256.from, r.size.from),
                &format!("**artifact replaced**: {after}"),
            );
        }
        for m in &changes.moved {
            let version = cell(&m.version);
            row(
                &mut out,
                &m.name,
                &format!("{version} from `{}`", cell(&m.from)),
                &format!("**moved**: {version} from `{}`", cell(&m.to)),
            );
        }
        out.push('\n');
    }
    out
}

/// One row of an ecosystem's table.
fn row(out: &mut String, name: &str, before: &str, after: &str) {
    let _ = writeln!(out, "| `{name}` | {before} | {after} |");
}

/// Versions may hold `|` (never in practice, but a table must not break).
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min("sha256:".len() + 12)]
}

/// The first 12 hex digits of a sha256: enough to tell two files apart at a glance.
fn short_hex(sha256: &str) -> &str {
    &sha256[..sha256.len().min(12)]
}

pub fn json(d: &LockDiff) -> String {
    let base = d
        .base
        .as_ref()
        .map(|b| serde_json::json!({"from": b.from, "to": b.to}));
    let value = serde_json::json!({
        "base": base,
        "apt": d.apt,
        "pip": d.pip,
        "r": d.r,
    });
    let mut out = serde_json::to_string_pretty(&value).expect("diffs serialize");
    out.push('\n');
    out
}
