//! Reads: stream, category, type and `$all`, both directions, as of a position or a time; stream
//! info and the stream list. Each answers exactly as `MemoryStore` does.
//!
//! Every global read is one statement, so it sees one snapshot. Because commits are serialised and
//! positions handed out in commit order (see `schema.rs`), a snapshot always holds a gap-free prefix
//! of the log: a read can neither skip an event that commits later nor see a position above the
//! committed head. A stream read takes two statements — the stream's head and metadata, then the
//! events up to that head — and the second is bounded by the first's head, so it is consistent too.

use bytes::Bytes;
use deadpool_postgres::{Object, Pool};
use skald_core::{
    AsOf, Direction, Error, Json, ReadOptions, ReadPage, RecordedEvent, Selector, StreamInfo, StreamList,
    StreamMetadata, Timestamp,
};
use tokio::sync::watch;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::fail::{self, column};
use crate::schema::quoted;

/// The statements of one schema, written out once at connect (prepared per connection, cached).
pub struct Sql {
    /// The schema's name, quoted for SQL.
    pub schema: String,
    pub append: String,
    pub stored_ids: String,
    pub head: String,
    all: [String; 2],
    category: [String; 2],
    event_type: [String; 2],
    stream_head: String,
    stream: [String; 2],
    stream_info: String,
    list_streams: String,
}

const COLUMNS: &str = "e.position, e.stream, e.version, e.id, e.type, e.time_us, e.data, e.metadata";

impl Sql {
    pub fn new(schema: &str) -> Sql {
        let s = quoted(schema);
        // The highest position a read may return: `$2` (as of a position; i64::MAX when not), or
        // with `$3` set, the last position committed at or before that time (-1: none).
        let bound = format!(
            "(CASE WHEN $3::int8 IS NULL THEN $2::int8 ELSE coalesce((SELECT c.last_position FROM {s}.commits c \
             WHERE c.time_us <= $3::int8 ORDER BY c.time_us DESC, c.last_position DESC LIMIT 1), -1) END)"
        );
        let global = |filter: &str| {
            [
                format!(
                    "SELECT {COLUMNS} FROM {s}.events e WHERE e.position >= $1 AND e.position <= {bound} {filter} \
                     ORDER BY e.position LIMIT $4"
                ),
                format!(
                    "SELECT {COLUMNS} FROM {s}.events e WHERE e.position <= least($1, {bound}) {filter} \
                     ORDER BY e.position DESC LIMIT $4"
                ),
            ]
        };
        let stream = |order: &str| {
            format!(
                "SELECT {COLUMNS} FROM {s}.events e WHERE e.stream = $1 AND e.version >= $2 AND e.version <= $3 \
                 AND e.time_us >= $4 ORDER BY e.version {order} LIMIT $5"
            )
        };
        // A stream with metadata but no event yet has a row and no head: the inner join drops it.
        let stream_infos = format!(
            "SELECT st.stream, h.version, h.position, st.metadata FROM {s}.streams st CROSS JOIN LATERAL \
             (SELECT e.version, e.position FROM {s}.events e WHERE e.stream = st.stream \
             ORDER BY e.version DESC LIMIT 1) h"
        );
        Sql {
            schema: s.clone(),
            append: format!("SELECT o_status, o_actual, o_version, o_position, o_head, o_heads, o_known_held FROM {s}.skald_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"),
            stored_ids: format!("SELECT id, stream, version, position FROM {s}.events WHERE id = ANY($1)"),
            head: format!("SELECT next_position FROM {s}.head"),
            all: global(""),
            category: global("AND split_part(e.stream, '-', 1) = $5"),
            event_type: global("AND e.type = $5"),
            stream_head: format!(
                "SELECT st.metadata, (SELECT e.version FROM {s}.events e WHERE e.stream = $1 AND \
                 e.position <= {bound} ORDER BY e.version DESC LIMIT 1) FROM {s}.streams st WHERE st.stream = $1"
            ),
            stream: [stream("ASC"), stream("DESC")],
            stream_info: format!("{stream_infos} WHERE st.stream = $1"),
            list_streams: format!("{stream_infos} WHERE st.stream > $1 ORDER BY st.stream LIMIT $2"),
        }
    }
}

