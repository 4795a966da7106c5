//! Test harness shared by the workspace's integration tests: a fresh Postgres database per
//! test, a private Postgres cluster for tests that restart the server (or need it to speak
//! TLS), a real Kafka-protocol broker (`tansu`) and a real MQTT broker (Mosquitto) started on free
//! loopback ports, and tables read back as text for comparisons.
//!
//! Invariant: a component that cannot be had fails the test with a message that says how to get
//! it; nothing here skips.

mod broker;
mod cluster;
mod mqtt;
mod postgres;
mod tables;

pub use broker::{Broker, BrokerStorage};
pub use cluster::{ClusterTls, PostgresCluster};
pub use mqtt::MqttBroker;
pub use postgres::TestDatabase;
pub use tables::rows_as_text;

/// Returns a free loopback port (bound then released; good enough for a test's own processes).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
