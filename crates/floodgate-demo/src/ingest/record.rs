//! The record format of `/ingest`: newline-delimited JSON objects.
//!
//! The body is split at `\n` (a `\r` before it is trimmed with the other surrounding
//! whitespace). A line is
//!
//! - **blank** (only whitespace): skipped, counted nowhere;
//! - a **record**: valid UTF-8 holding one JSON object (`{...}`), checked with serde_json;
//! - **malformed**: anything else, or longer than [`MAX_RECORD_BYTES`]: counted and reported
//!   by line number, never fatal.
//!
//! Lines may span chunks of the body however it arrives; only the part of one line that has
//! not ended yet is held, so no line makes the server buffer more than [`MAX_RECORD_BYTES`].

use bytes::{Bytes, BytesMut};
use serde::de::IgnoredAny;

/// The longest line `/ingest` accepts as a record; longer lines are malformed, and are skipped
/// without being buffered.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// One line of the body, numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) number: u64,
    /// The line without its `\n`, or `None` if it is longer than the maximum.
    pub(crate) content: Option<Bytes>,
}

/// Splits a body arriving in chunks into [`Line`]s.
#[derive(Debug)]
pub(crate) struct LineSplitter {
    max: usize,
    /// The start of a line whose end has not arrived yet.
    partial: BytesMut,
    /// Inside a line that turned out too long: skip to its end.
    skipping: bool,
    lines: u64,
}

impl LineSplitter {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            partial: BytesMut::new(),
            skipping: false,
            lines: 0,
        }
    }

    /// Hands every line that ends in `chunk` to `each`, in order, and keeps the start of an
    /// unfinished one. A complete line within one chunk is a slice of it, not a copy.
    pub(crate) fn push(&mut self, mut chunk: Bytes, mut each: impl FnMut(Line)) {
        while let Some(end) = chunk.iter().position(|&byte| byte == b'\n') {
            let line = chunk.split_to(end + 1).slice(..end);
            if std::mem::take(&mut self.skipping) {
                // Reported when it grew too long.
                continue;
            }
            let content = if self.partial.is_empty() {
                Some(line).filter(|line| line.len() <= self.max)
            } else if self.partial.len() + line.len() <= self.max {
                self.partial.extend_from_slice(&line);
                Some(self.partial.split().freeze())
            } else {
                self.partial.clear();
                None
            };
            each(self.next_line(content));
        }
        if self.skipping || chunk.is_empty() {
            return;
        }
        if self.partial.len() + chunk.len() <= self.max {
            self.partial.extend_from_slice(&chunk);
        } else {
            self.partial = BytesMut::new();
            self.skipping = true;
            let line = self.next_line(None);
            each(line);
        }
    }

    /// The end of the body: hands over its last line, if it did not end with `\n`.
    pub(crate) fn finish(mut self, mut each: impl FnMut(Line)) {
        if !self.skipping && !self.partial.is_empty() {
            let content = Some(self.partial.split().freeze());
            each(self.next_line(content));
        }
    }

    fn next_line(&mut self, content: Option<Bytes>) -> Line {
        self.lines += 1;
        Line {
            number: self.lines,
            content,
        }
    }
}

/// What one line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    Blank,
    /// A record: the line without surrounding whitespace.
    Record(Bytes),
    Malformed,
}

