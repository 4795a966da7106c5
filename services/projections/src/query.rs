//! What every read model's query API shares: the error type (one mapping to gRPC statuses and
//! one to HTTP statuses), keyset paging with opaque page tokens, page sizes and time ranges.
//!
//! Invariants: no list query reads more than [`MAX_PAGE_SIZE`] + 1 rows per request and none
//! uses OFFSET: a page token carries the sort key of the previous page's last row and the name
//! of the query that issued it ([`Keyset`]), so a page continues exactly after that row whatever
//! was inserted meanwhile, and a token of another query, a tampered or an over-long one is
//! refused naming `page_token`. No explicit time range is longer than [`MAX_QUERY_RANGE_DAYS`];
//! an aggregate's open range is bounded by [`TimeRange::bounded`].

use chrono::{DateTime, Duration, Utc};

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The request is malformed: `field` names the parameter (HTTP) or request field (gRPC)
    /// at fault, and the message names it too, for a person.
    #[error("{message}")]
    InvalidArgument {
        /// The parameter or request field at fault (`page_token`, `from`, `chart_id`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The request names something the read model does not know.
    #[error("{0}")]
    NotFound(String),
    /// The read-model database failed.
    #[error("read model: {0}")]
    Database(#[from] sqlx::Error),
}

impl QueryError {
    /// Returns an invalid argument naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<QueryError> for tonic::Status {
    /// INVALID_ARGUMENT carries a `google.rpc.BadRequest` naming the field
    /// ([`mom_grpc::invalid_argument`]).
    fn from(err: QueryError) -> Self {
        match err {
            QueryError::InvalidArgument { field, message } => {
                mom_grpc::invalid_argument(&field, message)
            }
            QueryError::NotFound(message) => tonic::Status::not_found(message),
            QueryError::Database(err) => {
                tracing::error!(error = %err, "read model query failed");
                tonic::Status::unavailable("read model unavailable")
            }
        }
    }
}

/// Default number of rows per page.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Longest page token accepted (a token this service issues is far shorter: a query name and a
/// few key values).
pub const MAX_PAGE_TOKEN_LEN: usize = 2048;

/// Page tokens of this format start with this; the version changes when the format does.
const TOKEN_PREFIX: &str = "p2.";

/// One value of a row's sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValue {
    /// An integer column (times in milliseconds, numbers).
    Int(i64),
    /// A text column (ids).
    Text(String),
}

/// Which way a key column sorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Smallest first.
    Asc,
    /// Largest first.
    Desc,
}

/// One column of a [`Keyset`]: its SQL expression, direction and type. The column must never be
/// NULL in the rows the query returns.
#[derive(Debug, Clone, Copy)]
pub struct KeyColumn {
    /// The SQL expression (`from_ms`, `s.lot`).
    pub sql: &'static str,
    /// Its sort direction.
    pub order: Order,
    /// True for text, false for an integer.
    pub text: bool,
}

impl KeyColumn {
    /// An integer column sorted smallest first.
    pub const fn int(sql: &'static str) -> Self {
        Self {
            sql,
            order: Order::Asc,
            text: false,
        }
    }

    /// An integer column sorted largest first.
    pub const fn int_desc(sql: &'static str) -> Self {
        Self {
            sql,
            order: Order::Desc,
            text: false,
        }
    }

    /// A text column sorted smallest first.
    pub const fn text(sql: &'static str) -> Self {
        Self {
            sql,
            order: Order::Asc,
            text: true,
        }
    }
}

/// The sort key of one list query: its name (which its page tokens carry, so a token of another
/// query is refused) and its columns, which together identify a row. The query orders by
/// [`Keyset::order_by`] and continues after a page with the predicate of [`Page::seek`], so
/// rows inserted or deleted between two requests neither repeat nor skip the others (no OFFSET).
#[derive(Debug, Clone, Copy)]
pub struct Keyset {
    /// The query's name, e.g. `equipment.downtime`.
    pub name: &'static str,
    /// The key columns, most significant first.
    pub columns: &'static [KeyColumn],
}

