//! The renderings of a [`LockDiff`]: text for a terminal (aligned, coloured; the colours
//! are dropped by the output stream under NO_COLOR or when it is not a terminal),
//! markdown to paste as a pull-request comment, JSON (SPEC.md's shape) for machines.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

use super::{BaseContents, Change, FromTo, LockDiff, PackageChanges};

/// An ecosystem's table (or the base's contents) longer than this many rows is folded
/// into `<details>` in markdown, so the comment stays readable.
const FOLD_OVER: usize = 12;

/// One line of a listing: its mark, name, version text and a note (for text), and its
/// before and after cells (for a markdown table; `None` shows as a dash).
struct Line {
    kind: Kind,
    name: String,
    versions: String,
    note: String,
    before: Option<String>,
    after: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Added,
    Removed,
    Upgraded,
    Downgraded,
    /// A version change in neither order (a version its grammar refuses, or a respelling).
    Changed,
    Replaced,
    Moved,
}

impl Kind {
    fn mark(self) -> &'static str {
        match self {
            Kind::Added => "+",
            Kind::Removed => "-",
            Kind::Upgraded => "↑",
            Kind::Downgraded => "↓",
            Kind::Changed => "~",
            Kind::Replaced => "!",
            Kind::Moved => ">",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Kind::Added => "added",
            Kind::Removed => "removed",
            Kind::Upgraded => "upgraded",
            Kind::Downgraded => "downgraded",
            Kind::Changed => "changed",
            Kind::Replaced => "replaced",
            Kind::Moved => "moved",
        }
    }

    fn style(self) -> Style {
        let color = |c: AnsiColor| Style::new().fg_color(Some(c.into()));
        match self {
            Kind::Added => color(AnsiColor::Green),
            Kind::Removed => color(AnsiColor::Red),
            Kind::Upgraded | Kind::Downgraded | Kind::Changed => color(AnsiColor::Yellow),
            // Same version, another file: the one a reviewer must not miss.
            Kind::Replaced => color(AnsiColor::Red).bold(),
            Kind::Moved => color(AnsiColor::Cyan),
        }
    }
}

/// The lines of one ecosystem's changes, in the order they are shown.
fn lines(c: &PackageChanges) -> Vec<Line> {
    let mut out = Vec::new();
    for p in &c.added {
        let note = if p.requested {
            "requested".to_string()
        } else if !p.pulled_in_by.is_empty() {
            format!("pulled in by {}", p.pulled_in_by.join(", "))
        } else {
            String::new()
        };
        out.push(Line {
            kind: Kind::Added,
            name: p.name.clone(),
            versions: p.version.clone(),
            note,
            before: None,
            after: Some(cell(&p.version)),
        });
    }
    for p in &c.removed {
        out.push(Line {
            kind: Kind::Removed,
            name: p.name.clone(),
            versions: p.version.clone(),
            note: String::new(),
            before: Some(cell(&p.version)),
            after: None,
        });
    }
    let change = |kind: Kind, ch: &Change| Line {
        kind,
        name: ch.name.clone(),
        versions: format!("{} → {}", ch.from, ch.to),
        note: String::new(),
        before: Some(cell(&ch.from)),
        after: Some(cell(&ch.to)),
    };
    out.extend(c.upgraded.iter().map(|ch| change(Kind::Upgraded, ch)));
    out.extend(c.downgraded.iter().map(|ch| change(Kind::Downgraded, ch)));
    out.extend(c.unordered().map(|ch| change(Kind::Changed, ch)));
    for r in &c.replaced {
        let version = cell(&r.version);
        let pinned = |sha256: &str, size: u64| {
            format!("{version} (sha256 `{}`, {size} bytes)", short_hex(sha256))
        };
        out.push(Line {
            kind: Kind::Replaced,
            name: r.name.clone(),
            versions: r.version.clone(),
            note: format!(
                "artifact replaced: sha256 {} → {}, {} → {} bytes",
                short_hex(&r.sha256.from),
                short_hex(&r.sha256.to),
                r.size.from,
                r.size.to
            ),
            before: Some(pinned(&r.sha256.from, r.size.from)),
            after: Some(format!(
                "**artifact replaced**: {}",
                pinned(&r.sha256.to, r.size.to)
            )),
        });
    }
    for m in &c.moved {
        let version = cell(&m.version);
        out.push(Line {
            kind: Kind::Moved,
            name: m.name.clone(),
            versions: m.version.clone(),
            note: format!("moved: {} → {}", m.from, m.to),
            before: Some(format!("{version} from `{}`", cell(&m.from))),
            after: Some(format!("**moved**: {version} from `{}`", cell(&m.to))),
        });
    }
    out
}

