//! [`Csv`]: RFC 4180 records, one per item.

use std::error::Error;
use std::fmt;
use std::io::Write as _;

use serde::Serialize;
use serde::ser::{self, Impossible};

use super::Format;
use crate::encode::EncodeError;
use crate::encode::refuse::{refuse, refuse_variants, transparent};

/// When a field is quoted. Quotes inside a quoted field are doubled, as RFC 4180 says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QuoteStyle {
    /// Only fields that need it: those holding the delimiter, a quote, `\r` or `\n`, and
    /// a record's only field when it is empty (so the record is not an empty line). This
    /// is the default.
    #[default]
    Necessary,
    /// Every field, numbers and empty fields included.
    Always,
    /// Every field but numbers (what Python's `csv.QUOTE_NONNUMERIC` reads back).
    NonNumeric,
}

/// The line terminator after each record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Terminator {
    /// `\r\n`, as RFC 4180 says. This is the default.
    #[default]
    CrLf,
    /// `\n`.
    Lf,
}

impl Terminator {
    fn bytes(self) -> &'static [u8] {
        match self {
            Terminator::CrLf => b"\r\n",
            Terminator::Lf => b"\n",
        }
    }
}

/// CSV (`text/csv; charset=utf-8`, RFC 4180): an optional header row with the first
/// item's field names, then one record per item, serialized straight into the pooled
/// buffer (no allocation per record).
///
/// An item is one record: a struct (its fields in order; one skipped by
/// `skip_serializing_if` is an empty column, so the columns never shift), a tuple or
/// tuple struct, or a single scalar. A column holds a string, a number (JSON's digits), a
/// bool, a char, a unit variant (its name) or nothing (`None`, `()`). Anything else (a
/// nested struct, a map, a sequence, bytes, a variant with data), and a top-level map or
/// sequence, is refused, never written as a wrong column: the stream ends with
/// [`StreamError::Encode`](crate::StreamError::Encode), whose source (a [`CsvError`])
/// names the field.
///
/// An empty body is empty; pre-encoded JSON items are refused; a failure after the first
/// chunk aborts the transfer.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use chunkstream::{ChunkConfig, Format, Streamer, format::Csv, source};
///
/// #[derive(serde::Serialize)]
/// struct Ticket { id: u32, title: &'static str, assignee: Option<&'static str> }
///
/// let streamer = Streamer::new(ChunkConfig::default())?.with_format(Csv::new());
/// assert_eq!(streamer.format().content_type(), "text/csv; charset=utf-8");
/// let rows = source::from_iter([
///     Ticket { id: 1, title: "Export, \"large\"", assignee: Some("chloé") },
///     Ticket { id: 2, title: "", assignee: None },
/// ]);
/// let body = streamer.json(rows).collect_bytes().await?;
/// assert_eq!(&body[..], "id,title,assignee\r\n1,\"Export, \"\"large\"\"\",chloé\r\n2,,\r\n".as_bytes());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Csv {
    settings: Settings,
    terminator: Terminator,
    header: bool,
    /// The header row (with its terminator), learned from the first item written.
    names: Option<Vec<u8>>,
    /// The body opened without knowing the header: the first item writes it.
    header_due: bool,
}

impl Default for Csv {
    fn default() -> Self {
        Csv::new()
    }
}

impl Csv {
    /// Comma-separated, quoted where necessary, `\r\n` after each record, with a header
    /// row.
    pub fn new() -> Self {
        Csv {
            settings: Settings {
                delimiter: b',',
                quote: QuoteStyle::Necessary,
            },
            terminator: Terminator::CrLf,
            header: true,
            names: None,
            header_due: false,
        }
    }

    /// The field delimiter: an ASCII byte other than `"`, `\r` and `\n`. The default is
    /// `,`.
    ///
    /// # Errors
    ///
    /// [`CsvError::Delimiter`] for a byte that cannot delimit fields.
    pub fn with_delimiter(mut self, delimiter: u8) -> Result<Self, CsvError> {
        if !delimiter.is_ascii() || matches!(delimiter, b'"' | b'\r' | b'\n') {
            return Err(CsvError::Delimiter(delimiter));
        }
        self.settings.delimiter = delimiter;
        Ok(self)
    }

    /// When fields are quoted. The default is [`QuoteStyle::Necessary`].
    pub fn with_quote_style(mut self, quote: QuoteStyle) -> Self {
        self.settings.quote = quote;
        self
    }

    /// The line terminator. The default is [`Terminator::CrLf`].
    pub fn with_terminator(mut self, terminator: Terminator) -> Self {
        self.terminator = terminator;
        self
    }

    /// Whether the body starts with a header row of the first item's field names (which
    /// then must be a struct). The default is `true`.
    pub fn with_header(mut self, header: bool) -> Self {
        self.header = header;
        self
    }
}

