//! A ticket as a download streams it: every text column in one buffer.
//!
//! A [`Ticket`] owns twelve `String`s, so decoding one row costs twelve allocations on the
//! statement's thread and twelve frees on the thread that encoded it; on a 1 MB download
//! that was the largest cost after encoding itself (a profile of the service). A
//! [`TicketRow`] holds the same values in one `String` and the ends of its fields, and
//! serializes to exactly the bytes of the [`Ticket`] it was read as (a test checks).

use serde::ser::{Serialize, SerializeStruct, Serializer};

use chunkstream::sqlite::rusqlite;

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

/// One ticket row, its text columns in one buffer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TicketRow {
    id: i64,
    sla_hours: i64,
    estimate_hours: f64,
    comments: i64,
    text: String,
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

    /// Appends column `i`'s value (`None` for NULL).
    fn push(&mut self, i: usize, value: Option<&str>) {
        match value {
            Some(value) => self.text.push_str(value),
            None => self.nulls |= 1 << i,
        }
        self.ends[i] = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
    }

    /// A row from its numbers (`id`, `sla_hours`, `estimate_hours`, `comments`) and a
    /// reader of its text columns by index (`true`: the column may be NULL).
    fn read<'r, E>(
        (id, sla_hours, estimate_hours, comments): (i64, i64, f64, i64),
        mut column: impl FnMut(usize, bool) -> Result<Option<&'r str>, E>,
    ) -> Result<TicketRow, E> {
        let mut row = TicketRow {
            id,
            sla_hours,
            estimate_hours,
            comments,
            text: String::with_capacity(512),
            ..TicketRow::default()
        };
        for (i, (_, index)) in TEXT.into_iter().enumerate() {
            row.push(i, column(index, NULLABLE & (1 << i) != 0)?);
        }
        Ok(row)
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
        let mut row = TicketRow {
            id: t.id,
            sla_hours: t.sla_hours,
            estimate_hours: t.estimate_hours,
            comments: t.comments,
            ..TicketRow::default()
        };
        for (i, text) in texts.into_iter().enumerate() {
            row.push(i, text);
        }
        row
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
    fn from_sqlite_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TicketRow> {
        // Borrowed text: the one copy is into the row's buffer.
        TicketRow::read(numbers!(row.get), |index, nullable| {
            let value = row.get_ref(index)?;
            let text = if nullable {
                value.as_str_or_null()
            } else {
                value.as_str().map(Some)
            };
            text.map_err(|err| {
                rusqlite::Error::FromSqlConversionFailure(index, value.data_type(), Box::new(err))
            })
        })
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
        TicketRow::read(numbers!(row.try_get), |index, nullable| {
            if nullable {
                row.try_get::<Option<&'r str>, _>(index)
            } else {
                row.try_get::<&'r str, _>(index).map(Some)
            }
        })
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