/// Classifies a line: see the [module docs](self).
pub(crate) fn parse(line: Option<Bytes>) -> Parsed {
    let Some(line) = line else {
        return Parsed::Malformed;
    };
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() {
        return Parsed::Blank;
    }
    let is_object = trimmed.first() == Some(&b'{')
        && std::str::from_utf8(trimmed)
            .is_ok_and(|text| serde_json::from_str::<IgnoredAny>(text).is_ok());
    if !is_object {
        return Parsed::Malformed;
    }
    let start = line.len() - line.trim_ascii_start().len();
    Parsed::Record(line.slice(start..start + trimmed.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `chunks` with a maximum of `max`: each line as text, `None` if too long.
    fn split(max: usize, chunks: &[&str]) -> Vec<(u64, Option<String>)> {
        let mut splitter = LineSplitter::new(max);
        let mut lines = Vec::new();
        let mut each = |line: Line| {
            let text = line
                .content
                .map(|bytes| String::from_utf8(bytes.to_vec()).unwrap());
            lines.push((line.number, text));
        };
        for chunk in chunks {
            splitter.push(Bytes::copy_from_slice(chunk.as_bytes()), &mut each);
        }
        splitter.finish(&mut each);
        lines
    }

    fn lines(texts: &[&str]) -> Vec<(u64, Option<String>)> {
        (1..)
            .zip(texts)
            .map(|(number, text)| (number, Some((*text).to_owned())))
            .collect()
    }

    #[test]
    fn lines_may_span_chunks() {
        let expected = lines(&["{\"a\":1}", "{\"b\":2}", "", "last"]);
        assert_eq!(split(100, &["{\"a\":1}\n{\"b\":2}\n\nlast"]), expected);
        assert_eq!(
            split(100, &["{\"a\"", ":1}\n{", "\"b\":2}", "\n", "\nla", "st"]),
            expected
        );
        // One byte at a time.
        let text = "{\"a\":1}\n{\"b\":2}\n\nlast";
        let bytes: Vec<String> = text.chars().map(String::from).collect();
        let bytes: Vec<&str> = bytes.iter().map(String::as_str).collect();
        assert_eq!(split(100, &bytes), expected);
    }

    #[test]
    fn a_trailing_newline_ends_the_last_line() {
        assert_eq!(split(100, &["a\nb\n"]), lines(&["a", "b"]));
        assert_eq!(split(100, &[]), lines(&[]));
    }

    #[test]
    fn too_long_lines_are_reported_once_and_never_buffered() {
        let ok = |number, text: &str| (number, Some(text.to_owned()));
        // Too long within one chunk, and across chunks (reported as soon as it is too long).
        assert_eq!(
            split(4, &["abcd\nabcde\nab", "cde", "fgh\nxy"]),
            vec![ok(1, "abcd"), (2, None), (3, None), ok(4, "xy")]
        );
        let mut splitter = LineSplitter::new(4);
        let mut reported = 0;
        for _ in 0..1000 {
            splitter.push(Bytes::from_static(b"0123456789"), |_| reported += 1);
            assert!(splitter.partial.capacity() <= 10, "a long line is not kept");
        }
        assert_eq!(reported, 1);
        // A too long last line is not reported twice.
        splitter.finish(|_| reported += 1);
        assert_eq!(reported, 1);
    }

    #[test]
    fn records_are_json_objects() {
        let parse_str = |text: &str| parse(Some(Bytes::copy_from_slice(text.as_bytes())));
        let record = |text: &'static str| Parsed::Record(Bytes::from_static(text.as_bytes()));
        assert_eq!(parse_str("{\"id\":1}"), record("{\"id\":1}"));
        assert_eq!(
            parse_str("  {\"id\": [1, 2]}\r"),
            record("{\"id\": [1, 2]}")
        );
        assert_eq!(parse_str("{}"), record("{}"));
        assert_eq!(parse_str(""), Parsed::Blank);
        assert_eq!(parse_str(" \t\r"), Parsed::Blank);
        for malformed in [
            "[1, 2]",
            "42",
            "\"text\"",
            "{\"id\":",
            "{\"id\":1} {\"id\":2}",
            "{\"id\":1}x",
            "not json",
        ] {
            assert_eq!(parse_str(malformed), Parsed::Malformed, "{malformed:?}");
        }
        assert_eq!(
            parse(Some(Bytes::from_static(b"{\"a\":\"\xff\"}"))),
            Parsed::Malformed,
            "invalid UTF-8"
        );
        assert_eq!(parse(None), Parsed::Malformed, "too long");
    }
}
