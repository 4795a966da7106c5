//! gRPC clients of the services the managers command.

use mom_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use mom_proto::maintenance::v1::maintenance_service_client::MaintenanceServiceClient;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use tonic::transport::{Channel, Endpoint};

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

fn channel(url: &str) -> Result<Channel, ProcessError> {
    Ok(Endpoint::from_shared(url.to_owned())
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
        Ok(Self {
            production: ProductionServiceClient::new(channel(&config.production_url)?),
            maintenance: MaintenanceServiceClient::new(channel(&config.maintenance_url)?),
            inventory: InventoryServiceClient::new(channel(&config.inventory_url)?),
        })
    }
}