impl Keyset {
    /// The `ORDER BY` list, e.g. `from_ms DESC, kind, id`.
    pub fn order_by(&self) -> String {
        self.columns
            .iter()
            .map(|column| match column.order {
                Order::Asc => column.sql.to_owned(),
                Order::Desc => format!("{} DESC", column.sql),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The predicate "after the row whose key is `$first`, `$first+1`, ..." in the order of
    /// [`Keyset::order_by`], each column compared in its own direction:
    /// `a <= $1 AND (a < $1 OR (a = $1 AND (b > $2 OR (b = $2 AND c > $3))))` for `a DESC, b, c`.
    /// The leading non-strict bound repeats what the rest implies so that an index on the first
    /// column is read from the boundary on, not from the start of the list.
    fn after(&self, first: usize) -> String {
        let nested =
            self.columns
                .iter()
                .enumerate()
                .rev()
                .fold(String::new(), |inner, (i, column)| {
                    let param = first + i;
                    let sql = column.sql;
                    let op = column.order.after();
                    if inner.is_empty() {
                        format!("{sql} {op} ${param}")
                    } else {
                        format!("({sql} {op} ${param} OR ({sql} = ${param} AND {inner}))")
                    }
                });
        match self.columns.first() {
            Some(lead) if self.columns.len() > 1 => {
                format!(
                    "({} {}= ${first} AND {nested})",
                    lead.sql,
                    lead.order.after()
                )
            }
            _ => nested,
        }
    }
}

impl Order {
    /// The comparison of "after" in this direction.
    fn after(self) -> char {
        match self {
            Self::Asc => '>',
            Self::Desc => '<',
        }
    }
}

/// Where a page starts: the whole list, or after a key of a named query.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    query: String,
    key: Vec<KeyValue>,
}

/// A page request: how many rows, after which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Rows to return.
    pub size: u32,
    after: Option<Cursor>,
}

/// The keyset predicate of one page: SQL to append to a `WHERE` clause (empty on the first
/// page) and the key values to bind to its parameters.
#[derive(Debug, Clone)]
pub struct Seek {
    clause: String,
    values: Vec<KeyValue>,
}

type AnyQueryAs<'q, O> =
    sqlx::query::QueryAs<'q, sqlx::Any, O, <sqlx::Any as sqlx::Database>::Arguments<'q>>;

impl Seek {
    /// ` AND (...)` continuing after the previous page, or empty on the first page.
    pub fn sql(&self) -> &str {
        &self.clause
    }

    /// Binds the key values, in order, to the parameters [`Seek::sql`] names.
    pub fn bind<'q, O>(&self, mut query: AnyQueryAs<'q, O>) -> AnyQueryAs<'q, O> {
        for value in &self.values {
            query = match value {
                KeyValue::Int(value) => query.bind(*value),
                KeyValue::Text(value) => query.bind(value.clone()),
            };
        }
        query
    }
}

