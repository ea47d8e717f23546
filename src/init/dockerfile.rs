//! A Dockerfile read as Docker's parser reads it, for what `init --from` converts:
//! the `escape` parser directive, comments (kept with their line, for the
//! `# rtlock-requested` marks of `export dockerfile`), line continuations (a comment or
//! an empty line inside one is skipped), heredocs (`<<EOF` … `EOF`, skipped whole), and
//! each instruction with the line it starts on. `ARG` defaults are substituted into
//! later instructions' `$NAME` and `${NAME}` (and `${NAME:-default}`), as Docker does.

use std::collections::BTreeMap;

/// One instruction: its keyword in upper case and its arguments, continuation lines
/// joined with a space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line the instruction starts on.
    pub line: usize,
    pub keyword: String,
    pub args: String,
    /// It carried a heredoc, whose body init does not read.
    pub heredoc: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dockerfile {
    pub instructions: Vec<Instruction>,
    /// `(line, text after '#', trimmed)` of every comment line.
    pub comments: Vec<(usize, String)>,
}

pub fn parse(text: &str) -> Dockerfile {
    let mut escape = '\\';
    let mut out = Dockerfile::default();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    let mut directives = true;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        if let Some(comment) = trimmed.strip_prefix('#') {
            if directives
                && let Some((key, value)) = comment.split_once('=')
                && key.trim().eq_ignore_ascii_case("escape")
            {
                escape = value.trim().chars().next().unwrap_or('\\');
            }
            out.comments.push((i + 1, comment.trim().to_string()));
            i += 1;
            continue;
        }
        directives = false;
        if trimmed.is_empty() {
            i += 1;
            continue;
        }
        let start = i;
        let mut joined = String::new();
        let mut current = trimmed.to_string();
        loop {
            match current.strip_suffix(escape) {
                Some(head) => {
                    joined.push_str(head.trim_end());
                    joined.push(' ');
                    i += 1;
                    // Comment and empty lines inside a continuation are skipped.
                    while i < lines.len() {
                        let next = lines[i].trim();
                        if next.is_empty() || next.starts_with('#') {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    match lines.get(i) {
                        Some(next) => current = next.trim().to_string(),
                        None => break,
                    }
                }
                None => {
                    joined.push_str(&current);
                    i += 1;
                    break;
                }
            }
        }
        let (keyword, args) = match joined.split_once(char::is_whitespace) {
            Some((k, a)) => (k.to_ascii_uppercase(), a.trim().to_string()),
            None => (joined.to_ascii_uppercase(), String::new()),
        };
        let heredoc = heredoc_end(&args);
        if let Some(end) = &heredoc {
            while i < lines.len() && lines[i].trim() != end {
                i += 1;
            }
            i += 1;
        }
        out.instructions.push(Instruction {
            line: start + 1,
            keyword,
            args,
            heredoc: heredoc.is_some(),
        });
    }
    out
}

/// The terminator of a heredoc the arguments open (`<<EOF`, `<<-EOF`, `<<"EOF"`).
fn heredoc_end(args: &str) -> Option<String> {
    let at = args.find("<<")?;
    let rest = args[at + 2..].trim_start_matches('-');
    let word: String = rest
        .trim_matches(|c| c == '"' || c == '\'')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()))
    .then_some(word)
}

/// `$NAME`, `${NAME}` and `${NAME:-default}` replaced by their values in `args` (names
/// without a value are left as written, so the caller sees they remain).
pub fn substitute(text: &str, args: &BTreeMap<String, String>) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'{')
            && let Some(len) = chars[i + 2..].iter().position(|&c| c == '}')
        {
            let inner: String = chars[i + 2..i + 2 + len].iter().collect();
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n.to_string(), Some(d.to_string())),
                None => (inner.clone(), None),
            };
            match args.get(&name).cloned().or(default) {
                Some(value) => out.push_str(&value),
                None => out.push_str(&format!("${{{inner}}}")),
            }
            i += 3 + len;
            continue;
        }
        let name: String = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .collect();
        match args.get(&name) {
            Some(value) if !name.is_empty() => out.push_str(value),
            _ => {
                out.push('$');
                out.push_str(&name);
            }
        }
        i += 1 + name.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_comments_and_heredocs() {
        let text = "# syntax=docker/dockerfile:1\nARG TAG=1.0\nFROM x:${TAG} AS run\n\
                    RUN apt-get update && \\\n    # a comment inside\n\n    apt-get install -y a\n\
                    run <<EOF\necho hi\nEOF\nUSER 8536\n";
        let d = parse(text);
        let kinds: Vec<(usize, &str)> = d
            .instructions
            .iter()
            .map(|i| (i.line, i.keyword.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (2, "ARG"),
                (3, "FROM"),
                (4, "RUN"),
                (8, "RUN"),
                (11, "USER")
            ]
        );
        assert_eq!(
            d.instructions[2].args,
            "apt-get update && apt-get install -y a"
        );
        assert!(d.instructions[3].heredoc);
        // Only comment lines between instructions are comments; inside one they are skipped.
        assert_eq!(d.comments, [(1, "syntax=docker/dockerfile:1".to_string())]);
        let args = BTreeMap::from([("TAG".to_string(), "2.0".to_string())]);
        assert_eq!(
            substitute("x:${TAG} $TAG ${NO:-d} $NO", &args),
            "x:2.0 2.0 d $NO"
        );
    }

    #[test]
    fn the_escape_directive() {
        let d = parse("# escape=`\nFROM x\nRUN a `\n  b\n");
        assert_eq!(d.instructions[1].args, "a b");
    }
}
