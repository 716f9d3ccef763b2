//! A ticket as a download streams it: every text column in one shared buffer.
//!
//! A [`Ticket`] owns twelve `String`s, so decoding one row costs twelve allocations on the
//! statement's thread and twelve frees on the thread that encoded it; on a 1 MB download
//! that was the largest cost after encoding itself (a profile of the service). A
//! [`TicketRow`] holds the same values as one UTF-8 slice and the ends of its fields, and
//! serializes to exactly the bytes of the [`Ticket`] it was read as (a test checks).
//!
//! The rows of one statement copy their text into one [`TextBuffer`] and keep a
//! reference-counted slice of it: reading a row allocates nothing, and the thread that
//! encodes the rows frees one buffer per two hundred of them or so. With a `String` per
//! row, `malloc` was 8% of the statement's thread in a profile of 1 MB downloads (each
//! allocation took the allocator's slow path: the rows are freed on another thread);
//! one buffer for them all serves 1.18x the downloads per second (README, "Performance").

use bytes::BytesMut;
use bytestring::ByteString;
use serde::ser::{Serialize, SerializeStruct, Serializer};

use chunkstream::sqlite::rusqlite;
use rusqlite::types::Type;

use crate::model::Ticket;

/// The text columns, in the order of [`Ticket`]'s fields (two of them may be NULL), each
/// with its index in [`COLUMNS`](crate::seed::COLUMNS), the select list the rows are read
/// with. Read by index: a read by name compares every column's name per value, which
/// was a third of the service's CPU on a full download (a profile of the server).
const TEXT: [(&str, usize); 12] = [
    ("title", 1),
    ("description", 2),
    ("status", 3),
    ("priority", 4),
    ("assignee", 5),
    ("reporter", 6),
    ("tags", 7),
    ("project", 8),
    ("component", 9),
    ("created_at", 13),
    ("updated_at", 14),
    ("resolved_at", 15),
];

/// The columns of [`TEXT`] that may be NULL: `assignee` and `resolved_at`.
const NULLABLE: u16 = 1 << 4 | 1 << 11;

/// The size of a [`TextBuffer`]'s buffers: the text of about two hundred tickets.
const TEXT_BUFFER_BYTES: usize = 64 * 1024;

/// Where the rows of one statement copy their text: a buffer of 64 KiB, split into one
/// shared slice per row, and reused in place once the rows read from it are all dropped
/// (otherwise a new one is allocated).
#[derive(Debug)]
pub struct TextBuffer(BytesMut);

impl Default for TextBuffer {
    fn default() -> TextBuffer {
        TextBuffer(BytesMut::with_capacity(TEXT_BUFFER_BYTES))
    }
}

/// One ticket row, its text columns in one slice.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TicketRow {
    id: i64,
    sla_hours: i64,
    estimate_hours: f64,
    comments: i64,
    text: ByteString,
    /// Where each of [`TEXT`]'s columns ends in `text`.
    ends: [u32; TEXT.len()],
    /// Bit `i` set: column `TEXT[i]` is NULL.
    nulls: u16,
}