/// A u64 cursor as an int8 (cursors past i64::MAX mean "beyond everything").
fn int8(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// `(as of position, as of time)` for the `bound` of [`Sql::new`].
fn bound_params(as_of: Option<AsOf>) -> (i64, Option<i64>) {
    match as_of {
        None => (i64::MAX, None),
        Some(AsOf::Position(p)) => (int8(p), None),
        Some(AsOf::Time(t)) => (i64::MAX, Some(int8(t.micros()))),
    }
}

/// The read side of a store: a pool and the schema's statements.
pub struct Reader<'a> {
    pub pool: &'a Pool,
    pub sql: &'a Sql,
    /// The node's committed head: a read that sees a newer commit than it (whose NOTIFY has not
    /// arrived yet) moves it, so `head_position` is never behind what this node has returned.
    pub committed: &'a watch::Sender<Option<u64>>,
}

impl Reader<'_> {
    async fn client(&self) -> Result<Object, Error> {
        self.pool.get().await.map_err(fail::from_pool)
    }

    async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(fail::from_pg)?;
        client.query(&statement, params).await.map_err(fail::from_pg)
    }

    pub async fn read(&self, selector: &Selector, options: ReadOptions) -> Result<ReadPage, Error> {
        let page = self.read_page(selector, options).await?;
        crate::advance(self.committed, page.events.iter().map(|e| e.position).max());
        Ok(page)
    }

    async fn read_page(&self, selector: &Selector, options: ReadOptions) -> Result<ReadPage, Error> {
        options.validate()?;
        let direction = usize::from(options.direction == Direction::Backward);
        let (bound, time) = bound_params(options.as_of);
        let from = match (options.from, options.direction) {
            (Some(from), _) => int8(from),
            (None, Direction::Forward) => 0,
            (None, Direction::Backward) => i64::MAX,
        };
        // One more than asked: its cursor is the next page's `from`.
        let limit = options.limit as i64 + 1;
        let rows = match selector {
            Selector::Stream(stream) => return self.read_stream(stream, options).await,
            Selector::All => self.query(&self.sql.all[direction], &[&from, &bound, &time, &limit]).await?,
            Selector::Category(category) => {
                let sql = &self.sql.category[direction];
                self.query(sql, &[&from, &bound, &time, &limit, category]).await?
            }
            Selector::Type(event_type) => {
                let sql = &self.sql.event_type[direction];
                self.query(sql, &[&from, &bound, &time, &limit, event_type]).await?
            }
        };
        page(rows, options.limit, |e| e.position)
    }

    async fn read_stream(&self, stream: &str, options: ReadOptions) -> Result<ReadPage, Error> {
        let not_found = || Error::StreamNotFound { stream: stream.to_owned() };
        let (bound, time) = bound_params(options.as_of);
        let client = self.client().await?;
        let statement = client.prepare_cached(&self.sql.stream_head).await.map_err(fail::from_pg)?;
        let row = client.query_opt(&statement, &[&stream, &bound, &time]).await.map_err(fail::from_pg)?;
        let row = row.ok_or_else(not_found)?;
        let metadata = metadata(column(&row, 0)?)?;
        let head: Option<i64> = column(&row, 1)?;
        let head = head.ok_or_else(not_found)? as u64;
        if metadata.hides_whole_stream(head) {
            return Err(Error::StreamDeleted { stream: stream.to_owned() });
        }
        // Visibility is a version range (truncate-before, max count) and a time floor (max age:
        // timestamps never decrease along a stream), so the page is one range query.
        let now = Timestamp::now().micros();
        let first = metadata.first_visible_version(head);
        let time_min = metadata.max_age_seconds.map_or(0, |age| now.saturating_sub(age.saturating_mul(1_000_000)));
        let (low, high) = match options.direction {
            Direction::Forward => (options.from.unwrap_or(0).max(first), head),
            Direction::Backward => (first, options.from.unwrap_or(head).min(head)),
        };
        if low > high {
            return Ok(ReadPage { events: Vec::new(), next: None });
        }
        let direction = usize::from(options.direction == Direction::Backward);
        let statement = client.prepare_cached(&self.sql.stream[direction]).await.map_err(fail::from_pg)?;
        let (low, high, time_min, limit) = (int8(low), int8(high), int8(time_min), options.limit as i64 + 1);
        let rows = client.query(&statement, &[&stream, &low, &high, &time_min, &limit]).await.map_err(fail::from_pg)?;
        page(rows, options.limit, |e| e.version)
    }

    pub async fn stream_info(&self, stream: &str) -> Result<StreamInfo, Error> {
        let rows = self.query(&self.sql.stream_info, &[&stream]).await?;
        let row = rows.first().ok_or_else(|| Error::StreamNotFound { stream: stream.to_owned() })?;
        stream_info(row)
    }

    pub async fn list_streams(&self, after: Option<&str>, limit: usize) -> Result<StreamList, Error> {
        // Bounded like every read; a larger ask gets a shorter page and a `next_after`.
        let limit = limit.min(skald_core::limits::READ_EVENTS_MAX);
        // Stream names are never empty, so "after the empty name" is "from the first".
        let after = after.unwrap_or("");
        let rows = self.query(&self.sql.list_streams, &[&after, &(limit as i64 + 1)]).await?;
        let more = rows.len() > limit;
        let streams = rows.iter().take(limit).map(stream_info).collect::<Result<Vec<_>, _>>()?;
        let next_after = if more { streams.last().map(|s| s.stream.clone()) } else { None };
        Ok(StreamList { streams, next_after })
    }

    /// The committed head as the database has it (`None`: empty log).
    pub async fn head(&self) -> Result<Option<u64>, Error> {
        let rows = self.query(&self.sql.head, &[]).await?;
        let row = rows.first().ok_or_else(|| Error::Storage("the head row is missing".into()))?;
        let next: i64 = column(row, 0)?;
        Ok((next as u64).checked_sub(1))
    }
}

