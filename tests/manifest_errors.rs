//! The corpus of bad manifests in fixtures/manifests/bad: each file ends with a line
//! `# expect LINE:COLUMN: TEXT`, the position the error must point at and a piece of its
//! message. None may panic; every one must be refused with exactly that position.

use std::path::{Path, PathBuf};

use rtlock::manifest::Manifest;

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/manifests/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

struct Expectation {
    line: usize,
    column: usize,
    text: String,
}

fn expectation(path: &Path, text: &str) -> Expectation {
    let line = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("# expect "))
        .unwrap_or_else(|| {
            panic!(
                "{} has no `# expect LINE:COLUMN: TEXT` line",
                path.display()
            )
        });
    let (position, message) = line.split_once(": ").expect("`# expect LINE:COLUMN: TEXT`");
    let (l, c) = position.split_once(':').expect("LINE:COLUMN");
    Expectation {
        line: l.parse().unwrap(),
        column: c.parse().unwrap(),
        text: message.to_string(),
    }
}

#[test]
fn the_corpus_is_large_enough() {
    assert!(
        corpus().len() >= 15,
        "the issue asks for at least 15 bad manifests"
    );
}

#[test]
fn every_bad_manifest_is_refused_at_its_position() {
    let mut failures = Vec::new();
    for path in corpus() {
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = expectation(&path, &text);
        let outcome = std::panic::catch_unwind(|| Manifest::parse(&text, &path));
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        match outcome {
            Err(_) => failures.push(format!("{name}: panicked")),
            Ok(Ok(_)) => failures.push(format!("{name}: was accepted")),
            Ok(Err(e)) => {
                let shown = e.to_string();
                if (e.line(), e.column()) != (expected.line, expected.column)
                    || !shown.contains(&expected.text)
                {
                    failures.push(format!(
                        "{name}: expected {}:{} containing {:?}, got {}:{}:\n{shown}",
                        expected.line,
                        expected.column,
                        expected.text,
                        e.line(),
                        e.column()
                    ));
                }
                let location = format!("{}:{}:{}", path.display(), e.line(), e.column());
                if !shown.contains(&location) {
                    failures.push(format!(
                        "{name}: the message does not name {location}:\n{shown}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// What a user sees for each bad manifest (`rtlock lock` as the command line prints it),
/// pinned as one snapshot so that a change of wording shows in review.
#[test]
fn every_bad_manifest_renders_as_pinned() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut shown = String::new();
    for path in corpus() {
        let relative = path.strip_prefix(root).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rtlock"))
            .current_dir(root)
            .env("NO_COLOR", "1")
            .args(["lock", "--check", "-m"])
            .arg(relative)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{} was accepted", relative.display());
        shown.push_str(&format!(
            "── {} (exit {})\n{}\n",
            relative.display(),
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    insta::assert_snapshot!(shown);
}
