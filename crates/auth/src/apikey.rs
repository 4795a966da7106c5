//! API keys for machines and integrators: the key file holds only SHA-256 hashes of the keys
//! (a key is 32 random bytes, so a fast hash is enough) and, for people who sign, a second
//! factor (a PIN) hashed with PBKDF2-HMAC-SHA256.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::{AuthError, AuthMethod, Principal};

/// PBKDF2 rounds for a new second factor's hash.
pub const PIN_ROUNDS: u32 = 210_000;

/// Prefix of every key `mom auth new-key` makes.
pub const KEY_PREFIX: &str = "mom_";

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    keys: Vec<KeyEntry>,
}

/// One key of the key file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// The principal the key authenticates (recorded as the actor).
    pub name: String,
    /// Display name, defaults to the name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// Its roles.
    pub roles: BTreeSet<String>,
    /// Hex SHA-256 of the key.
    pub sha256: String,
    /// `pbkdf2-sha256$<rounds>$<salt hex>$<hash hex>` of the second factor, if the key's holder
    /// signs electronically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_factor: Option<String>,
}

/// A key file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("API key file {path}: {message}")]
pub struct KeyFileError {
    path: String,
    message: String,
}

/// The keys of a key file.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    entries: Vec<([u8; 32], KeyEntry)>,
}

impl ApiKeys {
    /// Reads a key file (YAML: `keys: [{name, roles, sha256, second_factor?}]`).
    pub fn load(path: &Path) -> Result<Self, KeyFileError> {
        let error = |message: String| KeyFileError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|err| error(err.to_string()))?;
        Self::parse(&text).map_err(error)
    }

    /// Parses a key file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: KeyFile = serde_yaml::from_str(text).map_err(|err| err.to_string())?;
        let mut entries = Vec::with_capacity(file.keys.len());
        let mut names = BTreeSet::new();
        for (index, entry) in file.keys.into_iter().enumerate() {
            crate::check_subject(&entry.name)
                .map_err(|err| format!("keys[{index}].name: {err}"))?;
            if !names.insert(entry.name.clone()) {
                return Err(format!("keys[{index}].name {} appears twice", entry.name));
            }
            let digest = hex::decode(&entry.sha256)
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or_else(|| format!("keys[{index}].sha256 is not 64 hex digits"))?;
            if let Some(factor) = &entry.second_factor {
                parse_pin_hash(factor).ok_or_else(|| {
                    format!(
                        "keys[{index}].second_factor is not pbkdf2-sha256$<rounds>$<salt>$<hash>"
                    )
                })?;
            }
            entries.push((digest, entry));
        }
        Ok(Self { entries })
    }

    /// Returns each key's name and roles.
    pub fn roles(&self) -> impl Iterator<Item = (&str, &BTreeSet<String>)> {
        self.entries
            .iter()
            .map(|(_, entry)| (entry.name.as_str(), &entry.roles))
    }

    /// Returns the principal of `key`; a PIN given with it (`second_factor`) that matches the
    /// key's second factor sets the principal's `auth_time` to now, a wrong one is refused.
    pub fn verify(&self, key: &str, second_factor: Option<&str>) -> Result<Principal, AuthError> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let entry = self
            .entries
            .iter()
            .fold(None, |found, (hash, entry)| {
                if constant_time_eq(hash, &digest) {
                    Some(entry)
                } else {
                    found
                }
            })
            .ok_or_else(|| AuthError::Unauthenticated("API key is not known".to_owned()))?;
        let auth_time = match second_factor {
            None => None,
            Some(pin) => {
                let Some(stored) = &entry.second_factor else {
                    return Err(AuthError::Unauthenticated(format!(
                        "API key {} has no second factor to re-authenticate with",
                        entry.name
                    )));
                };
                if !verify_pin(stored, pin) {
                    return Err(AuthError::Unauthenticated(format!(
                        "second factor of API key {} does not match",
                        entry.name
                    )));
                }
                Some(Utc::now())
            }
        };
        Ok(Principal {
            subject: entry.name.clone(),
            name: if entry.display_name.is_empty() {
                entry.name.clone()
            } else {
                entry.display_name.clone()
            },
            roles: entry.roles.clone(),
            method: AuthMethod::ApiKey,
            auth_time,
        })
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn parse_pin_hash(text: &str) -> Option<(u32, Vec<u8>, Vec<u8>)> {
    let mut parts = text.split('$');
    if parts.next()? != "pbkdf2-sha256" {
        return None;
    }
    let rounds = parts.next()?.parse().ok().filter(|r| *r >= 10_000)?;
    let salt = hex::decode(parts.next()?).ok()?;
    let hash = hex::decode(parts.next()?).ok().filter(|h| h.len() == 32)?;
    parts.next().is_none().then_some((rounds, salt, hash))
}

