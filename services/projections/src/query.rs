//! What every read model's query API shares: the error type (one mapping to gRPC statuses and
//! one to HTTP statuses), opaque page tokens, page sizes and time ranges.

use chrono::{DateTime, Utc};

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The request is malformed; the message names the field.
    #[error("{0}")]
    InvalidArgument(String),
    /// The request names something the read model does not know.
    #[error("{0}")]
    NotFound(String),
    /// The read-model database failed.
    #[error("read model: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<QueryError> for tonic::Status {
    fn from(err: QueryError) -> Self {
        match err {
            QueryError::InvalidArgument(message) => tonic::Status::invalid_argument(message),
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

/// A page request: how many rows, after how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows to return.
    pub size: u32,
    /// Rows to skip.
    pub offset: u64,
}

impl Page {
    /// Returns the page of `page_size` (0 = default) and `page_token` (empty = first page).
    pub fn new(page_size: u32, page_token: &str) -> Result<Self, QueryError> {
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            size if size > MAX_PAGE_SIZE => {
                return Err(QueryError::InvalidArgument(format!(
                    "page_size {size} is too large: at most {MAX_PAGE_SIZE}"
                )))
            }
            size => size,
        };
        let offset = if page_token.is_empty() {
            0
        } else {
            decode_token(page_token).ok_or_else(|| {
                QueryError::InvalidArgument(format!(
                    "page_token {page_token:?} is not a token this service issued"
                ))
            })?
        };
        Ok(Self { size, offset })
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
                    return Err(QueryError::InvalidArgument(format!(
                        "page_size {text:?} is not a whole number from 1 to {MAX_PAGE_SIZE}"
                    )))
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

    /// The SQL `OFFSET`.
    pub fn offset(&self) -> i64 {
        i64::try_from(self.offset).unwrap_or(i64::MAX)
    }

    /// Cuts `rows` (fetched with [`Page::limit`]) to the page and returns the next page's token
    /// (empty on the last page).
    pub fn finish<T>(&self, rows: &mut Vec<T>) -> String {
        if rows.len() > self.size as usize {
            rows.truncate(self.size as usize);
            encode_token(self.offset + u64::from(self.size))
        } else {
            String::new()
        }
    }
}

/// Page tokens are opaque to clients; the `p1.` prefix versions the format.
fn encode_token(offset: u64) -> String {
    format!("p1.{offset:x}")
}

fn decode_token(token: &str) -> Option<u64> {
    u64::from_str_radix(token.strip_prefix("p1.")?, 16).ok()
}

/// A time range; either bound may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive end.
    pub to: Option<DateTime<Utc>>,
}

impl TimeRange {
    /// Returns the range, refusing one that ends before it starts.
    pub fn new(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<Self, QueryError> {
        if let (Some(from), Some(to)) = (from, to) {
            if to < from {
                return Err(QueryError::InvalidArgument(format!(
                    "to {} is before from {}",
                    to.to_rfc3339(),
                    from.to_rfc3339()
                )));
            }
        }
        Ok(Self { from, to })
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
                    .map_err(|err| QueryError::InvalidArgument(err.to_string()))
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
                QueryError::InvalidArgument(format!(
                    "{name} {text:?} is not an RFC 3339 time: {err}"
                ))
            }),
    }
}

/// Returns `value` when it is one of `allowed` (or empty: no filter), else names the field.
pub fn one_of(value: &str, field: &str, allowed: &[&str]) -> Result<Option<String>, QueryError> {
    match value {
        "" => Ok(None),
        value if allowed.contains(&value) => Ok(Some(value.to_owned())),
        value => Err(QueryError::InvalidArgument(format!(
            "{field} {value:?} is not one of {}",
            allowed.join(", ")
        ))),
    }
}

/// Returns a request's `as_of` timestamp, or now when it is not given; an out-of-range one is
/// an invalid argument.
pub fn as_of_proto(ts: Option<&prost_types::Timestamp>) -> Result<DateTime<Utc>, QueryError> {
    match ts {
        None => Ok(mom_clock::now()),
        Some(ts) => mom_proto::time::from_timestamp(Some(ts), "as_of")
            .map_err(|err| QueryError::InvalidArgument(err.to_string())),
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

    #[test]
    fn page_tokens_round_trip_and_foreign_tokens_are_refused() {
        let page = Page::new(2, "").unwrap();
        let mut rows = vec![1, 2, 3];
        let token = page.finish(&mut rows);
        assert_eq!(rows, vec![1, 2]);
        let next = Page::new(2, &token).unwrap();
        assert_eq!(next.offset, 2);
        let mut last = vec![3];
        assert_eq!(next.finish(&mut last), "");
        let err = Page::new(2, "42").unwrap_err().to_string();
        assert!(err.contains("page_token"), "{err}");
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
}