impl Page {
    /// Returns the page of `page_size` (0 = default) and `page_token` (empty = first page); a
    /// token that is not one this service issued is an invalid argument naming `page_token`.
    pub fn new(page_size: u32, page_token: &str) -> Result<Self, QueryError> {
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            size if size > MAX_PAGE_SIZE => {
                return Err(QueryError::invalid(
                    "page_size",
                    format!("page_size {size} is too large: at most {MAX_PAGE_SIZE}"),
                ))
            }
            size => size,
        };
        let after = if page_token.is_empty() {
            None
        } else {
            Some(decode_token(page_token).ok_or_else(|| {
                QueryError::invalid(
                    "page_token",
                    format!(
                        "page_token {:?} is not a token this service issued",
                        shorten(page_token)
                    ),
                )
            })?)
        };
        Ok(Self { size, after })
    }

    /// Returns the page of HTTP parameters `page_size` (text) and `page_token`.
    pub fn from_params(
        page_size: Option<&str>,
        page_token: Option<&str>,
    ) -> Result<Self, QueryError> {
        let size = match page_size {
            None | Some("") => 0,
            Some(text) => match text.parse::<u32>() {
                Ok(0) | Err(_) => {
                    return Err(QueryError::invalid(
                        "page_size",
                        format!(
                            "page_size {:?} is not a whole number from 1 to {MAX_PAGE_SIZE}",
                            shorten(text)
                        ),
                    ))
                }
                Ok(size) => size,
            },
        };
        Self::new(size, page_token.unwrap_or(""))
    }

    /// The SQL `LIMIT` that also tells whether there is a next page (one row more).
    pub fn limit(&self) -> i64 {
        i64::from(self.size) + 1
    }

    /// Returns the predicate that continues after the previous page of `keyset`, its parameters
    /// numbered from `first`; a token of another query (or with keys of other types) is an
    /// invalid argument naming `page_token`.
    pub fn seek(&self, keyset: &Keyset, first: usize) -> Result<Seek, QueryError> {
        let Some(cursor) = &self.after else {
            return Ok(Seek {
                clause: String::new(),
                values: Vec::new(),
            });
        };
        let fits = cursor.query == keyset.name
            && cursor.key.len() == keyset.columns.len()
            && cursor
                .key
                .iter()
                .zip(keyset.columns)
                .all(|(value, column)| matches!(value, KeyValue::Text(_)) == column.text);
        if !fits {
            return Err(QueryError::invalid(
                "page_token",
                format!(
                    "page_token continues another query ({}), not {}",
                    shorten(&cursor.query),
                    keyset.name
                ),
            ));
        }
        Ok(Seek {
            clause: format!(" AND {}", keyset.after(first)),
            values: cursor.key.clone(),
        })
    }

    /// Cuts `rows` (fetched with [`Page::limit`] in the order of `keyset`) to the page and
    /// returns the next page's token, which carries the key of the page's last row (`key` gives
    /// a row's key values, in the keyset's order); empty on the last page.
    pub fn finish<T>(
        &self,
        rows: &mut Vec<T>,
        keyset: &Keyset,
        key: impl Fn(&T) -> Vec<KeyValue>,
    ) -> String {
        if rows.len() <= self.size as usize {
            return String::new();
        }
        rows.truncate(self.size as usize);
        rows.last()
            .map(|last| encode_token(keyset.name, &key(last)))
            .unwrap_or_default()
    }
}

/// At most 64 characters of client text, for an error message.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

/// `p2.` and the hex of: the query name, each key value (`i` and 8 bytes big-endian, or `s`, a
/// 4-byte length and UTF-8), then an FNV-1a checksum of all that, so a truncated or edited token
/// is refused rather than read as another key. Opaque to clients; not a secret (a forged key only
/// moves where a page starts).
fn encode_token(query: &str, key: &[KeyValue]) -> String {
    let mut bytes = Vec::new();
    push_text(&mut bytes, query);
    for value in key {
        match value {
            KeyValue::Int(value) => {
                bytes.push(b'i');
                bytes.extend_from_slice(&value.to_be_bytes());
            }
            KeyValue::Text(value) => {
                bytes.push(b's');
                push_text(&mut bytes, value);
            }
        }
    }
    bytes.extend_from_slice(&fnv1a(&bytes).to_be_bytes());
    let mut token = String::with_capacity(TOKEN_PREFIX.len() + 2 * bytes.len());
    token.push_str(TOKEN_PREFIX);
    for byte in bytes {
        token.push_str(&format!("{byte:02x}"));
    }
    token
}

fn push_text(bytes: &mut Vec<u8>, text: &str) {
    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(text.as_bytes());
}