impl Format for Csv {
    fn content_type(&self) -> &'static str {
        "text/csv; charset=utf-8"
    }

    fn open(&mut self, out: &mut Vec<u8>) {
        if !self.header {
            return;
        }
        match &self.names {
            // Known already (the parallel path joined a batch's): write it now.
            Some(names) => out.extend_from_slice(names),
            None => self.header_due = true,
        }
    }

    write_value!(|self, value, _encoder, out| {
        let start = out.len();
        let learn = self.header && self.names.is_none();
        // Room for most header rows at once: learning it costs one block per stream
        // (per batch on the parallel path). No block at all once it is known.
        let mut names = Vec::with_capacity(if learn { 256 } else { 0 });
        let mut record = Record {
            out: &mut *out,
            start,
            settings: self.settings,
            fields: 0,
            names: learn.then_some(&mut names),
        };
        let item = FieldSer {
            record: &mut record,
            place: Place::Item,
        };
        value.serialize(item).map_err(CsvError::into_encode)?;
        record.end();
        if learn {
            if names.is_empty() {
                return Err(CsvError::NoFieldNames.into_encode());
            }
            names.extend_from_slice(self.terminator.bytes());
            if std::mem::take(&mut self.header_due) {
                // The first record of the body: its header goes before it (once).
                out.splice(start..start, names.iter().copied());
            }
            self.names = Some(names);
        }
        out.extend_from_slice(self.terminator.bytes());
        Ok(())
    });

    fn write_raw(&mut self, _json: &[u8], _out: &mut Vec<u8>) -> Result<(), EncodeError> {
        Err(CsvError::RawJson.into_encode())
    }

    fn join(&mut self, batch: Self) {
        if self.names.is_none() {
            self.names = batch.names;
        }
    }
}

/// Why an item could not be written as a CSV record (the source of
/// [`EncodeError::Serialize`]; a non-finite float is
/// [`EncodeError::NonFiniteFloat`], as in JSON).
#[derive(Debug)]
#[non_exhaustive]
pub enum CsvError {
    /// A field (or the item itself) has no flat CSV form.
    NotFlat {
        /// The field: its name, or `#n` (0-based) in a tuple; `None` for the item itself.
        field: Option<String>,
        /// What it is: "a struct", "a map", "a sequence", ...
        found: &'static str,
    },
    /// A header row was asked for, but the first item has no field names (a tuple or a
    /// scalar): turn the header off with [`Csv::with_header`].
    NoFieldNames,
    /// Pre-encoded JSON items cannot be written as CSV.
    RawJson,
    /// A non-finite float, in `field`.
    NonFiniteFloat {
        /// The field, as in [`NotFlat`](CsvError::NotFlat).
        field: Option<String>,
    },
    /// The item's `Serialize` implementation failed with this message.
    Custom(String),
    /// [`Csv::with_delimiter`] was given a byte that cannot delimit fields (not ASCII,
    /// or `"`, `\r`, `\n`).
    Delimiter(u8),
}

impl CsvError {
    fn into_encode(self) -> EncodeError {
        match self {
            CsvError::NonFiniteFloat { .. } => EncodeError::NonFiniteFloat,
            other => EncodeError::serialize(other),
        }
    }
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CsvError::NotFlat {
                field: Some(field),
                found,
            } => write!(
                f,
                "field `{field}` is {found}: a CSV column holds a string, a number, a bool \
                 or nothing"
            ),
            CsvError::NotFlat { field: None, found } => write!(
                f,
                "the item is {found}: a CSV record is a struct, a tuple or a single scalar"
            ),
            CsvError::NoFieldNames => f.write_str(
                "a CSV header needs field names, and the first item is not a struct \
                 (turn the header off with `Csv::with_header(false)`)",
            ),
            CsvError::RawJson => f.write_str("pre-encoded JSON items cannot be written as CSV"),
            CsvError::NonFiniteFloat { field: Some(field) } => {
                write!(f, "field `{field}` is a non-finite float")
            }
            CsvError::NonFiniteFloat { field: None } => f.write_str("a non-finite float"),
            CsvError::Custom(message) => f.write_str(message),
            CsvError::Delimiter(byte) => write!(
                f,
                "byte {byte:#04x} cannot delimit CSV fields (an ASCII byte other than `\"`, \
                 CR and LF can)"
            ),
        }
    }
}

impl Error for CsvError {}

impl ser::Error for CsvError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        CsvError::Custom(msg.to_string())
    }
}

/// How fields are delimited and quoted.
#[derive(Clone, Copy, Debug)]
struct Settings {
    delimiter: u8,
    quote: QuoteStyle,
}