/// `3 added, 1 upgraded`: the kinds that occur, in the order they are listed.
fn counts(c: &PackageChanges) -> String {
    let unordered = c.unordered().count();
    [
        (c.added.len(), Kind::Added),
        (c.removed.len(), Kind::Removed),
        (c.upgraded.len(), Kind::Upgraded),
        (c.downgraded.len(), Kind::Downgraded),
        (unordered, Kind::Changed),
        (c.replaced.len(), Kind::Replaced),
        (c.moved.len(), Kind::Moved),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, kind)| format!("{n} {}", kind.word()))
    .collect::<Vec<_>>()
    .join(", ")
}

/// `12.5 MiB → 13.1 MiB (+612.0 KiB)`.
fn size_change(size: &FromTo<u64>) -> String {
    format!(
        "{} → {} ({})",
        bytes(size.from),
        bytes(size.to),
        delta(size.from, size.to)
    )
}

/// Bytes in binary units, as cargo prints them.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn delta(from: u64, to: u64) -> String {
    match to.cmp(&from) {
        std::cmp::Ordering::Greater => format!("+{}", bytes(to - from)),
        std::cmp::Ordering::Less => format!("-{}", bytes(from - to)),
        std::cmp::Ordering::Equal => "±0 B".to_string(),
    }
}

pub fn text(d: &LockDiff) -> String {
    if d.is_empty() {
        return "no changes\n".into();
    }
    let bold = Style::new().bold();
    let mut out = String::new();
    if let Some(base) = &d.base {
        let _ = writeln!(out, "{bold}base{bold:#}  {} → {}", base.from, base.to);
        if let Some((from, to)) = &base.reference {
            let _ = writeln!(out, "      {from} → {to}");
        }
        if let Some(contents) = &base.contents {
            text_contents(&mut out, contents);
        }
    }
    for (name, changes) in d.ecosystems() {
        if changes.is_empty() {
            continue;
        }
        let mut head = format!("{bold}{name}{bold:#}  {}", counts(changes));
        if let Some(size) = &changes.size
            && size.from != size.to
        {
            let _ = write!(head, " · download {}", size_change(size));
        }
        let _ = writeln!(out, "{head}");
        text_lines(&mut out, "  ", &lines(changes));
    }
    if d.size.from != d.size.to {
        let _ = writeln!(out, "{bold}download size{bold:#}  {}", size_change(&d.size));
    }
    out
}

fn text_contents(out: &mut String, contents: &BaseContents) {
    if contents.is_empty() {
        let _ = writeln!(out, "  inside the base: no package changed");
        return;
    }
    let _ = writeln!(out, "  inside the base:");
    for (name, changes) in contents.ecosystems() {
        if changes.is_empty() {
            continue;
        }
        let _ = writeln!(out, "    {name}  {}", counts(changes));
        text_lines(out, "      ", &lines(changes));
    }
}

