//! The `repos` option an `Rprofile.site` sets, read without running R.
//!
//! `Rprofile.site` is R code. The forms vendors write are read statically:
//! `options(repos = c(CRAN = "…", PPM = '…'))`, `options(repos = "…")` and the
//! `local({r <- getOption("repos"); r["CRAN"] <- "…"; options(repos = r)})` idiom of
//! R's own example file. Any other statement that touches `repos` (a URL computed by
//! `Sys.getenv`, `paste0`, a variable set elsewhere) cannot be known without running R,
//! so it is an error naming its line rather than a guess.

use super::Repo;

/// A statement about `repos` that is not one of the static forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: cannot read the `repos` option statically: `{statement}`")]
pub struct RprofileError {
    /// 1-based.
    pub line: usize,
    pub statement: String,
}

/// The repositories `text` sets, in order (a later `NAME = …` replaces an earlier one).
pub fn repos(text: &str) -> Result<Vec<Repo>, RprofileError> {
    let mut out: Vec<Repo> = Vec::new();
    // Names bound to `getOption("repos")`, whose `NAME["X"] <- "…"` edits are repos.
    let mut copies: Vec<String> = Vec::new();
    for (line, statement) in statements(&strip_comments(text)) {
        if !statement.contains("repos") && !copies.iter().any(|c| edits(&statement, c)) {
            continue;
        }
        let refuse = || RprofileError {
            line,
            statement: statement.trim().to_string(),
        };
        read_part(statement.trim(), &mut copies, &mut out).ok_or_else(refuse)?;
    }
    Ok(out)
}

/// One simple statement: `Some(())` when it is a static form (its repos added to `out`).
fn read_part(part: &str, copies: &mut Vec<String>, out: &mut Vec<Repo>) -> Option<()> {
    let part = part.trim().trim_end_matches(';').trim();
    if part.is_empty() {
        return Some(());
    }
    // `local({ … })`: its statements, in order.
    if let Some(body) = part
        .strip_prefix("local")
        .map(str::trim_start)
        .and_then(|p| p.strip_prefix('('))
        .and_then(|p| p.trim_end().strip_suffix(')'))
        .map(str::trim)
        .and_then(|p| p.strip_prefix('{'))
        .and_then(|p| p.trim_end().strip_suffix('}'))
    {
        for (_, inner) in statements(body) {
            if inner.contains("repos") || copies.iter().any(|c| edits(&inner, c)) {
                read_part(&inner, copies, out)?;
            }
        }
        return Some(());
    }
    // `r <- getOption("repos")`
    if let Some((target, value)) = assignment(part) {
        let value = value.replace(' ', "");
        if value == "getOption(\"repos\")" || value == "getOption('repos')" {
            if is_identifier(target) {
                copies.push(target.to_string());
                return Some(());
            }
            return None;
        }
        // `r["CRAN"] <- "…"` / `r[["CRAN"]] <- "…"`
        let (name, index) = target.split_once('[')?;
        if !copies.iter().any(|c| c == name.trim()) {
            return None;
        }
        let key = literal(index.trim_start_matches('[').trim_end_matches(']').trim())?;
        let url = literal(value.trim())?;
        add(out, key, url);
        return Some(());
    }
    // `options(repos = …)`, perhaps with other options beside it.
    let args = part
        .strip_prefix("options")
        .map(str::trim_start)
        .and_then(|p| p.strip_prefix('('))
        .and_then(|p| p.trim_end().strip_suffix(')'))?;
    for arg in split_commas(args) {
        let Some((name, value)) = arg.split_once('=') else {
            continue;
        };
        if name.trim().trim_matches(['"', '\'']) != "repos" {
            // Another option: only ours must be static.
            continue;
        }
        let value = value.trim();
        if let Some(url) = literal(value) {
            add(out, String::new(), url);
        } else if copies.iter().any(|c| c == value) {
            // `options(repos = r)`: the copy's edits are already in `out`.
        } else {
            let inner = value
                .strip_prefix("c")
                .map(str::trim_start)
                .and_then(|v| v.strip_prefix('('))
                .and_then(|v| v.strip_suffix(')'))?;
            for element in split_commas(inner) {
                let element = element.trim();
                if element.is_empty() {
                    continue;
                }
                let (name, url) = match element.split_once('=') {
                    Some((name, url)) if literal(element).is_none() => (name.trim(), url.trim()),
                    _ => ("", element),
                };
                let name = match name {
                    "" => String::new(),
                    name => {
                        literal(name).or_else(|| is_identifier(name).then(|| name.to_string()))?
                    }
                };
                add(out, name, literal(url)?);
            }
        }
    }
    Some(())
}

fn add(out: &mut Vec<Repo>, name: String, url: String) {
    match out.iter_mut().find(|r| !name.is_empty() && r.name == name) {
        Some(existing) => existing.url = url,
        None => out.push(Repo { name, url }),
    }
}

/// Whether `statement` edits the copy `name` (`name["X"] <- …`).
fn edits(statement: &str, name: &str) -> bool {
    statement
        .split(['\n', ';', '{'])
        .any(|s| s.trim_start().starts_with(&format!("{name}[")))
}

