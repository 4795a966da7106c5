//! Command-line and environment options of the bus, shared by every service.

use crate::{RelayConfig, TopicNames};

/// Kafka options (`--kafka-bootstrap-servers`, `MOM_KAFKA_BOOTSTRAP_SERVERS`, ...).
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers (host:port,...). Without it the service publishes nothing and
    /// consumers read the event store's own log (embedded single-node mode).
    #[arg(long, env = "MOM_KAFKA_BOOTSTRAP_SERVERS")]
    pub kafka_bootstrap_servers: Option<String>,
    /// Prefix of every topic name (`mom.` gives `mom.production.v1`).
    #[arg(long, env = "MOM_TOPIC_PREFIX", default_value = "mom.")]
    pub topic_prefix: String,
    /// Partitions of topics the platform creates.
    #[arg(long, env = "MOM_TOPIC_PARTITIONS", default_value_t = 6)]
    pub topic_partitions: i32,
    /// Replication factor of topics the platform creates.
    #[arg(long, env = "MOM_TOPIC_REPLICATION", default_value_t = 1)]
    pub topic_replication: i32,
    /// Outbox rows the relay publishes per round.
    #[arg(long, env = "MOM_RELAY_BATCH_SIZE", default_value_t = 1000)]
    pub relay_batch_size: u32,
}

impl KafkaArgs {
    /// Returns the topic names under the configured prefix.
    pub fn topic_names(&self) -> TopicNames {
        TopicNames::new(self.topic_prefix.clone())
    }

    /// Returns the relay configuration for `topics`, or `None` when no broker is configured.
    pub fn relay_config(&self, topics: Vec<String>) -> Option<RelayConfig> {
        let servers = self.kafka_bootstrap_servers.as_ref()?;
        let mut config = RelayConfig::new(servers.clone(), topics);
        config.partitions = self.topic_partitions;
        config.replication = self.topic_replication;
        config.batch_size = self.relay_batch_size;
        Some(config)
    }
}