/// One record being written into `out`.
struct Record<'a> {
    out: &'a mut Vec<u8>,
    /// Where the record begins in `out`.
    start: usize,
    settings: Settings,
    /// Fields written so far.
    fields: usize,
    /// Where the field names go, when the header is being learned.
    names: Option<&'a mut Vec<u8>>,
}

/// Where a field is, for errors.
#[derive(Clone, Copy)]
enum Place {
    Item,
    Named(&'static str),
    Index(usize),
}

impl Place {
    fn name(self) -> Option<String> {
        match self {
            Place::Item => None,
            Place::Named(name) => Some(name.to_owned()),
            Place::Index(index) => Some(format!("#{index}")),
        }
    }
}

impl Record<'_> {
    /// Starts a field: the delimiter before every field but the first.
    #[inline]
    fn begin(&mut self) {
        if self.fields > 0 {
            self.out.push(self.settings.delimiter);
        }
        self.fields += 1;
    }

    /// Writes a text field, quoted as the style says.
    #[inline]
    fn text(&mut self, text: &[u8]) {
        self.begin();
        self.settings.field(text, self.out);
    }

    /// Writes a number field (never quoted but with [`QuoteStyle::Always`]).
    #[inline]
    fn number<N: Serialize>(&mut self, n: N) {
        self.begin();
        let always = self.settings.quote == QuoteStyle::Always;
        if always {
            self.out.push(b'"');
        }
        // serde_json's digits (itoa, ryu): the same text as the JSON formats write.
        let _ = serde_json::to_writer(&mut *self.out, &n);
        if always {
            self.out.push(b'"');
        }
    }

    /// Writes an empty field (quoted unless the style is [`QuoteStyle::Necessary`]: a
    /// non-numeric reader reads an unquoted empty field as a number).
    #[inline]
    fn empty(&mut self) {
        self.begin();
        if self.settings.quote != QuoteStyle::Necessary {
            self.out.extend_from_slice(b"\"\"");
        }
    }

    /// Ends the record: a record of one empty field is written `""`, or it would be an
    /// empty line, which readers skip.
    fn end(&mut self) {
        if self.fields == 1 && self.out.len() == self.start {
            self.out.extend_from_slice(b"\"\"");
        }
    }

    /// Adds a field's name to the header row, when it is being learned (the first item).
    #[inline]
    fn name(&mut self, name: &'static str) {
        if self.names.is_some() {
            self.learn_name(name);
        }
    }

    #[cold]
    #[inline(never)]
    fn learn_name(&mut self, name: &'static str) {
        if let Some(names) = self.names.as_deref_mut() {
            if !names.is_empty() {
                names.push(self.settings.delimiter);
            }
            self.settings.field(name.as_bytes(), names);
        }
    }
}

impl Settings {
    /// Writes a field holding `text` in this style.
    #[inline]
    fn field(self, text: &[u8], out: &mut Vec<u8>) {
        if self.quoted(text) {
            quoted(text, out);
        } else {
            out.extend_from_slice(text);
        }
    }

    /// Whether a field holding `text` is quoted in this style.
    #[inline]
    fn quoted(self, text: &[u8]) -> bool {
        match self.quote {
            QuoteStyle::Necessary => needs_quotes(text, self.delimiter),
            QuoteStyle::Always | QuoteStyle::NonNumeric => true,
        }
    }
}

/// Whether a field holding `text` must be quoted: it holds the delimiter, a quote, `\r`
/// or `\n`. Most fields need no quotes, and looking was most of the time spent per
/// field: sixteen bytes at a time with no branch inside (the compiler turns the inner
/// loop into vector compares), the last sixteen overlapping the ones before; a shorter
/// field as two overlapping words, or byte by byte when it is shorter than a word.
#[inline]
fn needs_quotes(text: &[u8], delimiter: u8) -> bool {
    let special = |b: u8| (b == delimiter) | (b == b'"') | (b == b'\r') | (b == b'\n');
    let len = text.len();
    if len >= 16 {
        let any = |chunk: &[u8]| chunk.iter().fold(0u8, |hit, &b| hit | u8::from(special(b))) != 0;
        let mut chunks = text.chunks_exact(16);
        return chunks.any(any) || (!len.is_multiple_of(16) && any(&text[len - 16..]));
    }
    if len >= 8 {
        let word = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().unwrap_or_default());
        let (first, last) = (word(&text[..8]), word(&text[len - 8..]));
        return [delimiter, b'"', b'\r', b'\n']
            .iter()
            .any(|&b| holds_byte(first, b) | holds_byte(last, b));
    }
    text.iter().any(|&b| special(b))
}

/// Whether one of the eight bytes of `word` is `byte` (the classic zero-byte test on
/// `word ^ byte` in every lane: exact for "any").
#[inline]
fn holds_byte(word: u64, byte: u8) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS != 0
}

