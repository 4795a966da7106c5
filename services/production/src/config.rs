//! Configuration of the production service.

use std::net::SocketAddr;

use mom_bus::KafkaArgs;
use mom_eventstore::StoreArgs;

/// Options of `mom serve production`; every flag also reads a `MOM_*` environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct ProductionConfig {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub time: mom_clock::TimePolicyArgs,
    #[command(flatten)]
    pub security: mom_grpc::Security,
    /// Address the gRPC server binds to.
    #[arg(
        long,
        env = "MOM_PRODUCTION_GRPC_ADDR",
        default_value = "0.0.0.0:50051"
    )]
    pub grpc_addr: SocketAddr,
}
