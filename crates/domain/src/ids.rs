//! Syntax checks of identifiers and free text, and the error they return.

use thiserror::Error;

/// Returned when a string is not a valid id, name or text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidId {
    /// The value is empty (or only whitespace).
    #[error("must not be empty")]
    Empty,
    /// The value is longer than allowed.
    #[error("must be at most {max} characters, got {len}")]
    TooLong {
        /// Characters in the value.
        len: usize,
        /// Largest allowed length.
        max: usize,
    },
    /// The value holds a character that is not allowed.
    #[error("character {character:?} is not allowed (use A-Z, a-z, 0-9, '.', '_', ':' and '-')")]
    BadCharacter {
        /// The first offending character.
        character: char,
    },
    /// The value holds a control character.
    #[error("control character {character:?} is not allowed")]
    ControlCharacter {
        /// The first offending character.
        character: char,
    },
    /// The value is not a UUID.
    #[error("{value:?} is not a uuid")]
    NotUuid {
        /// The value given.
        value: String,
    },
}

/// Checks the id syntax (ISA-95 equipment ids such as `site1.area2.line3.filler`): 1 to `max`
/// characters of `A-Z a-z 0-9 . _ : -`.
pub fn check_id(value: &str, max: usize) -> Result<(), InvalidId> {
    if value.is_empty() {
        return Err(InvalidId::Empty);
    }
    let len = value.chars().count();
    if len > max {
        return Err(InvalidId::TooLong { len, max });
    }
    match value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
    {
        Some(character) => Err(InvalidId::BadCharacter { character }),
        None => Ok(()),
    }
}

/// Checks that `value` is not blank, at most `max` characters and free of control characters.
pub fn check_text(value: &str, max: usize) -> Result<(), InvalidId> {
    if value.trim().is_empty() {
        return Err(InvalidId::Empty);
    }
    let len = value.chars().count();
    if len > max {
        return Err(InvalidId::TooLong { len, max });
    }
    match value.chars().find(|c| c.is_control()) {
        Some(character) => Err(InvalidId::ControlCharacter { character }),
        None => Ok(()),
    }
}

/// Gives each named string newtype (a tuple struct around a `String` with a checking
/// `fn new(impl Into<String>) -> Result<Self, InvalidId>`) its `Display`, `TryFrom<String>`,
/// `From<_> for String` and `FromStr` impls, so serde's `try_from = "String"` checks it too.
#[macro_export]
macro_rules! string_newtype_conversions {
    ($($name:ident),* $(,)?) => {$(
        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::convert::TryFrom<::std::string::String> for $name {
            type Error = $crate::InvalidId;

            fn try_from(value: ::std::string::String) -> ::std::result::Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl ::std::convert::From<$name> for ::std::string::String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::InvalidId;

            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                Self::new(s)
            }
        }
    )*};
}

/// Declares UUID id newtypes: each wraps a [`uuid::Uuid`], is stored and sent as the plain UUID
/// string, and has `new`, `generate` (a time-ordered v7 id), `as_uuid`, `Display` and a
/// `FromStr` that names a malformed value. The invoking crate depends on `serde`.
///
/// ```
/// mom_domain::uuid_id!(
///     /// Id of a production order.
///     OrderId
/// );
/// let id = OrderId::generate();
/// assert_eq!(id.to_string().parse::<OrderId>(), Ok(id));
/// ```
#[macro_export]
macro_rules! uuid_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name($crate::Uuid);

        impl $name {
            /// Returns the id wrapping `uuid`.
            pub fn new(uuid: $crate::Uuid) -> Self {
                Self(uuid)
            }

            /// Returns a fresh, time-ordered (UUID v7) id.
            pub fn generate() -> Self {
                Self($crate::Uuid::now_v7())
            }

            /// Returns the UUID.
            pub fn as_uuid(&self) -> $crate::Uuid {
                self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::InvalidId;

            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                $crate::Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| $crate::InvalidId::NotUuid { value: s.to_owned() })
            }
        }
    )*};
}

