//! Topic names and topic creation.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::BusError;

/// Topic names, derived from one configurable prefix (default `mom.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicNames {
    prefix: String,
}

impl Default for TopicNames {
    fn default() -> Self {
        Self::new("mom.")
    }
}

impl TopicNames {
    /// Returns names under `prefix` (for example `mom.` or `plant1.mom.`).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// Returns the topic of a domain, for example `mom.production.v1`.
    pub fn domain(&self, domain: &str) -> String {
        format!("{}{domain}.v1", self.prefix)
    }
}

/// Returns the dead-letter topic of `topic`.
pub fn dlq_topic(topic: &str) -> String {
    format!("{topic}.dlq")
}

/// Creates the topics that do not exist yet (an existing topic is left as it is).
pub async fn ensure_topics(
    bootstrap_servers: &str,
    topics: &[String],
    partitions: i32,
    replication: i32,
) -> Result<(), BusError> {
    let admin: AdminClient<DefaultClientContext> =
        crate::client_config(bootstrap_servers).create()?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|topic| NewTopic::new(topic, partitions, TopicReplication::Fixed(replication)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(BusError::TopicCreation {
                    topic,
                    reason: code.to_string(),
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_the_contract() {
        let names = TopicNames::default();
        assert_eq!(names.domain("production"), "mom.production.v1");
        assert_eq!(dlq_topic(&names.domain("quality")), "mom.quality.v1.dlq");
        assert_eq!(TopicNames::new("plant1.").domain("oee"), "plant1.oee.v1");
    }
}