impl TicketRow {
    /// The ticket's id: the cursor of a page and the id of an event.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Column `i` of [`TEXT`], `None` when NULL.
    fn text(&self, i: usize) -> Option<&str> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        let text = self
            .text
            .get(start..self.ends[i] as usize)
            .unwrap_or_default();
        (self.nulls & (1 << i) == 0).then_some(text)
    }

    /// A row from its numbers (`id`, `sla_hours`, `estimate_hours`, `comments`) and its
    /// text columns, `column(i)` reading [`TEXT`]'s column `i` as bytes (`None`: NULL),
    /// its text copied into `buffer`.
    ///
    /// The text is checked as UTF-8 once for the whole row: one check of a row's few
    /// hundred bytes costs less than twelve of its short columns (the per-column checks
    /// were 8% of the service's CPU on a 1 MB download). A column is only checked alone to
    /// name the one at fault.
    fn read<'r, E: From<InvalidText>>(
        (id, sla_hours, estimate_hours, comments): (i64, i64, f64, i64),
        mut column: impl FnMut(usize) -> Result<Option<&'r [u8]>, E>,
        buffer: &mut BytesMut,
    ) -> Result<TicketRow, E> {
        let mut columns = [None; TEXT.len()];
        for (i, text) in columns.iter_mut().enumerate() {
            *text = column(i)?;
        }
        // Where each column ends, checked before the buffer is written to.
        let (mut ends, mut nulls, mut len) = ([0; TEXT.len()], 0, 0);
        for (i, (text, end)) in columns.iter().zip(&mut ends).enumerate() {
            match text {
                Some(text) => len += text.len(),
                None => nulls |= 1 << i,
            }
            *end = u32::try_from(len).map_err(|_| InvalidText::TooLong(i))?;
        }
        buffer.reserve(len);
        for text in columns.iter().flatten() {
            buffer.extend_from_slice(text);
        }
        // The whole row is UTF-8 and each column ends on a character: each column is.
        let text = ByteString::try_from(buffer.split().freeze())
            .ok()
            .filter(|text| ends.iter().all(|&end| text.is_char_boundary(end as usize)));
        let Some(text) = text else {
            // A column that is not UTF-8 on its own, as there must be one.
            let invalid = columns.iter().enumerate().find_map(|(i, text)| {
                let err = std::str::from_utf8(text.unwrap_or_default()).err()?;
                Some(InvalidText::Utf8(i, err))
            });
            return Err(invalid
                .unwrap_or(InvalidText::TooLong(TEXT.len() - 1))
                .into());
        };
        Ok(TicketRow {
            id,
            sla_hours,
            estimate_hours,
            comments,
            text,
            ends,
            nulls,
        })
    }

    /// Whether [`TEXT`]'s column `i` may be NULL.
    fn nullable(i: usize) -> bool {
        NULLABLE & (1 << i) != 0
    }
}

/// A text column that cannot be read: its place in [`TEXT`], and why.
#[derive(Debug)]
enum InvalidText {
    /// Its bytes are not UTF-8.
    Utf8(usize, std::str::Utf8Error),
    /// The row's text up to it is over 4 GiB (the ends are `u32`).
    TooLong(usize),
}

impl InvalidText {
    /// The column's place in [`TEXT`], and the error to report for it.
    fn split(self) -> (usize, Box<dyn std::error::Error + Send + Sync>) {
        match self {
            InvalidText::Utf8(i, err) => (i, Box::new(err)),
            InvalidText::TooLong(i) => (i, "the row's text is over 4 GiB".into()),
        }
    }
}

/// As rusqlite reports a column that is not UTF-8.
impl From<InvalidText> for rusqlite::Error {
    fn from(invalid: InvalidText) -> rusqlite::Error {
        let (i, err) = invalid.split();
        let err = rusqlite::types::FromSqlError::Other(err);
        rusqlite::Error::FromSqlConversionFailure(TEXT[i].1, Type::Text, Box::new(err))
    }
}

/// Never in practice: sqlx hands over text already checked.
impl From<InvalidText> for sqlx::Error {
    fn from(invalid: InvalidText) -> sqlx::Error {
        let (i, source) = invalid.split();
        sqlx::Error::ColumnDecode {
            index: TEXT[i].1.to_string(),
            source,
        }
    }
}

impl From<&Ticket> for TicketRow {
    fn from(t: &Ticket) -> TicketRow {
        let texts: [Option<&str>; TEXT.len()] = [
            Some(&t.title),
            Some(&t.description),
            Some(&t.status),
            Some(&t.priority),
            t.assignee.as_deref(),
            Some(&t.reporter),
            Some(&t.tags),
            Some(&t.project),
            Some(&t.component),
            Some(&t.created_at),
            Some(&t.updated_at),
            t.resolved_at.as_deref(),
        ];
        let numbers = (t.id, t.sla_hours, t.estimate_hours, t.comments);
        // Text that is already a `str` is UTF-8: the check cannot fail.
        let column = |i: usize| Ok(texts[i].map(str::as_bytes));
        TicketRow::read::<rusqlite::Error>(numbers, column, &mut BytesMut::new())
            .unwrap_or_default()
    }
}

/// The numeric columns `read` takes (`id`, `sla_hours`, `estimate_hours`, `comments`),
/// each by `$row.$get(index)?`, their indexes in [`COLUMNS`](crate::seed::COLUMNS).
macro_rules! numbers {
    ($row:ident . $get:ident) => {
        (
            $row.$get(0_usize)?,
            $row.$get(10_usize)?,
            $row.$get(11_usize)?,
            $row.$get(12_usize)?,
        )
    };
}

impl crate::reader::FromSqliteRow for TicketRow {
    type Reader = TextBuffer;

