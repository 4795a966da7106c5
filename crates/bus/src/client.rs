//! The librdkafka settings every client of the process gets: the operator's pass-through
//! options (`--kafka-option`, `MOM_KAFKA_OPTIONS`: TLS, SASL, ...) under the platform's own.
//!
//! The options are process-wide (one process serves one service, whose [`crate::KafkaArgs`]
//! they come from), so the relay, the dead-letter publisher, the topic admin and the
//! projections' consumers all connect the same way without each carrying them.

use std::str::FromStr;
use std::sync::{PoisonError, RwLock};

use rdkafka::config::ClientConfig;

/// One librdkafka setting, `key=value` (e.g. `security.protocol=ssl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaOption {
    /// The librdkafka property.
    pub key: String,
    /// Its value.
    pub value: String,
}

/// Why a text is not a `key=value` librdkafka setting.
#[derive(Debug, thiserror::Error)]
#[error("kafka option {0:?} is not key=value (e.g. security.protocol=ssl)")]
pub struct KafkaOptionError(String);

impl FromStr for KafkaOption {
    type Err = KafkaOptionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => Ok(Self {
                key: key.trim().to_owned(),
                value: value.trim().to_owned(),
            }),
            _ => Err(KafkaOptionError(text.to_owned())),
        }
    }
}

static OPTIONS: RwLock<Vec<KafkaOption>> = RwLock::new(Vec::new());

/// Makes `options` the pass-through settings of every Kafka client this process creates from
/// now on (replacing earlier ones). `mom serve` calls it with its service's options.
pub fn install_client_options(options: &[KafkaOption]) {
    *OPTIONS.write().unwrap_or_else(PoisonError::into_inner) = options.to_vec();
}

/// Returns the value of the installed pass-through option `key`, if the operator gave one: for
/// the tuning settings whose platform default the operator may override (`linger.ms`).
pub(crate) fn installed_option(key: &str) -> Option<String> {
    OPTIONS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .rev()
        .find(|option| option.key == key)
        .map(|option| option.value.clone())
}

/// Returns a client configuration for `bootstrap_servers` with the installed pass-through
/// options; the caller's own settings (set afterwards) take precedence over them.
pub fn client_config(bootstrap_servers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    for option in OPTIONS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
    {
        config.set(&option.key, &option.value);
    }
    config.set("bootstrap.servers", bootstrap_servers);
    config
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_operators_last_setting_of_a_key_is_the_installed_one() {
        let options: Vec<KafkaOption> = ["linger.ms=5", "acks=1", "linger.ms=0"]
            .iter()
            .map(|o| o.parse().unwrap())
            .collect();
        install_client_options(&options);
        let linger = installed_option("linger.ms");
        let missing = installed_option("batch.size");
        install_client_options(&[]);
        assert_eq!(linger.as_deref(), Some("0"));
        assert_eq!(missing, None);
    }

    #[test]
    fn options_are_key_value_pairs() {
        let option: KafkaOption = "ssl.ca.location = /certs/ca.pem".parse().unwrap();
        assert_eq!(option.key, "ssl.ca.location");
        assert_eq!(option.value, "/certs/ca.pem");
        assert!("sasl.password=a=b".parse::<KafkaOption>().unwrap().value == "a=b");
        for bad in ["security.protocol", "=ssl", ""] {
            let err = bad.parse::<KafkaOption>().unwrap_err().to_string();
            assert!(err.contains("key=value"), "{err}");
        }
    }
}