/// Declares checked string newtypes: each holds a `String` that passed its check (`check_id`
/// for equipment-style ids, `check_text` for names and free text, or any
/// `fn(&str) -> Result<(), InvalidId>`), has `new` (which checks) and `as_str`, and gets the
/// conversions of [`string_newtype_conversions!`], so serde checks stored and received values
/// too. The invoking crate depends on `serde`.
///
/// ```
/// mom_domain::string_id!(
///     /// Id of a work unit: an ISA-95 equipment path.
///     WorkUnitId => |value| mom_domain::check_id(value, 128)
/// );
/// assert!(WorkUnitId::new("site1.line3.filler").is_ok());
/// assert!(WorkUnitId::new("line 3").is_err());
/// ```
#[macro_export]
macro_rules! string_id {
    ($($(#[$doc:meta])* $name:ident => $check:expr),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash,
            ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(::std::string::String);

        impl $name {
            /// Returns the value, or why `value` is not one.
            pub fn new(
                value: impl ::std::convert::Into<::std::string::String>,
            ) -> ::std::result::Result<Self, $crate::InvalidId> {
                let value = value.into();
                let check: fn(&str) -> ::std::result::Result<(), $crate::InvalidId> = $check;
                check(&value)?;
                Ok(Self(value))
            }

            /// Returns the value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        $crate::string_newtype_conversions!($name);
    )*};
}

/// Longest idempotency key accepted, in characters.
pub const MAX_KEY_LEN: usize = 256;

string_id!(
    /// A caller's idempotency key: the name of one command, so that a retry of it (after a lost
    /// reply, a restart, a redelivered event) changes nothing and gets the first reply. 1 to 256
    /// characters, not blank (room for keys a process manager derives from an event id and an
    /// id).
    IdempotencyKey => |value| check_text(value, MAX_KEY_LEN)
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_accepts_isa95_paths_and_rejects_empty_long_and_odd_characters() {
        assert_eq!(check_id("site1.area2.line3.filler", 128), Ok(()));
        assert_eq!(check_id("L1:cell-2_A", 128), Ok(()));
        assert_eq!(check_id("", 128), Err(InvalidId::Empty));
        assert_eq!(
            check_id(&"x".repeat(129), 128),
            Err(InvalidId::TooLong { len: 129, max: 128 })
        );
        assert_eq!(
            check_id("line 3", 128),
            Err(InvalidId::BadCharacter { character: ' ' })
        );
    }

    #[test]
    fn text_rejects_blank_long_and_control_characters() {
        assert_eq!(check_text("  ", 8), Err(InvalidId::Empty));
        assert_eq!(
            check_text("123456789", 8),
            Err(InvalidId::TooLong { len: 9, max: 8 })
        );
        assert_eq!(
            check_text("a\u{7}b", 8),
            Err(InvalidId::ControlCharacter { character: '\u{7}' })
        );
        assert_eq!(check_text("a b", 8), Ok(()));
    }

    #[derive(Debug, PartialEq)]
    struct Code(String);

    impl Code {
        fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
            let value = value.into();
            check_id(&value, 8)?;
            Ok(Self(value))
        }
    }

    string_newtype_conversions!(Code);

    uuid_id!(
        /// A test id.
        TestId
    );

    #[test]
    fn uuid_ids_parse_what_they_print_and_name_a_bad_value() {
        let id = TestId::generate();
        assert_eq!(id.to_string().parse::<TestId>(), Ok(id));
        assert_eq!(TestId::new(id.as_uuid()), id);
        assert_eq!(
            "nope".parse::<TestId>(),
            Err(InvalidId::NotUuid {
                value: "nope".to_owned()
            })
        );
        assert_eq!(
            serde_json::to_value(id).ok(),
            Some(serde_json::Value::String(id.to_string()))
        );
    }

    #[test]
    fn string_ids_check_what_serde_reads() {
        assert!(IdempotencyKey::new("retry-1").is_ok());
        assert_eq!(IdempotencyKey::new(" "), Err(InvalidId::Empty));
        assert!(serde_json::from_str::<IdempotencyKey>("\"\"").is_err());
        assert_eq!(
            serde_json::from_str::<IdempotencyKey>("\"k\"").ok(),
            IdempotencyKey::new("k").ok()
        );
    }

    #[test]
    fn conversions_check_the_value() {
        assert_eq!("a-1".parse::<Code>(), Ok(Code("a-1".to_owned())));
        assert_eq!(Code::try_from(String::new()), Err(InvalidId::Empty));
        assert_eq!(String::from(Code("a".to_owned())), "a");
        assert_eq!(Code("a".to_owned()).to_string(), "a");
    }
}
