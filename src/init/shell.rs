//! Enough of the POSIX shell's grammar to read the `RUN` lines of a Dockerfile: words
//! (quotes and backslashes removed), the operators that chain commands (`&&`, `||`,
//! `;`, `|`, `&`) and redirections. Nothing is expanded: a word that still holds a `$`
//! after quoting is marked, so the caller can say it cannot know its value.

/// One simple command of a `RUN` line, as the shell would split it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleCommand {
    /// `NAME=value` words before the program (`DEBIAN_FRONTEND=noninteractive apt-get …`).
    pub assignments: Vec<String>,
    pub words: Vec<Word>,
    /// Where standard output or error go when not to the terminal or `/dev/null`.
    pub writes_to: Vec<String>,
    /// Piped into the next command (`curl … | sh`).
    pub piped: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// Holds an unquoted or double-quoted `$`, a backquote, or a glob character: the
    /// shell would change it.
    pub expands: bool,
}

/// What a `RUN` line cannot be read as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellError {
    #[error("a quote is never closed")]
    Unclosed,
    #[error("it uses `{0}`, which init does not read (subshells, groups, control flow)")]
    Construct(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(Word),
    /// `&&`, `||`, `;`, `|`, `&`.
    Op(&'static str),
    /// `>`, `>>`, `2>`, `&>`, `<`… with its target.
    Redirect {
        op: String,
        target: Option<Word>,
    },
}

/// The simple commands of `script`, in order. Control flow (`if`, `for`, `(`, `{`) is an
/// error: init cannot say what such a line does.
pub fn commands(script: &str) -> Result<Vec<SimpleCommand>, ShellError> {
    let mut out = Vec::new();
    let mut current = SimpleCommand {
        assignments: Vec::new(),
        words: Vec::new(),
        writes_to: Vec::new(),
        piped: false,
    };
    let finish = |current: &mut SimpleCommand, out: &mut Vec<SimpleCommand>, piped: bool| {
        if !current.words.is_empty() || !current.assignments.is_empty() {
            current.piped = piped;
            out.push(std::mem::replace(
                current,
                SimpleCommand {
                    assignments: Vec::new(),
                    words: Vec::new(),
                    writes_to: Vec::new(),
                    piped: false,
                },
            ));
        }
    };
    for token in tokens(script)? {
        match token {
            Token::Op(op) => finish(&mut current, &mut out, op == "|"),
            Token::Redirect { op, target } => {
                let target = target.map(|t| t.text).unwrap_or_default();
                let harmless = op.starts_with('<')
                    || target == "/dev/null"
                    || target.starts_with('&') && target.len() == 2;
                if !harmless {
                    current.writes_to.push(target);
                }
            }
            Token::Word(word) => {
                if current.words.is_empty() {
                    if is_assignment(&word.text) {
                        current.assignments.push(word.text);
                        continue;
                    }
                    if CONTROL.contains(&word.text.as_str()) {
                        return Err(ShellError::Construct(word.text));
                    }
                }
                current.words.push(word);
            }
        }
    }
    finish(&mut current, &mut out, false);
    Ok(out)
}

/// Words that start compound commands.
const CONTROL: [&str; 10] = [
    "if", "for", "while", "until", "case", "{", "(", "function", "select", "!",
];

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

fn tokens(script: &str) -> Result<Vec<Token>, ShellError> {
    let chars: Vec<char> = script.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '#' => {
                // A comment runs to the end of the line.
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ';' => {
                out.push(Token::Op(";"));
                i += 1;
            }
            '&' if chars.get(i + 1) == Some(&'&') => {
                out.push(Token::Op("&&"));
                i += 2;
            }
            '|' if chars.get(i + 1) == Some(&'|') => {
                out.push(Token::Op("||"));
                i += 2;
            }
            '|' => {
                out.push(Token::Op("|"));
                i += 1;
            }
            '&' if chars.get(i + 1) == Some(&'>') => {
                i += 2;
                i = redirect(&chars, i, "&>".to_string(), &mut out)?;
            }
            '&' => {
                out.push(Token::Op("&"));
                i += 1;
            }
            '>' | '<' => {
                let mut op = c.to_string();
                i += 1;
                if chars.get(i) == Some(&c) {
                    op.push(c);
                    i += 1;
                }
                i = redirect(&chars, i, op, &mut out)?;
            }
            '(' | ')' => return Err(ShellError::Construct(c.to_string())),
            _ => {
                // `2>` and `1>>` are redirections, not words.
                if c.is_ascii_digit() && matches!(chars.get(i + 1), Some('>') | Some('<')) {
                    let fd = c;
                    let dir = chars[i + 1];
                    let mut op = format!("{fd}{dir}");
                    i += 2;
                    if chars.get(i) == Some(&dir) {
                        op.push(dir);
                        i += 1;
                    }
                    i = redirect(&chars, i, op, &mut out)?;
                    continue;
                }
                let (word, next) = word(&chars, i)?;
                out.push(Token::Word(word));
                i = next;
            }
        }
    }
    Ok(out)
}

