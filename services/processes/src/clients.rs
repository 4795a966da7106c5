//! gRPC clients of the services the managers command.

use mom_auth::ClientCredentials;
use mom_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use mom_proto::maintenance::v1::maintenance_service_client::MaintenanceServiceClient;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::{ProcessError, ProcessesConfig};

/// A channel whose calls carry the managers' credentials.
pub type Connection = InterceptedService<Channel, ClientCredentials>;

/// Lazily connected clients, authenticated as the process managers' principal; a service that
/// is down makes its commands fail transiently.
#[derive(Debug, Clone)]
pub struct Clients {
    /// Production service.
    pub production: ProductionServiceClient<Connection>,
    /// Quality service.
    pub quality: QualityServiceClient<Connection>,
    /// Maintenance service.
    pub maintenance: MaintenanceServiceClient<Connection>,
    /// Inventory service.
    pub inventory: InventoryServiceClient<Connection>,
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
        let credentials = config.credentials.clone();
        Ok(Self {
            production: ProductionServiceClient::with_interceptor(
                channel(&config.production_url, &tls)?,
                credentials.clone(),
            ),
            quality: QualityServiceClient::with_interceptor(
                channel(&config.quality_url, &tls)?,
                credentials.clone(),
            ),
            maintenance: MaintenanceServiceClient::with_interceptor(
                channel(&config.maintenance_url, &tls)?,
                credentials.clone(),
            ),
            inventory: InventoryServiceClient::with_interceptor(
                channel(&config.inventory_url, &tls)?,
                credentials,
            ),
        })
    }
}