fn decode_token(token: &str) -> Option<Cursor> {
    if token.len() > MAX_PAGE_TOKEN_LEN {
        return None;
    }
    let hex = token.strip_prefix(TOKEN_PREFIX)?;
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return None;
    }
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect::<Option<_>>()?;
    let (body, sum) = bytes.split_at(bytes.len().checked_sub(8)?);
    if fnv1a(body).to_be_bytes() != sum {
        return None;
    }
    let mut rest = body;
    let query = take_text(&mut rest)?;
    let mut key = Vec::new();
    while let Some((tag, tail)) = rest.split_first() {
        rest = tail;
        key.push(match tag {
            b'i' => {
                let (value, tail) = rest.split_first_chunk::<8>()?;
                rest = tail;
                KeyValue::Int(i64::from_be_bytes(*value))
            }
            b's' => KeyValue::Text(take_text(&mut rest)?),
            _ => return None,
        });
    }
    Some(Cursor { query, key })
}

fn take_text(rest: &mut &[u8]) -> Option<String> {
    let (len, tail) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    if tail.len() < len {
        return None;
    }
    let (text, tail) = tail.split_at(len);
    *rest = tail;
    String::from_utf8(text.to_vec()).ok()
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The longest time range a query takes: an explicit range (both bounds) longer than this is an
/// invalid argument naming `from`, `to` and the maximum.
pub const MAX_QUERY_RANGE_DAYS: i64 = 400;

/// The range an aggregate query covers when `from` is not given: this many days up to `to`.
pub const DEFAULT_AGGREGATE_RANGE_DAYS: i64 = 30;

/// A time range; either bound may be open (a paged list then walks the whole history a page at
/// a time). Invariant: `from <= to` and, with both given, at most [`MAX_QUERY_RANGE_DAYS`] long.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive end.
    pub to: Option<DateTime<Utc>>,
}

impl TimeRange {
    /// Returns the range, refusing one that ends before it starts or is longer than
    /// [`MAX_QUERY_RANGE_DAYS`].
    pub fn new(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<Self, QueryError> {
        if let (Some(from), Some(to)) = (from, to) {
            if to < from {
                return Err(QueryError::invalid(
                    "to",
                    format!(
                        "to {} is before from {}",
                        to.to_rfc3339(),
                        from.to_rfc3339()
                    ),
                ));
            }
            if to - from > Duration::days(MAX_QUERY_RANGE_DAYS) {
                return Err(QueryError::invalid(
                    "to",
                    format!(
                        "the range from {} to {} is longer than the maximum of \
                     {MAX_QUERY_RANGE_DAYS} days",
                        from.to_rfc3339(),
                        to.to_rfc3339()
                    ),
                ));
            }
        }
        Ok(Self { from, to })
    }

    /// Returns the closed range an aggregate (an answer computed over every row of the range,
    /// not paged) covers: `to` defaults to `now` (or `from` when that is later), `from` to
    /// [`DEFAULT_AGGREGATE_RANGE_DAYS`] before `to`; a range longer than
    /// [`MAX_QUERY_RANGE_DAYS`] (`from` long ago, no `to`) is refused.
    pub fn bounded(self, now: DateTime<Utc>) -> Result<Self, QueryError> {
        let to = self
            .to
            .unwrap_or_else(|| self.from.map_or(now, |from| from.max(now)));
        let from = self
            .from
            .unwrap_or_else(|| to - Duration::days(DEFAULT_AGGREGATE_RANGE_DAYS));
        Self::new(Some(from), Some(to))
    }

    /// Returns the range of HTTP parameters `from` and `to` (RFC 3339).
    pub fn from_params(from: Option<&str>, to: Option<&str>) -> Result<Self, QueryError> {
        Self::new(parse_time(from, "from")?, parse_time(to, "to")?)
    }

    /// Returns the range of gRPC fields `from` and `to`.
    pub fn from_proto(
        from: Option<&prost_types::Timestamp>,
        to: Option<&prost_types::Timestamp>,
    ) -> Result<Self, QueryError> {
        let time = |ts: Option<&prost_types::Timestamp>, field| {
            ts.map(|ts| {
                mom_proto::time::from_timestamp(Some(ts), field)
                    .map_err(|err| QueryError::invalid(field, err.to_string()))
            })
            .transpose()
        };
        Self::new(time(from, "from")?, time(to, "to")?)
    }

    /// Start in milliseconds since the epoch (`i64::MIN` when open).
    pub fn from_ms(&self) -> i64 {
        self.from.map_or(i64::MIN, |t| t.timestamp_millis())
    }

    /// End in milliseconds since the epoch (`i64::MAX` when open).
    pub fn to_ms(&self) -> i64 {
        self.to.map_or(i64::MAX, |t| t.timestamp_millis())
    }
}

fn parse_time(value: Option<&str>, name: &str) -> Result<Option<DateTime<Utc>>, QueryError> {
    match value {
        None | Some("") => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|err| {
                QueryError::invalid(
                    name,
                    format!("{name} {text:?} is not an RFC 3339 time: {err}"),
                )
            }),
    }
}

