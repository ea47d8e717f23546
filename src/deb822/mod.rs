//! RFC 822-style paragraphs (deb822 / Debian control files, R's DCF): `Field: value`
//! lines, indented continuation lines, paragraphs separated by blank lines.
//!
//! One parser for every reader of the format (apt indexes and sources, dpkg's status
//! database, R's `PACKAGES` and `DESCRIPTION`, Python's `METADATA` headers), so the
//! edge cases (a `.` continuation line, `#` comments, CRLF, a missing final newline) are
//! decided once.
//!
//! It borrows from the input and allocates nothing: a full Debian `Packages` index is
//! about 45 MB and 60,000 paragraphs, and the resolver reads it on every `lock`. A
//! field's value is the raw slice from after the colon to the end of its last
//! continuation line; [`unfold`] turns it into the logical value when line structure
//! matters (descriptions), while relation fields can be read raw, since their parsers
//! treat newlines as whitespace.
//!
//! A leaf: imports nothing of rtlock.

/// The paragraphs of `text`, in order.
pub mod owned;

pub fn paragraphs(text: &str) -> Paragraphs<'_> {
    Paragraphs { text, pos: 0 }
}

/// An iterator over the paragraphs of a text; see [`paragraphs`].
#[derive(Debug, Clone)]
pub struct Paragraphs<'a> {
    text: &'a str,
    pos: usize,
}

/// One paragraph: a slice of the input holding its lines (comment lines included, they
/// are skipped when its fields are read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paragraph<'a> {
    pub text: &'a str,
    /// Byte offset of the paragraph in the whole input, for error messages.
    pub offset: usize,
}

/// One field of a paragraph, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a str,
    /// Trimmed; continuation lines keep their `\n` and indentation (see [`unfold`]).
    pub value: &'a str,
}

fn is_blank(line: &str) -> bool {
    line.bytes().all(|b| b == b' ' || b == b'\t' || b == b'\r')
}

/// The next line of `text` from `pos`: (line without its `\n`, position after it).
#[inline]
fn next_line(text: &str, pos: usize) -> (&str, usize) {
    match memchr::memchr(b'\n', &text.as_bytes()[pos..]) {
        Some(i) => (&text[pos..pos + i], pos + i + 1),
        None => (&text[pos..], text.len()),
    }
}

impl<'a> Iterator for Paragraphs<'a> {
    type Item = Paragraph<'a>;

    fn next(&mut self) -> Option<Paragraph<'a>> {
        let text = self.text;
        // Skip blank lines (and lines that are only comments) before the paragraph.
        let start = loop {
            if self.pos >= text.len() {
                return None;
            }
            let (line, next) = next_line(text, self.pos);
            if is_blank(line) || line.starts_with('#') {
                self.pos = next;
            } else {
                break self.pos;
            }
        };
        let mut end = start;
        while self.pos < text.len() {
            let (line, next) = next_line(text, self.pos);
            if line.is_empty() || is_blank(line) {
                break;
            }
            end = next;
            self.pos = next;
        }
        Some(Paragraph {
            text: &text[start..end],
            offset: start,
        })
    }
}

impl<'a> Paragraph<'a> {
    /// The fields in file order. Lines that are neither a field, a continuation nor a
    /// comment are skipped: callers that must be strict check for the fields they need.
    pub fn fields(&self) -> Fields<'a> {
        Fields {
            text: self.text,
            pos: 0,
        }
    }

    /// The value of the first field called `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.fields()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value)
    }
}

/// An iterator over the fields of a [`Paragraph`].
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    #[inline]
    fn next(&mut self) -> Option<Field<'a>> {
        let text = self.text;
        loop {
            if self.pos >= text.len() {
                return None;
            }
            let (line, next) = next_line(text, self.pos);
            let line_start = self.pos;
            self.pos = next;
            if line.starts_with([' ', '\t', '#']) {
                continue;
            }
            let Some(colon) = memchr::memchr(b':', line.as_bytes()) else {
                continue;
            };
            let value_start = line_start + colon + 1;
            let mut value_end = line_start + line.len();
            // Continuation lines belong to this field.
            while self.pos < text.len() && text.as_bytes()[self.pos].is_ascii_whitespace() {
                let (more, after) = next_line(text, self.pos);
                if !more.starts_with([' ', '\t']) {
                    break;
                }
                value_end = self.pos + more.len();
                self.pos = after;
            }
            return Some(Field {
                name: line[..colon].trim(),
                value: text[value_start..value_end].trim(),
            });
        }
    }
}

/// The logical value of a folded field: continuation lines trimmed and joined with `\n`,
/// a lone `.` standing for an empty line.
pub fn unfold(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, line) in value.lines().enumerate() {
        let line = line.trim();
        let line = if i > 0 && line == "." { "" } else { line };
        if i > 0 {
            out.push('\n');
        }
        out.push_str(line);
    }
    out
}

/// The 1-based line number of byte `offset` in `text`, for error messages (counted only
/// when an error is reported, never on the fast path).
pub fn line_of(text: &str, offset: usize) -> usize {
    memchr::memchr_iter(b'\n', &text.as_bytes()[..offset.min(text.len())]).count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_fields_and_continuations() {
        let text = "# head\nPackage: a\nDescription: x\n more\n .\n end\nDepends: b,\n c\r\n\n \n\nPackage: b\n# c\nversion: 1";
        let ps: Vec<_> = paragraphs(text).collect();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("package"), Some("a"));
        assert_eq!(unfold(ps[0].get("Description").unwrap()), "x\nmore\n\nend");
        assert_eq!(ps[0].get("Depends"), Some("b,\n c"));
        assert_eq!(ps[1].get("Version"), Some("1"));
        assert_eq!(ps[1].fields().count(), 2);
        assert_eq!(line_of(text, ps[1].offset), 12);
    }

    #[test]
    fn empty_and_comment_only_inputs_have_no_paragraphs() {
        assert_eq!(paragraphs("").count(), 0);
        assert_eq!(paragraphs("\n\n# only\n").count(), 0);
    }
}