fn verify_pin(stored: &str, pin: &str) -> bool {
    let Some((rounds, salt, hash)) = parse_pin_hash(stored) else {
        return false;
    };
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(pin.as_bytes(), &salt, rounds, &mut out);
    let Ok(expected) = <[u8; 32]>::try_from(hash.as_slice()) else {
        return false;
    };
    constant_time_eq(&out, &expected)
}

/// Makes a new key for `name` with `roles` (and a second factor when `pin` is given): returns
/// the key, shown once, and its key-file entry.
pub fn new_key(name: &str, roles: BTreeSet<String>, pin: Option<&str>) -> (String, KeyEntry) {
    let secret: [u8; 32] = rand::random();
    let key = format!("{KEY_PREFIX}{}", hex::encode(secret));
    let second_factor = pin.map(|pin| {
        let salt: [u8; 16] = rand::random();
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(pin.as_bytes(), &salt, PIN_ROUNDS, &mut out);
        format!(
            "pbkdf2-sha256${PIN_ROUNDS}${}${}",
            hex::encode(salt),
            hex::encode(out)
        )
    });
    let entry = KeyEntry {
        name: name.to_owned(),
        display_name: String::new(),
        roles,
        sha256: hex::encode(Sha256::digest(key.as_bytes())),
        second_factor,
    };
    (key, entry)
}

/// Parses a key file's entries (to add one to it).
pub fn entries(text: &str) -> Result<Vec<KeyEntry>, String> {
    ApiKeys::parse(text)?;
    let file: KeyFile = serde_yaml::from_str(text).map_err(|err| err.to_string())?;
    Ok(file.keys)
}

/// Renders entries as a key file.
pub fn key_file(entries: Vec<KeyEntry>) -> String {
    serde_yaml::to_string(&KeyFile { keys: entries }).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_verifies_and_a_wrong_one_does_not() {
        let (key, entry) = new_key(
            "line-1-gateway",
            BTreeSet::from(["gateway".to_owned()]),
            None,
        );
        let keys = ApiKeys::parse(&key_file(vec![entry])).expect("key file");
        let principal = keys.verify(&key, None).expect("known key");
        assert_eq!(principal.subject, "line-1-gateway");
        assert_eq!(principal.method, AuthMethod::ApiKey);
        assert!(principal.auth_time.is_none());
        let err = keys.verify("mom_0000", None).expect_err("unknown");
        assert_eq!(err.to_string(), "API key is not known");
        assert!(!key_file(Vec::new()).contains(&key));
    }

    #[test]
    fn second_factor_sets_auth_time_only_when_it_matches() {
        let (key, entry) = new_key(
            "qa-lead",
            BTreeSet::from(["quality".to_owned()]),
            Some("4711"),
        );
        let keys = ApiKeys::parse(&key_file(vec![entry])).expect("key file");
        let signed = keys.verify(&key, Some("4711")).expect("right pin");
        assert!(signed.auth_time.is_some());
        let err = keys.verify(&key, Some("1234")).expect_err("wrong pin");
        assert_eq!(
            err.to_string(),
            "second factor of API key qa-lead does not match"
        );
    }

    #[test]
    fn malformed_key_file_names_the_entry() {
        let err = ApiKeys::parse("keys:\n  - name: a\n    roles: []\n    sha256: zz\n")
            .expect_err("bad hash");
        assert_eq!(err, "keys[0].sha256 is not 64 hex digits");
        let err =
            ApiKeys::parse("keys:\n  - name: a\n    roles: []\n    sha256: zz\n    extra: 1\n")
                .expect_err("unknown field");
        assert!(err.contains("extra"), "{err}");
    }
}