/// Returns `value` when it is one of `allowed` (or empty: no filter), else names the field.
pub fn one_of(value: &str, field: &str, allowed: &[&str]) -> Result<Option<String>, QueryError> {
    match value {
        "" => Ok(None),
        value if allowed.contains(&value) => Ok(Some(value.to_owned())),
        value => Err(QueryError::invalid(
            field,
            format!("{field} {value:?} is not one of {}", allowed.join(", ")),
        )),
    }
}

/// Returns a request's `as_of` timestamp, or now when it is not given; an out-of-range one is
/// an invalid argument.
pub fn as_of_proto(ts: Option<&prost_types::Timestamp>) -> Result<DateTime<Utc>, QueryError> {
    match ts {
        None => Ok(mom_clock::now()),
        Some(ts) => mom_proto::time::from_timestamp(Some(ts), "as_of")
            .map_err(|err| QueryError::invalid("as_of", err.to_string())),
    }
}

/// Milliseconds since the epoch as a time (for rows).
pub fn time_of(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Milliseconds since the epoch as RFC 3339 text (for JSON).
pub fn rfc3339(ms: i64) -> String {
    time_of(ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Milliseconds since the epoch as a protobuf timestamp.
pub fn timestamp(ms: i64) -> prost_types::Timestamp {
    mom_proto::time::to_timestamp(time_of(ms))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const DOWNTIME: Keyset = Keyset {
        name: "test.downtime",
        columns: &[
            KeyColumn::int_desc("from_ms"),
            KeyColumn::text("kind"),
            KeyColumn::text("id"),
        ],
    };

    fn key(row: &(i64, &str, &str)) -> Vec<KeyValue> {
        vec![
            KeyValue::Int(row.0),
            KeyValue::Text(row.1.into()),
            KeyValue::Text(row.2.into()),
        ]
    }

    #[test]
    fn a_keyset_orders_and_seeks_each_column_in_its_own_direction() {
        assert_eq!(DOWNTIME.order_by(), "from_ms DESC, kind, id");
        assert_eq!(
            DOWNTIME.after(7),
            "(from_ms <= $7 AND (from_ms < $7 OR (from_ms = $7 AND (kind > $8 OR (kind = $8 AND id > $9)))))"
        );
        let first = Page::new(2, "").unwrap().seek(&DOWNTIME, 7).unwrap();
        assert_eq!(first.sql(), "");
    }

    #[test]
    fn page_tokens_carry_the_last_key_and_foreign_or_tampered_tokens_are_refused() {
        let page = Page::new(2, "").unwrap();
        let mut rows = vec![(30, "stop", "a"), (20, "stop", "b"), (10, "stop", "c")];
        let token = page.finish(&mut rows, &DOWNTIME, key);
        assert_eq!(rows.len(), 2);
        assert!(token.starts_with("p2."), "{token}");
        let next = Page::new(2, &token).unwrap();
        let seek = next.seek(&DOWNTIME, 1).unwrap();
        assert!(
            seek.sql().starts_with(" AND (from_ms <= $1 AND"),
            "{}",
            seek.sql()
        );
        assert_eq!(seek.values, key(&(20, "stop", "b")));
        let mut last = vec![(10, "stop", "c")];
        assert_eq!(next.finish(&mut last, &DOWNTIME, key), "");

        let other = Keyset {
            name: "test.other",
            ..DOWNTIME
        };
        let err = next.seek(&other, 1).unwrap_err().to_string();
        assert!(
            err.starts_with("page_token continues another query"),
            "{err}"
        );
        let mut tampered = token.clone().into_bytes();
        let at = tampered.len() - 20;
        tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        let long = format!("p2.{}", "00".repeat(MAX_PAGE_TOKEN_LEN));
        let old_format = "p1.2".to_owned();
        for bad in [
            tampered,
            token[..token.len() - 2].to_owned(),
            long,
            old_format,
            "42".into(),
        ] {
            let err = Page::new(2, &bad).unwrap_err().to_string();
            assert!(err.starts_with("page_token"), "{bad}: {err}");
            assert!(
                err.len() < 200,
                "the message quotes a shortened token: {err}"
            );
        }
    }

    #[test]
    fn page_sizes_outside_one_to_the_maximum_are_refused() {
        assert_eq!(Page::new(0, "").unwrap().size, DEFAULT_PAGE_SIZE);
        assert!(Page::new(MAX_PAGE_SIZE + 1, "").is_err());
        assert!(Page::from_params(Some("0"), None).is_err());
        assert!(Page::from_params(Some("ten"), None).is_err());
        assert_eq!(Page::from_params(Some("10"), None).unwrap().size, 10);
    }

    #[test]
    fn time_ranges_refuse_bad_times_and_reversed_bounds() {
        let err = TimeRange::from_params(Some("yesterday"), None).unwrap_err();
        assert!(err.to_string().starts_with("from \"yesterday\""), "{err}");
        let err =
            TimeRange::from_params(Some("2026-03-03T10:00:00Z"), Some("2026-03-03T09:00:00Z"))
                .unwrap_err();
        assert!(err.to_string().contains("before from"), "{err}");
        let range = TimeRange::from_params(None, Some("2026-03-03T10:00:00Z")).unwrap();
        assert_eq!(range.from_ms(), i64::MIN);
    }

    #[test]
    fn an_explicit_range_longer_than_the_maximum_is_refused() {
        let err =
            TimeRange::from_params(Some("1826-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z"))
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("from 1826-01-01") && err.contains("to 2026-01-01"),
            "{err}"
        );
        assert!(err.contains("maximum of 400 days"), "{err}");
        assert!(
            TimeRange::from_params(Some("2025-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z"))
                .is_ok()
        );
        assert!(
            TimeRange::from_params(Some("1826-01-01T00:00:00Z"), None).is_ok(),
            "open: paged"
        );
    }

    #[test]
    fn an_aggregate_range_is_bounded_by_default_and_by_the_maximum() {
        let now: DateTime<Utc> = "2026-03-03T12:00:00Z".parse().unwrap();
        let day = Duration::days(1);
        let open = TimeRange::default().bounded(now).unwrap();
        assert_eq!((open.from, open.to), (Some(now - day * 30), Some(now)));
        let since = TimeRange::new(Some(now - day * 100), None)
            .unwrap()
            .bounded(now)
            .unwrap();
        assert_eq!((since.from, since.to), (Some(now - day * 100), Some(now)));
        let until = TimeRange::new(None, Some(now - day))
            .unwrap()
            .bounded(now)
            .unwrap();
        assert_eq!(until.from, Some(now - day * 31));
        let err = TimeRange::new(Some(now - day * 401), None)
            .unwrap()
            .bounded(now)
            .unwrap_err();
        assert!(err.to_string().contains("maximum"), "{err}");
    }
}