    fn from_sqlite_row(
        row: &rusqlite::Row<'_>,
        buffer: &mut TextBuffer,
    ) -> rusqlite::Result<TicketRow> {
        use rusqlite::types::{FromSqlError, ValueRef};
        let column = |i: usize| {
            let index = TEXT[i].1;
            match row.get_ref(index)? {
                ValueRef::Text(text) => Ok(Some(text)),
                ValueRef::Null if TicketRow::nullable(i) => Ok(None),
                value => Err(rusqlite::Error::FromSqlConversionFailure(
                    index,
                    value.data_type(),
                    Box::new(FromSqlError::InvalidType),
                )),
            }
        };
        TicketRow::read(numbers!(row.get), column, &mut buffer.0)
    }
}

impl<'r, R> sqlx::FromRow<'r, R> for TicketRow
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<TicketRow, sqlx::Error> {
        let column = |i: usize| {
            let index = TEXT[i].1;
            let text = if TicketRow::nullable(i) {
                row.try_get::<Option<&'r str>, _>(index)?
            } else {
                Some(row.try_get::<&'r str, _>(index)?)
            };
            Ok(text.map(str::as_bytes))
        };
        // sqlx decodes each row on its own: a buffer of the row's size.
        TicketRow::read(numbers!(row.try_get), column, &mut BytesMut::new())
    }
}

/// `tags`, stored comma-separated, as the JSON array [`Ticket`] serves.
struct Tags<'a>(&'a str);

impl Serialize for Tags<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.split(',').filter(|tag| !tag.is_empty()))
    }
}

impl TicketRow {
    /// The ticket's fields in [`Ticket`]'s order, with `tags` serialized as given; a NOT
    /// NULL column is never NULL here (`read`).
    fn serialize_with<S: Serializer>(
        &self,
        serializer: S,
        tags: &impl Serialize,
    ) -> Result<S::Ok, S::Error> {
        let t = |i: usize| self.text(i).unwrap_or_default();
        let mut s = serializer.serialize_struct("Ticket", 16)?;
        s.serialize_field("id", &self.id)?;
        s.serialize_field("title", t(0))?;
        s.serialize_field("description", t(1))?;
        s.serialize_field("status", t(2))?;
        s.serialize_field("priority", t(3))?;
        s.serialize_field("assignee", &self.text(4))?;
        s.serialize_field("reporter", t(5))?;
        s.serialize_field("tags", tags)?;
        s.serialize_field("project", t(7))?;
        s.serialize_field("component", t(8))?;
        s.serialize_field("sla_hours", &self.sla_hours)?;
        s.serialize_field("estimate_hours", &self.estimate_hours)?;
        s.serialize_field("comments", &self.comments)?;
        s.serialize_field("created_at", t(9))?;
        s.serialize_field("updated_at", t(10))?;
        s.serialize_field("resolved_at", &self.text(11))?;
        s.end()
    }
}

impl Serialize for TicketRow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize_with(serializer, &Tags(self.text(6).unwrap_or_default()))
    }
}

/// A [`TicketRow`] as one CSV record: the same fields in the same order, with `tags` as
/// stored (one comma-separated text field) rather than the JSON array, which CSV cannot
/// hold in one column; absent `assignee` and `resolved_at` are empty fields.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvTicket(pub TicketRow);