/// The lines, their names and versions in aligned columns.
fn text_lines(out: &mut String, indent: &str, lines: &[Line]) {
    let name_width = lines.iter().map(|l| l.name.chars().count()).max();
    let version_width = lines
        .iter()
        .filter(|l| !l.note.is_empty())
        .map(|l| l.versions.chars().count())
        .max()
        .unwrap_or(0);
    let name_width = name_width.unwrap_or(0);
    for l in lines {
        let style = l.kind.style();
        let mut line = format!(
            "{indent}{style}{}{style:#} {:name_width$}  ",
            l.kind.mark(),
            l.name
        );
        if l.note.is_empty() {
            line.push_str(&l.versions);
        } else {
            let _ = write!(line, "{:version_width$}  {}", l.versions, l.note);
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

pub fn markdown(d: &LockDiff) -> String {
    if d.is_empty() {
        return "**runtime.lock**: no changes\n".into();
    }
    let mut out = String::from("### runtime.lock changes\n\n");
    // The one-line summary: what changed, per ecosystem, and the size.
    let mut summary: Vec<String> = d
        .ecosystems()
        .iter()
        .filter(|(_, c)| !c.is_empty())
        .map(|(name, c)| format!("**{name}** {}", counts(c)))
        .collect();
    if d.base.is_some() {
        summary.push("**base image** changed".into());
    }
    if d.size.from != d.size.to {
        summary.push(format!("download {}", size_change(&d.size)));
    }
    let _ = writeln!(out, "{}\n", summary.join(" · "));
    if let Some(base) = &d.base {
        let digests = format!(
            "`{}` → `{}`",
            short(base.from.as_str()),
            short(base.to.as_str())
        );
        match &base.reference {
            Some((from, to)) => {
                let _ = writeln!(
                    out,
                    "**Base image**: `{}` → `{}` ({digests})\n",
                    cell(from),
                    cell(to)
                );
            }
            None => {
                let _ = writeln!(out, "**Base image**: {digests}\n");
            }
        }
        if let Some(contents) = &base.contents {
            markdown_contents(&mut out, contents);
        }
    }
    for (name, changes) in d.ecosystems() {
        if changes.is_empty() {
            continue;
        }
        let mut head = format!("#### {name}: {}", counts(changes));
        if let Some(size) = &changes.size
            && size.from != size.to
        {
            let _ = write!(head, " · download {}", size_change(size));
        }
        let _ = writeln!(out, "{head}\n");
        let rows = lines(changes);
        let table = markdown_table(&rows, true);
        if rows.len() > FOLD_OVER {
            let _ = writeln!(
                out,
                "<details><summary>{} changes in {name}</summary>\n\n{table}\n</details>\n",
                rows.len()
            );
        } else {
            let _ = writeln!(out, "{table}");
        }
    }
    out
}

/// What changed inside the base: always folded, as it is not what the pull request
/// changes, but what it takes in.
fn markdown_contents(out: &mut String, contents: &BaseContents) {
    if contents.is_empty() {
        let _ = writeln!(out, "Inside the base, no package changed.\n");
        return;
    }
    let summary: Vec<String> = contents
        .ecosystems()
        .iter()
        .filter(|(_, c)| !c.is_empty())
        .map(|(name, c)| format!("{name} {}", counts(c)))
        .collect();
    let _ = writeln!(
        out,
        "<details><summary>Inside the base: {}</summary>\n",
        summary.join(" · ")
    );
    for (name, changes) in contents.ecosystems() {
        if changes.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "##### {name}\n\n{}",
            markdown_table(&lines(changes), false)
        );
    }
    let _ = writeln!(out, "</details>\n");
}

fn markdown_table(rows: &[Line], pulled_in_by: bool) -> String {
    let mut table = String::new();
    if pulled_in_by {
        table.push_str("| | package | before | after | pulled in by |\n|---|---|---|---|---|\n");
    } else {
        table.push_str("| | package | before | after |\n|---|---|---|---|\n");
    }
    for l in rows {
        let dash = || "—".to_string();
        let before = l.before.clone().unwrap_or_else(dash);
        let after = l.after.clone().unwrap_or_else(dash);
        let word = match l.kind {
            Kind::Replaced => "**replaced**".to_string(),
            kind => kind.word().to_string(),
        };
        let _ = write!(table, "| {word} | `{}` | {before} | {after} |", l.name);
        if pulled_in_by {
            let note = if l.kind == Kind::Added {
                cell(&l.note)
            } else {
                String::new()
            };
            let _ = write!(table, " {note} |");
        }
        table.push('\n');
    }
    table
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
    let base = d.base.as_ref().map(|b| {
        let mut base = serde_json::json!({"from": b.from, "to": b.to, "contents": b.contents});
        if let Some((from, to)) = &b.reference {
            base["reference"] = serde_json::json!({"from": from, "to": to});
        }
        base
    });
    let value = serde_json::json!({
        "base": base,
        "apt": d.apt,
        "pip": d.pip,
        "r": d.r,
        "size": d.size,
    });
    let mut out = serde_json::to_string_pretty(&value).expect("diffs serialize");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(delta(2048, 1024), "-1.0 KiB");
        assert_eq!(delta(7, 7), "±0 B");
    }
}