/// Up to `limit` events; the cursor of the one beyond (if fetched) is `next`.
fn page(rows: Vec<Row>, limit: usize, cursor: fn(&RecordedEvent) -> u64) -> Result<ReadPage, Error> {
    let mut events = rows.iter().map(event).collect::<Result<Vec<_>, _>>()?;
    let next = if events.len() > limit { events.drain(limit..).next().map(|e| cursor(&e)) } else { None };
    Ok(ReadPage { events, next })
}

fn bytes(row: &Row, index: usize) -> Result<Bytes, Error> {
    column::<Vec<u8>>(row, index).map(Bytes::from)
}

/// An event row (columns as in `COLUMNS`).
fn event(row: &Row) -> Result<RecordedEvent, Error> {
    Ok(RecordedEvent {
        position: column::<i64>(row, 0)? as u64,
        stream: column(row, 1)?,
        version: column::<i64>(row, 2)? as u64,
        id: column(row, 3)?,
        event_type: column(row, 4)?,
        timestamp: Timestamp(column::<i64>(row, 5)? as u64),
        // Written from `Json` bytes, so they are JSON.
        data: Json::from_trusted(bytes(row, 6)?),
        metadata: Json::from_trusted(bytes(row, 7)?),
    })
}

/// Stream metadata as the streams table keeps it (the data of its latest `$metadata` event).
fn metadata(stored: Option<Vec<u8>>) -> Result<StreamMetadata, Error> {
    match stored {
        None => Ok(StreamMetadata::default()),
        Some(text) => Json::from_trusted(Bytes::from(text))
            .decode()
            .map_err(|error| Error::Storage(format!("stored stream metadata does not parse: {error}"))),
    }
}

/// A stream row with its head: (stream, head version, head position, metadata).
fn stream_info(row: &Row) -> Result<StreamInfo, Error> {
    Ok(StreamInfo {
        stream: column(row, 0)?,
        head_version: column::<i64>(row, 1)? as u64,
        head_position: column::<i64>(row, 2)? as u64,
        metadata: metadata(column(row, 3)?)?,
    })
}