impl Serialize for CsvTicket {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0
            .serialize_with(serializer, &self.0.text(6).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The indexes `read` uses are those of the columns' names in the select list.
    #[test]
    fn the_column_indexes_match_the_select_list() {
        let columns: Vec<&str> = crate::seed::COLUMNS.split(", ").collect();
        for (name, index) in TEXT {
            assert_eq!(columns[index], name);
        }
        for (name, index) in [
            ("id", 0),
            ("sla_hours", 10),
            ("estimate_hours", 11),
            ("comments", 12),
        ] {
            assert_eq!(columns[index], name);
        }
    }

    /// A row read by rusqlite: the same value as the ticket it was seeded from; a text
    /// column that is not UTF-8, NULL where it may not be, or not text fails with that
    /// column's index and rusqlite's error, as reading the column on its own would.
    #[test]
    fn a_sqlite_row_is_its_ticket_or_its_column_s_error() {
        use crate::reader::FromSqliteRow;
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let row = |values: &str| {
            let read = |row: &rusqlite::Row<'_>| {
                TicketRow::from_sqlite_row(row, &mut TextBuffer::default())
            };
            conn.query_row(&format!("SELECT {values}"), [], read)
        };
        let good = "7, 'title', 'déjà \"vu\"', 'open', 'high', NULL, 'bob', 'a,b', 'p', 'c', \
                    4, 1.5, 2, 'created', 'updated', NULL";
        let ticket = Ticket {
            id: 7,
            title: "title".into(),
            description: "déjà \"vu\"".into(),
            status: "open".into(),
            priority: "high".into(),
            assignee: None,
            reporter: "bob".into(),
            tags: "a,b".into(),
            project: "p".into(),
            component: "c".into(),
            sla_hours: 4,
            estimate_hours: 1.5,
            comments: 2,
            created_at: "created".into(),
            updated_at: "updated".into(),
            resolved_at: None,
        };
        assert_eq!(row(good).unwrap(), TicketRow::from(&ticket));
        let broken = |column: &str, with: &str| good.replacen(column, with, 1);
        for (values, index, ty) in [
            (broken("'open'", "CAST(X'FFFE' AS TEXT)"), 3, Type::Text),
            (
                broken("'created'", "'ok' || CAST(X'C3' AS TEXT)"),
                13,
                Type::Text,
            ),
            // Each half of "é" is valid nowhere, though the two columns together are.
            (
                broken(
                    "'title', 'déjà",
                    "'t' || CAST(X'C3' AS TEXT), CAST(X'A9' AS TEXT) || 'déjà",
                ),
                1,
                Type::Text,
            ),
            (broken("'title'", "NULL"), 1, Type::Null),
            (broken("'bob'", "42"), 6, Type::Integer),
        ] {
            match row(&values) {
                Err(rusqlite::Error::FromSqlConversionFailure(i, t, _)) => {
                    assert_eq!((i, t), (index, ty), "{values}");
                }
                other => panic!("{values}: {other:?}"),
            }
        }
    }

    /// Rows read into one [`TextBuffer`] each keep their own text, whether the rows before
    /// them are still held (a new buffer is taken) or dropped (the buffer is reused).
    #[test]
    fn rows_sharing_a_text_buffer_keep_their_own_text() {
        use crate::reader::FromSqliteRow;
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        // Descriptions of 0 to 1800 bytes: a buffer holds a few dozen rows.
        let sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
                   SELECT i, 'title ' || i, replace(hex(zeroblob(i % 900)), '00', 'é'), 'open', \
                   'high', CASE WHEN i % 3 = 0 THEN NULL ELSE 'ann' END, 'bob', 'a,b', 'p', 'c', \
                   i, 1.5, 2, 'created', 'updated', NULL FROM n";
        let expected = |i: i64| {
            let (n, i) = (usize::try_from(i).unwrap(), i);
            TicketRow::from(&Ticket {
                id: i,
                title: format!("title {i}"),
                description: "é".repeat(n % 900),
                status: "open".into(),
                priority: "high".into(),
                assignee: (i % 3 != 0).then(|| "ann".into()),
                reporter: "bob".into(),
                tags: "a,b".into(),
                project: "p".into(),
                component: "c".into(),
                sla_hours: i,
                estimate_hours: 1.5,
                comments: 2,
                created_at: "created".into(),
                updated_at: "updated".into(),
                resolved_at: None,
            })
        };
        let mut buffer = TextBuffer::default();
        let mut statement = conn.prepare(sql).unwrap();
        let mut rows = statement.query([]).unwrap();
        let mut kept = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            let read = TicketRow::from_sqlite_row(row, &mut buffer).unwrap();
            assert_eq!(read, expected(read.id()), "row {}", read.id());
            if read.id() % 7 == 0 {
                kept.push(read);
            }
        }
        assert_eq!(kept.len(), 3000 / 7);
        for row in &kept {
            assert_eq!(*row, expected(row.id()), "kept row {}", row.id());
        }
    }

    /// Every seeded ticket (NULL and set assignees and resolutions, empty and long tags,
    /// escapes) serializes to the same bytes as a `TicketRow` as a `Ticket`.
    #[test]
    fn a_row_serializes_as_its_ticket() {
        for id in 1..=2000 {
            let ticket = crate::seed::ticket(id);
            let row = TicketRow::from(&ticket);
            assert_eq!(
                serde_json::to_string(&row).unwrap(),
                serde_json::to_string(&ticket).unwrap(),
                "ticket {id}"
            );
        }
    }
}
