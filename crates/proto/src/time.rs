//! Conversions between `chrono::DateTime<Utc>` and `prost_types::Timestamp`.

use chrono::{DateTime, Utc};

/// A protobuf timestamp that is missing or outside chrono's range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimestampError {
    /// The field was not set.
    #[error("field {field} is required")]
    Missing {
        /// Name of the missing field.
        field: &'static str,
    },
    /// The seconds or nanos are out of range.
    #[error("field {field} is not a valid timestamp")]
    OutOfRange {
        /// Name of the invalid field.
        field: &'static str,
    },
}

/// Converts a chrono time to a protobuf timestamp.
pub fn to_timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// Converts a required protobuf timestamp field to chrono time, naming the field on error.
pub fn from_timestamp(
    ts: Option<&prost_types::Timestamp>,
    field: &'static str,
) -> Result<DateTime<Utc>, TimestampError> {
    let ts = ts.ok_or(TimestampError::Missing { field })?;
    let nanos = u32::try_from(ts.nanos).map_err(|_| TimestampError::OutOfRange { field })?;
    DateTime::from_timestamp(ts.seconds, nanos).ok_or(TimestampError::OutOfRange { field })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_round_trips_with_nanoseconds() {
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("valid time");
        assert_eq!(from_timestamp(Some(&to_timestamp(at)), "at"), Ok(at));
    }

    #[test]
    fn missing_timestamp_names_the_field() {
        let err = from_timestamp(None, "at").expect_err("missing");
        assert_eq!(err.to_string(), "field at is required");
    }

    #[test]
    fn negative_nanos_are_out_of_range() {
        let ts = prost_types::Timestamp {
            seconds: 1,
            nanos: -1,
        };
        assert_eq!(
            from_timestamp(Some(&ts), "until"),
            Err(TimestampError::OutOfRange { field: "until" })
        );
    }
}
