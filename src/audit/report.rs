//! `audit`'s renderings: text for people (aligned, coloured where the terminal and
//! `--color` allow) and JSON (SPEC.md's shape, with extra fields).

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

use super::{Audit, Findings, Status};

pub fn json(audit: &Audit) -> String {
    let mut out = serde_json::to_string_pretty(audit).expect("plain data serializes");
    out.push('\n');
    out
}

/// Per ecosystem what was compared and each difference on its own line, then one line
/// of verdict.
pub fn text(audit: &Audit) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "audit of {}", audit.image);
    for (ecosystem, findings, unit) in [
        ("apt", &audit.apt, "dpkg packages"),
        ("pip", &audit.pip, "Python distributions"),
        ("r", &audit.r, "R packages"),
    ] {
        let checked = audit.checked.get(ecosystem).copied().unwrap_or_default();
        let mut line = format!(
            "\n{ecosystem}: {} {unit}, {} recorded files compared",
            checked.packages, checked.files
        );
        if checked.without_record > 0 {
            let _ = write!(
                line,
                " ({} without a record of their files)",
                checked.without_record
            );
        }
        let _ = writeln!(
            s,
            "{line}: {}",
            if findings.is_empty() {
                "as locked".to_string()
            } else {
                plural(findings.count(), "difference")
            }
        );
        section(&mut s, findings);
    }
    let total = audit.apt.count() + audit.pip.count() + audit.r.count();
    match audit.status {
        Status::Match => {
            let style = Style::new().fg_color(Some(AnsiColor::Green.into()));
            let _ = writeln!(
                s,
                "\n{style}match{style:#}: the image holds exactly the base and the lock"
            );
        }
        Status::Drift => {
            let style = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
            let _ = writeln!(
                s,
                "\n{style}drift{style:#}: {} from the base and the lock",
                plural(total, "difference")
            );
        }
    }
    s
}

fn section(s: &mut String, f: &Findings) {
    let mut rows: Vec<(&str, AnsiColor, String, String)> = Vec::new();
    for p in &f.missing {
        rows.push(("missing", AnsiColor::Red, p.name.clone(), p.version.clone()));
    }
    for c in &f.changed {
        rows.push((
            "changed",
            AnsiColor::Yellow,
            c.name.clone(),
            format!("{} found, {} locked", c.found, c.locked),
        ));
    }
    for p in &f.extra {
        let at = p
            .location
            .as_deref()
            .map(|l| format!(" in {l}"))
            .unwrap_or_default();
        rows.push((
            "extra",
            AnsiColor::Cyan,
            p.name.clone(),
            format!("{}{at}", p.version),
        ));
    }
    for m in &f.modified_files {
        let what = match &m.found {
            Some(found) => format!("{found}, recorded {}", m.expected),
            None => "gone".to_string(),
        };
        rows.push((
            "modified",
            AnsiColor::Magenta,
            m.path.clone(),
            format!("({}) {what}", m.package),
        ));
    }
    let width = rows.iter().map(|r| r.2.chars().count()).max().unwrap_or(0);
    for (word, color, name, rest) in rows {
        let style = Style::new().fg_color(Some(color.into()));
        let _ = writeln!(s, "  {style}{word:<8}{style:#}  {name:<width$}  {rest}");
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
