//! TOML text → a spanned document tree (toml's `DeTable`), plus what turns a byte span into a
//! `file:line:col` error. No model types here: `validate` walks the tree.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::PlanError;

pub(crate) type Span = Range<usize>;
pub(crate) type Val<'i> = Spanned<DeValue<'i>>;

/// The plan text with its line starts, for byte offset → 1-based line:col (col in characters).
pub(crate) struct Source<'t> {
    pub(crate) text: &'t str,
    pub(crate) file: &'t str,
    line_starts: Vec<usize>,
}

impl<'t> Source<'t> {
    pub(crate) fn new(text: &'t str, file: &'t str) -> Source<'t> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source {
            text,
            file,
            line_starts,
        }
    }

    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line, col + 1)
    }

    pub(crate) fn location(&self, offset: usize) -> String {
        let (line, col) = self.line_col(offset);
        format!("{}:{line}:{col}", self.file)
    }

    pub(crate) fn error(
        &self,
        offset: usize,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> PlanError {
        let (line, col) = self.line_col(offset);
        PlanError {
            file: self.file.to_string(),
            line,
            col,
            expected: expected.into(),
            found: found.into(),
        }
    }

    /// The byte offset of `value[index..]` inside the TOML string literal at `span`, when the
    /// literal has no escapes (so positions map one to one); else the literal's start.
    pub(crate) fn offset_in_string(&self, span: &Span, value: &str, index: usize) -> usize {
        let Some(raw) = self.text.get(span.clone()) else {
            return span.start;
        };
        let skip = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
            3
        } else {
            1
        };
        let body = raw.get(skip..).unwrap_or("");
        // A multi-line literal drops the newline right after its opening quotes.
        let (skip, body) = match body.strip_prefix('\n') {
            Some(rest) if skip == 3 && !value.starts_with('\n') => (skip + 1, rest),
            _ => (skip, body),
        };
        if body.starts_with(value) && index <= value.len() {
            span.start + skip + index
        } else {
            span.start
        }
    }
}

/// Parses the document; a syntax error is reported at its position (only the first: later
/// ones are usually consequences of it).
pub(crate) fn parse_document<'t>(src: &Source<'t>) -> Result<Spanned<DeTable<'t>>, PlanError> {
    let (table, errors) = DeTable::parse_recoverable(src.text);
    match errors.into_iter().next() {
        None => Ok(table),
        Some(e) => {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_string();
            let (expected, found) = if message == "duplicate key" {
                let key = src.text.get(span.clone()).unwrap_or("").trim();
                (
                    "each key defined once".to_string(),
                    format!("{key:?} defined again"),
                )
            } else if let Some((what, expected)) = message.split_once(", expected ") {
                (expected.to_string(), what.to_string())
            } else {
                ("valid TOML".to_string(), message)
            };
            Err(src.error(span.start, expected, found))
        }
    }
}

/// The entries of a table in file order (toml's map is sorted by key).
pub(crate) fn entries<'a, 'i>(table: &'a DeTable<'i>) -> Vec<(&'a str, Span, &'a Val<'i>)> {
    let mut out: Vec<(&str, Span, &Val)> = table
        .iter()
        .map(|(k, v)| (k.get_ref().as_ref(), k.span(), v))
        .collect();
    out.sort_by_key(|(_, span, _)| span.start);
    out
}

/// A short description of a value for "found ..." messages.
pub(crate) fn describe(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => {
            const MAX: usize = 40;
            match s.char_indices().nth(MAX) {
                Some((i, _)) => format!("the string {:?}…", &s[..i]),
                None => format!("the string {:?}", s.as_ref()),
            }
        }
        DeValue::Integer(i) => format!("the integer {i}"),
        DeValue::Float(f) => format!("the number {f}"),
        DeValue::Boolean(b) => format!("{b}"),
        DeValue::Datetime(d) => format!("the date-time {d}"),
        DeValue::Array(_) => "an array".to_string(),
        DeValue::Table(_) => "a table".to_string(),
    }
}

pub(crate) fn as_i64(v: &DeValue<'_>) -> Option<i64> {
    match v {
        DeValue::Integer(i) => {
            let digits = i.as_str();
            i64::from_str_radix(digits, i.radix()).ok()
        }
        _ => None,
    }
}

pub(crate) fn as_f64(v: &DeValue<'_>) -> Option<f64> {
    match v {
        DeValue::Integer(_) => as_i64(v).map(|i| i as f64),
        DeValue::Float(f) => f.as_str().replace('_', "").parse().ok(),
        _ => None,
    }
}

/// Edit distance where swapping two neighbours counts as one edit (optimal string alignment),
/// for "did you mean" hints on unknown keys.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The closest allowed key, if it is close enough to be a typo.
pub(crate) fn suggest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let key = key.to_ascii_lowercase();
    allowed
        .iter()
        .map(|a| (distance(&key, a), *a))
        .filter(|(d, a)| *d == 1 || (*d == 2 && a.len() >= 6))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_is_one_based_in_characters() {
        let src = Source::new("a = 1\nbé = \"x\"\n", "f.toml");
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(4), (1, 5));
        assert_eq!(src.line_col(6), (2, 1));
        // "bé = " is 6 bytes, 5 characters
        assert_eq!(src.line_col(12), (2, 6));
        assert_eq!(src.location(6), "f.toml:2:1");
    }

    #[test]
    fn syntax_errors_name_what_was_expected() {
        let src = Source::new("name = \"x\nusers = 1\n", "f.toml");
        let e = parse_document(&src).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.toml:1:10: expected `\"`, found invalid basic string"
        );
        let src = Source::new("a = 1\na = 2\n", "f.toml");
        let e = parse_document(&src).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.toml:2:1: expected each key defined once, found \"a\" defined again"
        );
    }

    #[test]
    fn entries_come_in_file_order() {
        let src = Source::new("b = 1\na = 2\nc = 3\n", "f.toml");
        let doc = parse_document(&src).unwrap();
        let keys: Vec<&str> = entries(doc.get_ref()).iter().map(|(k, _, _)| *k).collect();
        assert_eq!(keys, ["b", "a", "c"]);
    }

    #[test]
    fn offsets_inside_plain_strings() {
        let text = "x = \"/tools/{{ id }}\"\ny = \"a\\tb {{ id }}\"\n";
        let src = Source::new(text, "f.toml");
        assert_eq!(src.offset_in_string(&(4..21), "/tools/{{ id }}", 10), 15);
        // escapes: fall back to the literal's start
        assert_eq!(src.offset_in_string(&(26..42), "a\tb {{ id }}", 7), 26);
    }

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(suggest("gett", &["get", "post"]), Some("get"));
        assert_eq!(suggest("hedaers", &["headers", "query"]), Some("headers"));
        assert_eq!(suggest("zzzzzz", &["get", "post"]), None);
        assert_eq!(suggest("nmae", &["name", "host"]), Some("name"));
        assert_eq!(suggest("fetch", &["get", "patch"]), None);
    }
}
