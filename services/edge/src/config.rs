//! Configuration of `mom serve edge`; every flag also reads a `MOM_*` environment variable.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tonic::transport::Channel;

use crate::mqtt::Broker;
use crate::opcua::{Login, OpcUaSettings, Security, SecurityMode, SecurityPolicy};
use crate::EdgeError;

/// Options of `mom serve edge`.
#[derive(Debug, Clone, clap::Args)]
pub struct EdgeConfig {
    /// The mapping file: which machine signal means what for which work unit (docs/edge.md).
    #[arg(long = "mapping", env = "MOM_EDGE_MAPPING")]
    pub mapping: PathBuf,
    /// SQLite file of the edge service's memories and its queue of commands not yet accepted.
    #[arg(
        long = "edge-state",
        env = "MOM_EDGE_STATE",
        default_value = "data/edge.db"
    )]
    pub state: PathBuf,
    /// Most commands that wait on disk while the platform is unreachable; beyond it new values
    /// are dropped and counted (counters catch up once it drains).
    #[arg(long, env = "MOM_EDGE_BUFFER_CAPACITY", default_value_t = 1_000_000)]
    pub buffer_capacity: u64,
    /// MQTT broker (mqtt://host:port or mqtts://host:port with the client TLS settings).
    #[arg(long, env = "MOM_MQTT_URL", default_value = "mqtt://127.0.0.1:1883")]
    pub mqtt_url: String,
    /// MQTT client id (unique per edge service instance).
    #[arg(long, env = "MOM_MQTT_CLIENT_ID", default_value = "mom-edge")]
    pub mqtt_client_id: String,
    /// MQTT user name.
    #[arg(long, env = "MOM_MQTT_USERNAME", requires = "mqtt_password_file")]
    pub mqtt_username: Option<String>,
    /// File holding the MQTT password.
    #[arg(long, env = "MOM_MQTT_PASSWORD_FILE", requires = "mqtt_username")]
    pub mqtt_password_file: Option<PathBuf>,
    /// OPC UA server endpoint (opc.tcp://host:port/path) of the mapping's OPC UA nodes.
    #[arg(long, env = "MOM_OPCUA_URL")]
    pub opcua_url: Option<String>,
    /// OPC UA sampling and publishing interval, in milliseconds.
    #[arg(long, env = "MOM_OPCUA_INTERVAL_MS", default_value_t = 250)]
    pub opcua_interval_ms: u64,
    /// OPC UA security policy of the secure channel (docs/edge-opcua.md).
    #[arg(
        long,
        env = "MOM_OPCUA_SECURITY_POLICY",
        value_enum,
        ignore_case = true,
        default_value = "none"
    )]
    pub opcua_security_policy: SecurityPolicy,
    /// OPC UA message security mode when the policy is not none.
    #[arg(
        long,
        env = "MOM_OPCUA_SECURITY_MODE",
        value_enum,
        ignore_case = true,
        default_value = "sign-and-encrypt"
    )]
    pub opcua_security_mode: SecurityMode,
    /// OPC UA user name (anonymous without it).
    #[arg(long, env = "MOM_OPCUA_USERNAME", requires = "opcua_password_file")]
    pub opcua_username: Option<String>,
    /// File holding the OPC UA user's password.
    #[arg(long, env = "MOM_OPCUA_PASSWORD_FILE", requires = "opcua_username")]
    pub opcua_password_file: Option<PathBuf>,
    /// Directory of the OPC UA client certificate (own/, private/; made when missing) and of
    /// the trusted/ and rejected/ server certificates.
    #[arg(long, env = "MOM_OPCUA_PKI_DIR", default_value = "data/opcua-pki")]
    pub opcua_pki_dir: PathBuf,
    /// Trust an OPC UA server certificate that is not in the PKI directory's trusted/ yet.
    #[arg(
        long,
        env = "MOM_OPCUA_TRUST_SERVER_CERT",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub opcua_trust_server_cert: bool,
    /// gRPC address of the production service.
    #[arg(
        long,
        env = "MOM_PRODUCTION_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub production_url: String,
    /// gRPC address of the quality service (reject counters become inspection results).
    #[arg(
        long,
        env = "MOM_QUALITY_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub quality_url: String,
    /// The platform's event-time policy: device times outside it are not believed.
    #[command(flatten, next_help_heading = "Event time")]
    pub time: mom_clock::TimePolicyArgs,
    /// TLS towards https:// service URLs and mqtts:// brokers.
    #[command(flatten, next_help_heading = "TLS")]
    pub tls: mom_tls::ClientTlsArgs,
    /// The edge service's own identity towards the services (a principal with the edge role).
    #[command(flatten, next_help_heading = "Credentials")]
    pub credentials: mom_auth::ClientCredentials,
}

impl EdgeConfig {
    /// Returns the broker settings.
    pub fn broker(&self, tls: &mom_tls::ClientTls) -> Result<Broker, EdgeError> {
        let login = match (&self.mqtt_username, &self.mqtt_password_file) {
            (Some(user), Some(file)) => {
                let password = std::fs::read_to_string(file).map_err(|err| {
                    EdgeError::Config(format!("MQTT password file {}: {err}", file.display()))
                })?;
                Some((
                    user.clone(),
                    password.trim_end_matches(['\r', '\n']).to_owned(),
                ))
            }
            _ => None,
        };
        let tls_config =
            if self.mqtt_url.starts_with("mqtts://") || self.mqtt_url.starts_with("ssl://") {
                let mut config = tls.http_config()?;
                config.alpn_protocols.clear();
                Some(Arc::new(config))
            } else {
                None
            };
        Ok(Broker {
            url: self.mqtt_url.clone(),
            client_id: self.mqtt_client_id.clone(),
            login,
            tls: tls_config,
        })
    }

    /// Returns a lazily connected channel to `url`.
    pub fn channel(&self, tls: &mom_tls::ClientTls, url: &str) -> Result<Channel, EdgeError> {
        Ok(tls
            .endpoint(url)?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect_lazy())
    }

    /// Returns the OPC UA settings for `url`.
    pub fn opcua_settings(&self, url: String) -> OpcUaSettings {
        let security = match self.opcua_security_policy {
            SecurityPolicy::None => Security::None,
            policy => Security::Secure {
                policy,
                mode: self.opcua_security_mode,
            },
        };
        OpcUaSettings {
            url,
            interval: Duration::from_millis(self.opcua_interval_ms.max(10)),
            security,
            login: match (&self.opcua_username, &self.opcua_password_file) {
                (Some(user), Some(file)) => Some(Login {
                    user: user.clone(),
                    password_file: file.clone(),
                }),
                _ => None,
            },
            pki_dir: self.opcua_pki_dir.clone(),
            trust_server_certs: self.opcua_trust_server_cert,
        }
    }
}

/// The edge service's options as a command line of their own, for embedding (`mom dev`, tests,
/// benchmarks): every option not given takes its default (or its `MOM_*` variable).
#[derive(Debug, clap::Parser)]
#[command(name = "edge")]
struct EdgeCommandLine {
    #[command(flatten)]
    config: EdgeConfig,
}

impl EdgeConfig {
    /// Parses `args` (without a program name: `["--mapping", "m.toml", ...]`).
    pub fn parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let argv = std::iter::once(std::ffi::OsString::from("edge"))
            .chain(args.into_iter().map(Into::into));
        <EdgeCommandLine as clap::Parser>::try_parse_from(argv).map(|line| line.config)
    }
}