/// `TARGET <- VALUE` or `TARGET = VALUE` at the top level (not inside a call).
fn assignment(part: &str) -> Option<(&str, &str)> {
    if let Some((target, value)) = part.split_once("<-") {
        return Some((target.trim(), value.trim()));
    }
    let open = part.find('(').unwrap_or(part.len());
    let eq = part.find('=')?;
    (eq < open && !part[..eq].contains(['!', '<', '>']))
        .then(|| (part[..eq].trim(), part[eq + 1..].trim()))
}

/// A quoted string's content (`"…"` or `'…'`, no escapes: URLs have none).
fn literal(text: &str) -> Option<String> {
    let q = text.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let inner = text.strip_prefix(q)?.strip_suffix(q)?;
    (!inner.contains(q) && !inner.contains('\\')).then(|| inner.to_string())
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '.')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
}

/// `text` without `#` comments (a `#` inside a quoted string stays).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut quote: Option<char> = None;
        for c in line.chars() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c == '#' => break,
                None => {}
            }
            out.push(c);
        }
        out.push('\n');
    }
    out
}

/// Top-level statements with the line each starts on: split at newlines and `;` outside
/// brackets and strings.
fn statements(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let (mut current, mut depth, mut quote) = (String::new(), 0i32, None::<char>);
    let (mut line, mut start_line) = (1usize, 1usize);
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '(' | '{' | '[' => depth += 1,
                ')' | '}' | ']' => depth -= 1,
                _ => {}
            },
        }
        if quote.is_none() && depth <= 0 && (c == '\n' || c == ';') {
            if !current.trim().is_empty() {
                out.push((start_line, std::mem::take(&mut current)));
            }
            current.clear();
            depth = 0;
        } else {
            if current.trim().is_empty() && !c.is_whitespace() {
                start_line = line;
            }
            current.push(c);
        }
        if c == '\n' {
            line += 1;
        }
    }
    if !current.trim().is_empty() {
        out.push((start_line, current));
    }
    out
}

/// Arguments split at top-level commas.
fn split_commas(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0usize);
    for (i, c) in text.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '(' | '{' | '[' => depth += 1,
                ')' | '}' | ']' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(&text[start..i]);
                    start = i + 1;
                }
                _ => {}
            },
        }
    }
    out.push(&text[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(name: &str, url: &str) -> Repo {
        Repo {
            name: name.into(),
            url: url.into(),
        }
    }

    #[test]
    fn static_forms() {
        let text = "# options(repos = c(CRAN = \"http://not\"))\n\
            options(repos = c(CRAN = \"http://127.0.0.1/cran\",\n  PPM = 'http://127.0.0.1/ppm/2026-11-01'), download.file.method = 'libcurl')\n\
            local({r <- getOption(\"repos\"); r[\"EXTRA\"] <- \"http://127.0.0.1/extra\"; options(repos = r)})\n\
            options(HTTPUserAgent = sprintf(\"R/%s\", getRversion()))\n";
        assert_eq!(
            repos(text).unwrap(),
            vec![
                repo("CRAN", "http://127.0.0.1/cran"),
                repo("PPM", "http://127.0.0.1/ppm/2026-11-01"),
                repo("EXTRA", "http://127.0.0.1/extra"),
            ]
        );
        assert_eq!(
            repos("options(repos = \"http://127.0.0.1/one\")").unwrap(),
            vec![repo("", "http://127.0.0.1/one")]
        );
        assert_eq!(
            repos(
                "r <- getOption('repos')\nr[['CRAN']] <- 'http://127.0.0.1/c'\noptions(repos = r)\n"
            )
            .unwrap(),
            vec![repo("CRAN", "http://127.0.0.1/c")]
        );
        // Debian's Rprofile.site: comments only.
        assert_eq!(
            repos("## Emacs please make this -*- R -*-\n# local({r <- 1})\n").unwrap(),
            vec![]
        );
    }

    #[test]
    fn debian_form() {
        // What Debian's r-base-core ships in /etc/R/Rprofile.site (URL replaced).
        let text = "## We set the cloud mirror\nlocal({\n    r <- getOption(\"repos\")\n    r[\"CRAN\"] <- \"http://mirror.example.org\"\n    options(repos = r)\n})\n";
        assert_eq!(
            repos(text).unwrap(),
            vec![repo("CRAN", "http://mirror.example.org")]
        );
    }

    #[test]
    fn computed_repos_name_their_line() {
        let e = repos("## site profile\n\noptions(repos = c(CRAN = Sys.getenv(\"CRAN_URL\")))\n")
            .unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(
            e.statement,
            "options(repos = c(CRAN = Sys.getenv(\"CRAN_URL\")))"
        );
        let e = repos("x <- 1\noptions(repos = myrepos)\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = repos("local({\n  r <- getOption(\"repos\")\n  r[\"CRAN\"] <- paste0(\"http://\", host)\n  options(repos = r)\n})\n")
            .unwrap_err();
        assert_eq!(e.line, 1);
    }
}
