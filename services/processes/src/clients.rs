//! gRPC clients of the services the managers command.

use mom_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use mom_proto::maintenance::v1::maintenance_service_client::MaintenanceServiceClient;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use tonic::transport::Channel;

use crate::{ProcessError, ProcessesConfig};

/// Lazily connected clients; a service that is down makes its commands fail transiently.
#[derive(Debug, Clone)]
pub struct Clients {
    /// Production service.
    pub production: ProductionServiceClient<Channel>,
    /// Maintenance service.
    pub maintenance: MaintenanceServiceClient<Channel>,
    /// Inventory service.
    pub inventory: InventoryServiceClient<Channel>,
}

/// Returns a lazily connected channel to `url`: TLS with `tls` for `https://`, plaintext for
/// `http://`.
fn channel(url: &str, tls: &mom_tls::ClientTls) -> Result<Channel, ProcessError> {
    Ok(tls
        .endpoint(url)
        .map_err(|err| ProcessError::Url {
            url: url.to_owned(),
            reason: err.to_string(),
        })?
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(30))
        .connect_lazy())
}

impl Clients {
    /// Returns clients for the configured addresses.
    pub fn connect(config: &ProcessesConfig) -> Result<Self, ProcessError> {
        let tls = mom_tls::ClientTls::load(&config.tls)?;
        Ok(Self {
            production: ProductionServiceClient::new(channel(&config.production_url, &tls)?),
            maintenance: MaintenanceServiceClient::new(channel(&config.maintenance_url, &tls)?),
            inventory: InventoryServiceClient::new(channel(&config.inventory_url, &tls)?),
        })
    }
}