/// A redirection's target word after `op` (which ends at `i`).
fn redirect(
    chars: &[char],
    mut i: usize,
    op: String,
    out: &mut Vec<Token>,
) -> Result<usize, ShellError> {
    // `2>&1`: the target is `&1`.
    if chars.get(i) == Some(&'&') {
        let mut target = String::from("&");
        i += 1;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '-') {
            target.push(chars[i]);
            i += 1;
        }
        out.push(Token::Redirect {
            op,
            target: Some(Word {
                text: target,
                expands: false,
            }),
        });
        return Ok(i);
    }
    while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
        i += 1;
    }
    if i >= chars.len() || is_special(chars[i]) {
        out.push(Token::Redirect { op, target: None });
        return Ok(i);
    }
    let (target, next) = word(chars, i)?;
    out.push(Token::Redirect {
        op,
        target: Some(target),
    });
    Ok(next)
}

fn is_special(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | '\r' | ';' | '&' | '|' | '<' | '>' | '(' | ')'
    )
}

/// One word starting at `i`: its text with quotes removed, and where it ends.
fn word(chars: &[char], mut i: usize) -> Result<(Word, usize), ShellError> {
    let mut text = String::new();
    let mut expands = false;
    while i < chars.len() && !is_special(chars[i]) {
        match chars[i] {
            '\'' => {
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(ShellError::Unclosed),
                        Some('\'') => break,
                        Some(&c) => text.push(c),
                    }
                    i += 1;
                }
                i += 1;
            }
            '"' => {
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(ShellError::Unclosed),
                        Some('"') => break,
                        Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\' | '$' | '`')) => {
                            text.push(chars[i + 1]);
                            i += 1;
                        }
                        Some('\\') if chars.get(i + 1) == Some(&'\n') => i += 1,
                        Some(&c) => {
                            expands |= c == '$' || c == '`';
                            text.push(c);
                        }
                    }
                    i += 1;
                }
                i += 1;
            }
            '\\' => {
                match chars.get(i + 1) {
                    Some('\n') => {}
                    Some(&c) => text.push(c),
                    None => {}
                }
                i += 2;
            }
            c => {
                // `~` expands only at the start of a word.
                expands |=
                    matches!(c, '$' | '`' | '*' | '?' | '[') || (c == '~' && text.is_empty());
                text.push(c);
                i += 1;
            }
        }
    }
    Ok((Word { text, expands }, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(script: &str) -> Vec<Vec<String>> {
        commands(script)
            .unwrap()
            .into_iter()
            .map(|c| c.words.into_iter().map(|w| w.text).collect())
            .collect()
    }

    #[test]
    fn chains_quotes_and_redirections() {
        assert_eq!(
            words("apt-get update && apt-get install -y 'a b' \"c\\\"d\" e\\ f; rm -rf /x"),
            [
                vec!["apt-get", "update"],
                vec!["apt-get", "install", "-y", "a b", "c\"d", "e f"],
                vec!["rm", "-rf", "/x"],
            ]
        );
        let c = commands("DEBIAN_FRONTEND=noninteractive apt-get install -y x >/dev/null 2>&1")
            .unwrap();
        assert_eq!(c[0].assignments, ["DEBIAN_FRONTEND=noninteractive"]);
        assert!(c[0].writes_to.is_empty());
        let c = commands("echo x > /etc/motd").unwrap();
        assert_eq!(c[0].writes_to, ["/etc/motd"]);
        let c = commands("curl -fsSL http://h/x.sh | sh").unwrap();
        assert!(c[0].piped && !c[1].piped);
        assert!(commands("pip install \"$PKG\"").unwrap()[0].words[2].expands);
        assert!(!commands("pip install 'pandas<3'").unwrap()[0].words[2].expands);
        assert_eq!(commands("echo 'x"), Err(ShellError::Unclosed));
        assert!(matches!(
            commands("if true; then x; fi"),
            Err(ShellError::Construct(_))
        ));
    }
}
