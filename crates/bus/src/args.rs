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
    /// Failed publishing rounds after which the relay parks an outbox row (its key waits for an
    /// operator: `mom outbox list|retry|skip`). A message the broker refuses for its size is
    /// parked at once.
    #[arg(long, env = "MOM_RELAY_MAX_ATTEMPTS", default_value_t = crate::relay::DEFAULT_MAX_ATTEMPTS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub relay_max_attempts: u32,
    /// How long outbox rows that an earlier version marked published and kept stay before the
    /// relay prunes them (e.g. 7d; 0 = keep for ever). This version removes a row when the broker
    /// acknowledged it; the events and their messages stay in the event log.
    #[arg(long, env = "MOM_OUTBOX_RETENTION", default_value = crate::relay::DEFAULT_OUTBOX_RETENTION,
          value_parser = mom_clock::parse_limit_arg)]
    pub outbox_retention: mom_clock::Limit,
    /// librdkafka settings for every producer, consumer and admin client of the service
    /// (key=value; repeat the flag, or separate them with commas in the variable), e.g.
    /// security.protocol=ssl, ssl.ca.location=/certs/ca.pem, sasl.mechanism=SCRAM-SHA-512.
    #[arg(
        long = "kafka-option",
        env = "MOM_KAFKA_OPTIONS",
        value_delimiter = ','
    )]
    pub kafka_options: Vec<crate::KafkaOption>,
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
        config.max_attempts = self.relay_max_attempts;
        config.retention = self.outbox_retention.0.and_then(|d| d.to_std().ok());
        Some(config)
    }
}
