//! Errors that point into a file: `path:line:column`, the offending line, and a caret,
//! the way cargo and rustc show them, so a user sees at once what to fix and where.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A position in a text file, 1-based as editors show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// The line and column (in characters) of a byte offset into `text`.
    pub fn of_offset(text: &str, offset: usize) -> Position {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// An error located in a file. `Display` renders it with the source line and a caret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    pub path: PathBuf,
    pub position: Position,
    pub message: String,
    pub help: Option<String>,
    /// The text of the line the error is on, and the caret's width in characters.
    line_text: String,
    width: usize,
}

impl SourceError {
    /// An error about the bytes `span` of `text`, read from `path`.
    pub fn new(path: &Path, text: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let position = Position::of_offset(text, span.start);
        let line_text = text
            .lines()
            .nth(position.line - 1)
            .unwrap_or("")
            .to_string();
        let end = floor_char_boundary(text, span.end.min(text.len()).max(span.start));
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let spanned = &text[start..end];
        // Underline at most to the end of the first line of the span.
        let width = spanned
            .lines()
            .next()
            .map_or(1, |l| l.chars().count().max(1));
        SourceError {
            path: path.to_path_buf(),
            position,
            message: message.into(),
            help: None,
            line_text,
            width,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn line(&self) -> usize {
        self.position.line
    }

    pub fn column(&self) -> usize {
        self.position.column
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Position { line, column } = self.position;
        let gutter = line.to_string().len();
        writeln!(f, "{}", self.message)?;
        writeln!(
            f,
            "{:gutter$}--> {}:{line}:{column}",
            "",
            self.path.display()
        )?;
        writeln!(f, "{:gutter$} |", "")?;
        writeln!(f, "{line} | {}", self.line_text)?;
        write!(
            f,
            "{:gutter$} | {:pad$}{}",
            "",
            "",
            "^".repeat(self.width),
            pad = column - 1
        )?;
        if let Some(help) = &self.help {
            write!(f, "\n{:gutter$} = help: {help}", "")?;
        }
        Ok(())
    }
}

impl std::error::Error for SourceError {}

/// The messages of `error` and of its causes, each said once: many errors repeat their
/// cause in their own message (`cannot read X: {source}`), and a cause already said by a
/// message above it is left out. The one rule for every report of a chain (the
/// command's error on standard error, one-line chains in warnings).
pub fn distinct_messages(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut messages = vec![error.to_string()];
    let mut next = error.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !text.is_empty() && !messages.iter().any(|said| said.contains(&text)) {
            messages.push(text);
        }
        next = cause.source();
    }
    messages
}

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Chain {
        #[error("cannot read the manifest runtime.toml: {0}")]
        Repeats(#[source] std::io::Error),
        #[error("cannot build")]
        Wraps(#[source] Box<Chain>),
    }

    #[test]
    fn each_cause_is_said_once() {
        let io = || std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(
            distinct_messages(&Chain::Repeats(io())),
            ["cannot read the manifest runtime.toml: entity not found"]
        );
        assert_eq!(
            distinct_messages(&Chain::Wraps(Box::new(Chain::Repeats(io())))),
            [
                "cannot build",
                "cannot read the manifest runtime.toml: entity not found"
            ]
        );
    }

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(
            Position::of_offset(text, 0),
            Position { line: 1, column: 1 }
        );
        let x = text.find("\"x").unwrap();
        assert_eq!(
            Position::of_offset(text, x),
            Position { line: 2, column: 6 }
        );
    }

    #[test]
    fn renders_like_cargo() {
        let text = "[apt]\npakages = []\n";
        let err = SourceError::new(
            Path::new("runtime.toml"),
            text,
            6..13,
            "unknown key `pakages`",
        )
        .with_help("did you mean `packages`?");
        let shown = err.to_string();
        assert!(shown.contains("--> runtime.toml:2:1"), "{shown}");
        assert!(shown.contains("2 | pakages = []"), "{shown}");
        assert!(shown.contains("  | ^^^^^^^"), "{shown}");
        assert!(
            shown.ends_with("= help: did you mean `packages`?"),
            "{shown}"
        );
    }

    #[test]
    fn suggests_only_close_words() {
        assert_eq!(
            did_you_mean("pakages", &["packages", "sources"]),
            Some("packages")
        );
        assert_eq!(did_you_mean("zzz", &["packages", "sources"]), None);
    }
}
