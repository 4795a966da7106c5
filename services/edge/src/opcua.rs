//! OPC UA: subscriptions with monitored items on the mapped nodes (being written).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::mapping::Mapping;
use crate::mqtt::Delivery;
use crate::EdgeError;

/// Where and how to read OPC UA.
#[derive(Debug, Clone)]
pub struct OpcUaSettings {
    /// Endpoint URL (`opc.tcp://host:port/path`).
    pub url: String,
    /// Sampling and publishing interval.
    pub interval: Duration,
}

/// Runs the OPC UA client until `shutdown`.
pub async fn run(
    settings: OpcUaSettings,
    mapping: Arc<Mapping>,
    out: mpsc::Sender<Delivery>,
    shutdown: CancellationToken,
) -> Result<(), EdgeError> {
    let _ = (settings, mapping, out, shutdown);
    Err(EdgeError::OpcUa("not built yet".into()))
}
