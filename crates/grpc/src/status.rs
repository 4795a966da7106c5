//! The one place INVALID_ARGUMENT statuses are built: the message names the field for people,
//! and a `google.rpc.BadRequest` detail (field path + description) names it for programs, so a
//! generated client can show which field was wrong (docs/integrators.md).

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Returns INVALID_ARGUMENT with `message` and a `google.rpc.BadRequest` field violation naming
/// `field` (a request field path such as `context.idempotency_key` or
/// `routing[1].eligible_work_units[0]`) with `message` as its description.
pub fn invalid_argument(field: &str, message: impl Into<String>) -> Status {
    let message = message.into();
    Status::with_error_details(
        Code::InvalidArgument,
        message.clone(),
        ErrorDetails::with_bad_request_violation(field, message),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_carries_a_bad_request_naming_the_field() {
        let status = invalid_argument("context.actor", "field context.actor is too long");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "field context.actor is too long");
        let details = status.get_error_details();
        let bad_request = details.bad_request().expect("a BadRequest detail");
        assert_eq!(bad_request.field_violations.len(), 1);
        assert_eq!(bad_request.field_violations[0].field, "context.actor");
        assert_eq!(
            bad_request.field_violations[0].description,
            "field context.actor is too long"
        );
    }
}