/// `"text"`, with each quote doubled.
fn quoted(text: &[u8], out: &mut Vec<u8>) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    let mut rest = text;
    // memchr: a byte-by-byte search for the quote was a quarter of writing a record.
    while let Some(at) = memchr::memchr(b'"', rest) {
        out.extend_from_slice(&rest[..=at]);
        out.push(b'"');
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// Writes the item (a struct or tuple, or a scalar: one column) or one of its fields.
struct FieldSer<'r, 'a> {
    record: &'r mut Record<'a>,
    place: Place,
}

impl<'r, 'a> FieldSer<'r, 'a> {
    fn not_flat(&self, found: &'static str) -> CsvError {
        CsvError::NotFlat {
            field: self.place.name(),
            found,
        }
    }

    /// The columns of a struct or tuple: the item's own, never a field's.
    fn columns(self, found: &'static str) -> Result<&'r mut Record<'a>, CsvError> {
        match self.place {
            Place::Item => Ok(self.record),
            _ => Err(self.not_flat(found)),
        }
    }

    fn float(self, v: f64, f32: Option<f32>) -> Result<(), CsvError> {
        if !v.is_finite() {
            return Err(CsvError::NonFiniteFloat {
                field: self.place.name(),
            });
        }
        match f32 {
            Some(v) => self.record.number(v),
            None => self.record.number(v),
        }
        Ok(())
    }
}

macro_rules! numbers {
    ($($method:ident: $ty:ty),*) => {
        $(
            #[inline]
            fn $method(self, v: $ty) -> Result<(), CsvError> {
                self.record.number(v);
                Ok(())
            }
        )*
    };
}

impl<'r, 'a> ser::Serializer for FieldSer<'r, 'a> {
    type Ok = ();
    type Error = CsvError;
    type SerializeSeq = Impossible<(), CsvError>;
    type SerializeTuple = &'r mut Record<'a>;
    type SerializeTupleStruct = &'r mut Record<'a>;
    type SerializeTupleVariant = Impossible<(), CsvError>;
    type SerializeMap = Impossible<(), CsvError>;
    type SerializeStruct = &'r mut Record<'a>;
    type SerializeStructVariant = Impossible<(), CsvError>;

    numbers!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128
    );
    fn serialize_bool(self, v: bool) -> Result<(), CsvError> {
        self.serialize_str(if v { "true" } else { "false" })
    }
    fn serialize_f32(self, v: f32) -> Result<(), CsvError> {
        self.float(f64::from(v), Some(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), CsvError> {
        self.float(v, None)
    }
    fn serialize_char(self, v: char) -> Result<(), CsvError> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), CsvError> {
        self.record.text(v.as_bytes());
        Ok(())
    }
    fn serialize_none(self) -> Result<(), CsvError> {
        self.serialize_unit()
    }
    fn serialize_unit(self) -> Result<(), CsvError> {
        self.record.empty();
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), CsvError> {
        self.serialize_unit()
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, CsvError> {
        self.columns("a tuple")
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, CsvError> {
        self.columns("a tuple struct")
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, CsvError> {
        self.columns("a struct")
    }
    refuse! { not_flat:
        serialize_bytes(&[u8]) -> (): "bytes";
        serialize_seq(Option<usize>) -> Self::SerializeSeq: "a sequence";
        serialize_map(Option<usize>) -> Self::SerializeMap: "a map";
    }
    refuse_variants!(not_flat);
    transparent!();

    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), CsvError> {
        // Quoting depends on the text: write it, then quote it in place if needed.
        self.record.begin();
        let out = &mut *self.record.out;
        let start = out.len();
        let _ = write!(out, "{value}");
        if self.record.settings.quoted(&out[start..]) {
            let text = out.split_off(start);
            quoted(&text, out);
        }
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Record<'_> {
    type Ok = ();
    type Error = CsvError;

    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), CsvError> {
        self.name(key);
        value.serialize(FieldSer {
            record: self,
            place: Place::Named(key),
        })
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), CsvError> {
        // A field left out (`skip_serializing_if`) is an empty column, so the columns
        // after it stay under their names.
        self.name(key);
        self.empty();
        Ok(())
    }

    fn end(self) -> Result<(), CsvError> {
        Ok(())
    }
}

/// A tuple's or tuple struct's fields: one column each, named by position in errors.
macro_rules! positional {
    ($($trait:ident::$method:ident),*) => {$(
        impl ser::$trait for &mut Record<'_> {
            type Ok = ();
            type Error = CsvError;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CsvError> {
                let place = Place::Index(self.fields);
                value.serialize(FieldSer { record: self, place })
            }

            fn end(self) -> Result<(), CsvError> {
                Ok(())
            }
        }
    )*};
}

positional!(
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field
);
