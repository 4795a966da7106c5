//! Electronic signatures (21 CFR Part 11 §11.50, §11.200): what a signature means, the
//! signature a request gives, and the rule a designated command states.
//!
//! A command type says which of its commands need a signature through
//! [`crate::Timed::signature_rule`]; the kernel (`mom-grpc`) checks the rule before the command
//! runs. Adding a designated command is one match arm there.

use std::fmt;

use crate::{check_text, InvalidId};

/// Longest signature reason accepted, in characters.
pub const MAX_SIGNATURE_REASON_LEN: usize = 1_000;

/// What an electronic signature means (§11.50(a)(3)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Meaning {
    /// The signer approves the record (a disposition, a release, a recipe).
    Approved,
    /// The signer reviewed the record.
    Reviewed,
    /// The signer verified the record (an effectiveness check).
    Verified,
}

impl Meaning {
    /// Every meaning, as the wire spells it.
    pub const NAMES: [&'static str; 3] = ["approved", "reviewed", "verified"];

    /// Returns the name recorded with the events (`approved`, `reviewed`, `verified`).
    pub fn as_str(self) -> &'static str {
        match self {
            Meaning::Approved => "approved",
            Meaning::Reviewed => "reviewed",
            Meaning::Verified => "verified",
        }
    }

    /// Parses a meaning as the wire spells it; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "approved" => Some(Meaning::Approved),
            "reviewed" => Some(Meaning::Reviewed),
            "verified" => Some(Meaning::Verified),
            _ => None,
        }
    }
}

impl fmt::Display for Meaning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The signature a request gives: its meaning and the signer's reason. Who signs is the
/// request's verified principal, never a field of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRequest {
    /// What the signature means.
    pub meaning: Meaning,
    /// The signer's stated reason, or empty.
    pub reason: String,
}

impl SignatureRequest {
    /// Checks a signature's wire fields: the meaning must be one of [`Meaning::NAMES`]; the
    /// reason, when given, at most [`MAX_SIGNATURE_REASON_LEN`] characters without control
    /// characters.
    pub fn parse(meaning: &str, reason: String) -> Result<Self, SignatureFieldError> {
        let meaning =
            Meaning::parse(meaning).ok_or_else(|| SignatureFieldError::UnknownMeaning {
                value: meaning.to_owned(),
            })?;
        if !reason.is_empty() {
            check_text(&reason, MAX_SIGNATURE_REASON_LEN).map_err(SignatureFieldError::Reason)?;
        }
        Ok(Self { meaning, reason })
    }
}

/// A malformed signature field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureFieldError {
    /// `context.signature.meaning` is not one of [`Meaning::NAMES`].
    UnknownMeaning {
        /// The value given.
        value: String,
    },
    /// `context.signature.reason` is too long or holds a control character.
    Reason(InvalidId),
}

impl SignatureFieldError {
    /// Returns the request field at fault (`context.signature.meaning`).
    pub fn field(&self) -> &'static str {
        match self {
            SignatureFieldError::UnknownMeaning { .. } => "context.signature.meaning",
            SignatureFieldError::Reason(_) => "context.signature.reason",
        }
    }
}

/// The rule of a designated command: the meaning its signature must have and how the kernel
/// finds the record's authors for the two-person rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRule {
    /// The meaning the signature must state.
    pub meaning: Meaning,
    /// The stored event types of the aggregate whose principals (and on-behalf-of actors) are
    /// the record's authors; the signer must be none of them when the two-person rule is on.
    pub authored_by: &'static [&'static str],
    /// Only events whose payload has this field with this value count (the hold being released
    /// among several holds on a lot); `None` counts every event of the types.
    pub matching: Option<(&'static str, String)>,
    /// What the command does, for messages (`the disposition of a nonconformance`).
    pub what: &'static str,
}

impl SignatureRule {
    /// Returns the rule of a command doing `what`: a signature meaning `meaning`, on a record
    /// authored by the principals of the aggregate's events of types `authored_by`.
    pub fn new(meaning: Meaning, what: &'static str, authored_by: &'static [&'static str]) -> Self {
        Self {
            meaning,
            authored_by,
            matching: None,
            what,
        }
    }

    /// Returns the rule counting only the events whose payload has `field` equal to `value`.
    pub fn matching(mut self, field: &'static str, value: impl Into<String>) -> Self {
        self.matching = Some((field, value.into()));
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn meanings_round_trip_and_unknown_ones_are_named() {
        for name in Meaning::NAMES {
            assert_eq!(Meaning::parse(name).unwrap().as_str(), name);
        }
        let err = SignatureRequest::parse("approve", String::new()).unwrap_err();
        assert_eq!(err.field(), "context.signature.meaning");
        assert_eq!(
            err,
            SignatureFieldError::UnknownMeaning {
                value: "approve".to_owned()
            }
        );
    }

    #[test]
    fn reasons_are_checked_when_given() {
        assert!(SignatureRequest::parse("approved", String::new()).is_ok());
        let err = SignatureRequest::parse("approved", "x".repeat(1_001)).unwrap_err();
        assert_eq!(err.field(), "context.signature.reason");
        let err = SignatureRequest::parse("approved", "bad\u{7}".to_owned()).unwrap_err();
        assert_eq!(err.field(), "context.signature.reason");
        let ok = SignatureRequest::parse("verified", "effective after 3 lots".to_owned()).unwrap();
        assert_eq!(ok.meaning, Meaning::Verified);
    }
}
