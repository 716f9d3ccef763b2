//! [`TextLines`]: one line of plain text per item.

use std::error::Error;
use std::fmt;
use std::io::Write as _;

use serde::ser;
use serde::{Serialize, Serializer};

use super::Format;
use crate::encode::EncodeError;
use crate::encode::refuse::{no_compounds, refuse, refuse_compound, transparent};

/// Plain text (`text/plain; charset=utf-8`), each item a line ended by `\n`.
///
/// An item is its text: a [`Line`] (any `Display` value, written straight into the
/// buffer), a string, a char, a number or a bool (or a newtype or `Some` around one).
/// Anything else, an item whose text holds a line break (`\n` or `\r`), and pre-encoded
/// JSON are refused with [`TextError`]. An empty body is empty; a failure after the first
/// chunk aborts the transfer.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::net::Ipv4Addr;
/// use chunkstream::{ChunkConfig, Format, Streamer, format::{Line, TextLines}, source};
///
/// let streamer = Streamer::new(ChunkConfig::default())?.with_format(TextLines);
/// assert_eq!(streamer.format().content_type(), "text/plain; charset=utf-8");
/// let hosts = source::from_iter([Ipv4Addr::LOCALHOST, Ipv4Addr::new(10, 0, 0, 1)].map(Line));
/// let body = streamer.json(hosts).collect_bytes().await?;
/// assert_eq!(&body[..], b"127.0.0.1\n10.0.0.1\n");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TextLines;

/// Any `Display` value as an item: serialized as its text (`collect_str`), which
/// [`TextLines`] writes without an intermediate `String` (and the JSON formats as a
/// JSON string).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Line<T>(pub T);

impl<T: fmt::Display> Serialize for Line<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl Format for TextLines {
    fn content_type(&self) -> &'static str {
        "text/plain; charset=utf-8"
    }

    write_value!(|self, value, _encoder, out| {
        let start = out.len();
        value
            .serialize(Text(&mut *out))
            .map_err(EncodeError::serialize)?;
        if let Some(offset) = out[start..].iter().position(|&b| b == b'\n' || b == b'\r') {
            return Err(EncodeError::serialize(TextError::LineBreak { offset }));
        }
        out.push(b'\n');
        Ok(())
    });

    fn write_raw(&mut self, _json: &[u8], _out: &mut Vec<u8>) -> Result<(), EncodeError> {
        Err(EncodeError::serialize(TextError::RawJson))
    }
}

/// Why an item could not be a line of text (the source of [`EncodeError::Serialize`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum TextError {
    /// The item is not text (named here: "a struct", "a sequence", ...).
    NotText(&'static str),
    /// The item's text holds a line break at byte `offset`.
    LineBreak {
        /// Byte offset of the first `\n` or `\r` in the item's text.
        offset: usize,
    },
    /// Pre-encoded JSON items are not lines of text.
    RawJson,
    /// The item's `Serialize` implementation failed with this message.
    Custom(String),
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::NotText(found) => write!(
                f,
                "the item is {found}: a text line is a string, a number, a bool or a `Line`"
            ),
            TextError::LineBreak { offset } => {
                write!(f, "the item's text holds a line break at byte {offset}")
            }
            TextError::RawJson => f.write_str("pre-encoded JSON items are not lines of text"),
            TextError::Custom(message) => f.write_str(message),
        }
    }
}

impl Error for TextError {}

impl ser::Error for TextError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        TextError::Custom(msg.to_string())
    }
}

/// Writes an item's text into the buffer.
struct Text<'a>(&'a mut Vec<u8>);

macro_rules! display {
    ($($method:ident: $ty:ty),*) => {
        $(
            fn $method(self, v: $ty) -> Result<(), TextError> {
                let _ = write!(self.0, "{v}");
                Ok(())
            }
        )*
    };
}

impl Text<'_> {
    fn refuse(&self, found: &'static str) -> TextError {
        TextError::NotText(found)
    }
}

impl Serializer for Text<'_> {
    no_compounds!((), TextError);

    display!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_f32: f32,
        serialize_f64: f64, serialize_char: char
    );
    fn serialize_str(self, v: &str) -> Result<(), TextError> {
        self.0.extend_from_slice(v.as_bytes());
        Ok(())
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), TextError> {
        let _ = write!(self.0, "{value}");
        Ok(())
    }
    refuse! { refuse:
        serialize_bytes(&[u8]) -> (): "bytes";
        serialize_none() -> (): "nothing (None)";
        serialize_unit() -> (): "nothing (unit)";
        serialize_unit_struct(&'static str) -> (): "a unit struct";
    }
    transparent!();
    refuse_compound!(refuse);
}
