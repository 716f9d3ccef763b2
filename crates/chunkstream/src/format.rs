//! [`Format`]: how encoded values are framed in the body.

/// How values are framed: one JSON array, or one JSON value per line.
///
/// # Examples
///
/// ```
/// use chunkstream::Format;
///
/// assert_eq!(Format::JsonArray.content_type(), "application/json");
/// assert_eq!(Format::Ndjson.content_type(), "application/x-ndjson");
/// assert_eq!(Format::default(), Format::JsonArray);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// `[item,item,...]`; an empty source gives `[]`. A stream that fails never writes
    /// the closing `]`. This is the default.
    #[default]
    JsonArray,
    /// One value per line, each followed by `\n`; an empty source gives an empty body.
    Ndjson,
}

impl Format {
    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::JsonArray => "application/json",
            Format::Ndjson => "application/x-ndjson",
        }
    }

    /// Writes what goes before the item at `index` (0-based).
    #[inline]
    pub(crate) fn write_prefix(self, index: u64, out: &mut Vec<u8>) {
        match (self, index) {
            (Format::JsonArray, 0) => out.push(b'['),
            (Format::JsonArray, _) => out.push(b','),
            (Format::Ndjson, _) => {}
        }
    }

    /// Writes what goes after each item.
    #[inline]
    pub(crate) fn write_suffix(self, out: &mut Vec<u8>) {
        if self == Format::Ndjson {
            out.push(b'\n');
        }
    }

    /// Whether a successful body ends with bytes of its own (`]`).
    #[inline]
    pub(crate) fn has_end(self) -> bool {
        self == Format::JsonArray
    }

    /// Writes what closes a successful body of `count` items.
    pub(crate) fn write_end(self, count: u64, out: &mut Vec<u8>) {
        match (self, count) {
            (Format::JsonArray, 0) => out.extend_from_slice(b"[]"),
            (Format::JsonArray, _) => out.push(b']'),
            (Format::Ndjson, _) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(format: Format, items: &[&str]) -> String {
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            format.write_prefix(i as u64, &mut out);
            out.extend_from_slice(item.as_bytes());
            format.write_suffix(&mut out);
        }
        format.write_end(items.len() as u64, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn frames() {
        assert_eq!(frame(Format::JsonArray, &[]), "[]");
        assert_eq!(frame(Format::JsonArray, &["1", "2"]), "[1,2]");
        assert_eq!(frame(Format::Ndjson, &[]), "");
        assert_eq!(frame(Format::Ndjson, &["1", "2"]), "1\n2\n");
    }
}
