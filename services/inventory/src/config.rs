//! Configuration of the inventory service.

use std::net::SocketAddr;

use mom_bus::KafkaArgs;
use mom_eventstore::StoreArgs;

/// Options of `mom serve inventory`; every flag also reads a `MOM_*` environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct InventoryConfig {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub time: mom_clock::TimePolicyArgs,
    #[command(flatten)]
    pub security: mom_grpc::Security,
    /// Address the gRPC server binds to.
    #[arg(long, env = "MOM_INVENTORY_GRPC_ADDR", default_value = "0.0.0.0:50054")]
    pub grpc_addr: SocketAddr,
}
