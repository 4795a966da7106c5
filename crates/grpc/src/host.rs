//! Hosting one service: its gRPC routes plus health and reflection, and the outbox relay.
//!
//! A service starts while its database or its broker is down: the gRPC address is bound at
//! once and answers health (NOT_SERVING) and reflection while the store is connected with
//! backoff ([`GrpcServer::listen`], [`connect_store`]); the relay waits for the broker in its
//! own task. Once up, [`Readiness`] probes the store every 2 s and keeps the health status
//! SERVING only while it answers. With a certificate configured ([`mom_tls::TlsArgs`]) every
//! connection is TLS (mutual TLS with a client CA), the handshakes run beside the accept loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mom_auth::Authenticator;
use mom_bus::{KafkaArgs, Relay, RelayConfig};
use mom_clock::TimePolicy;
use mom_eventstore::{EventStore, StoreArgs};
use mom_tls::{Protocol, ServerTls, TlsArgs};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;

use crate::readiness::{Readiness, PROBE_EVERY};

/// A failure hosting a service.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The gRPC address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Reflection could not be set up from the descriptor set.
    #[error("grpc reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The relay failed.
    #[error("outbox relay: {0}")]
    Bus(#[from] mom_bus::BusError),
    /// A task panicked.
    #[error("task failed: {0}")]
    Task(String),
    /// The event store could not be opened.
    #[error("event store: {0}")]
    Store(#[from] mom_eventstore::StoreError),
    /// The authentication settings cannot be used.
    #[error("authentication: {0}")]
    Auth(#[from] mom_auth::AuthConfigError),
    /// The TLS settings cannot be used.
    #[error("tls: {0}")]
    Tls(#[from] mom_tls::TlsError),
    /// Shutdown was asked for before the service's store answered.
    #[error("stopped before the event store answered")]
    Stopped,
}

/// What to host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Fully qualified gRPC service name, reported SERVING by the health service.
    pub service_name: &'static str,
    /// Address to listen on (port 0 picks a free one).
    pub grpc_addr: SocketAddr,
    /// Relay configuration, when a broker is configured.
    pub relay: Option<RelayConfig>,
    /// The event-time policy every command is checked against.
    pub time_policy: TimePolicy,
    /// Who may call, and what they may do.
    pub auth: Authenticator,
    /// The electronic-signature rules every command is checked against.
    pub signatures: crate::SignaturePolicy,
}

/// A started service.
#[derive(Debug)]
pub struct Running {
    /// Address the gRPC server listens on.
    pub grpc_addr: SocketAddr,
    tasks: JoinSet<Result<(), HostError>>,
    store: EventStore,
    readiness: Readiness,
}

impl Running {
    /// Returns the service's readiness (its last report, probes to add).
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// Returns the service's event store.
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Waits until every task ended (after shutdown), then closes the store.
    pub async fn wait(mut self) -> Result<(), HostError> {
        let mut result = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            let outcome = joined
                .map_err(|err| HostError::Task(err.to_string()))
                .and_then(|r| r);
            if let Err(err) = outcome {
                tracing::error!(error = %err, "service task failed");
                if result.is_ok() {
                    result = Err(err);
                }
            }
        }
        self.store.close().await;
        result
    }
}

/// Health and reflection routes reporting through `health`.
fn base_routes(routes: Routes, health: &HealthReporter) -> Result<Routes, HostError> {
    let health_service = tonic_health::pb::health_server::HealthServer::new(
        tonic_health::server::HealthService::from_health_reporter(health.clone()),
    );
    // Every file of proto/ (so grpcurl can call any API, read models' included), the health
    // service's and reflection's own (included by default): `grpcurl list` shows what answers.
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(mom_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    Ok(routes.add_service(health_service).add_service(reflection))
}

/// A bound gRPC address that answers health (NOT_SERVING) and reflection only, while the
/// service connects what it needs; [`Starting::with_routes`] turns it into the full server.
pub struct Starting {
    /// Address the server listens on.
    pub addr: SocketAddr,
    service_name: &'static str,
    listener: Arc<TcpListener>,
    tls: Option<ServerTls>,
    health: HealthReporter,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl std::fmt::Debug for Starting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Starting")
            .field("addr", &self.addr)
            .field("service_name", &self.service_name)
            .finish()
    }
}

impl Starting {
    /// Returns the health reporter of the address.
    pub fn health(&self) -> HealthReporter {
        self.health.clone()
    }

    /// Stops the start-up server and returns the full server for `routes` (plus health and
    /// reflection) on the same address; its health status stays as it is.
    pub async fn with_routes(self, routes: Routes) -> Result<GrpcServer, HostError> {
        self.stop.cancel();
        match self.task.await {
            Ok(result) => result?,
            Err(err) => return Err(HostError::Task(err.to_string())),
        }
        Ok(GrpcServer {
            addr: self.addr,
            service_name: self.service_name,
            listener: self.listener,
            tls: self.tls,
            routes: base_routes(routes, &self.health)?,
            health: self.health,
            time_policy: TimePolicy::default(),
            auth: Authenticator::disabled(),
            signatures: crate::SignaturePolicy::default(),
        })
    }
}

/// A bound gRPC server (routes plus health and reflection) that serves until shutdown.
#[derive(Debug)]
pub struct GrpcServer {
    /// Address the server listens on.
    pub addr: SocketAddr,
    service_name: &'static str,
    listener: Arc<TcpListener>,
    tls: Option<ServerTls>,
    routes: Routes,
    health: HealthReporter,
    time_policy: TimePolicy,
    auth: Authenticator,
    signatures: crate::SignaturePolicy,
}

impl GrpcServer {
    /// Binds `addr` (port 0 picks a free one) and serves health (`service_name` and the
    /// server, NOT_SERVING) and reflection over every file in `proto/` until
    /// [`Starting::with_routes`].
    pub async fn listen(
        service_name: &'static str,
        addr: SocketAddr,
    ) -> Result<Starting, HostError> {
        Self::listen_tls(service_name, addr, &TlsArgs::default()).await
    }

    /// Like [`GrpcServer::listen`], with TLS when `tls` has a certificate (mutual TLS with a
    /// client CA); fails, naming the file, when a certificate, key or CA cannot be used.
    pub async fn listen_tls(
        service_name: &'static str,
        addr: SocketAddr,
        tls: &TlsArgs,
    ) -> Result<Starting, HostError> {
        let tls = ServerTls::from_args(tls, Protocol::Grpc).await?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| HostError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| HostError::Bind { addr, source })?;
        let listener = Arc::new(listener);
        let health = HealthReporter::new();
        health
            .set_service_status(service_name, tonic_health::ServingStatus::NotServing)
            .await;
        health
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        let routes = base_routes(Routes::default(), &health)?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(
            tonic::transport::Server::builder()
                .add_routes(routes)
                .serve_with_incoming_shutdown(
                    mom_tls::Listener::new(listener.clone(), tls.clone()),
                    stop.clone().cancelled_owned(),
                ),
        );
        tracing::info!(service = service_name, %addr, tls = tls.is_some(), "listening (starting: NOT_SERVING)");
        Ok(Starting {
            addr,
            service_name,
            listener,
            tls,
            health,
            stop,
            task,
        })
    }

    /// Binds `addr` (port 0 picks a free one) for `routes`, with the health service reporting
    /// `service_name` SERVING and reflection over every file in `proto/`. A service with
    /// readiness probes uses [`GrpcServer::listen`] and [`GrpcServer::watch`] instead.
    pub async fn bind(
        service_name: &'static str,
        addr: SocketAddr,
        routes: Routes,
    ) -> Result<Self, HostError> {
        let server = Self::listen(service_name, addr)
            .await?
            .with_routes(routes)
            .await?;
        for name in [service_name, ""] {
            server
                .health
                .set_service_status(name, tonic_health::ServingStatus::Serving)
                .await;
        }
        tracing::info!(service = service_name, addr = %server.addr, "listening");
        Ok(server)
    }

    /// Keeps the health status from `readiness`: the first probe runs before this returns (so a
    /// started service answers health with what its probes found, never a stale NOT_SERVING),
    /// then every 2 s until `shutdown`.
    pub async fn watch(&self, readiness: Readiness, shutdown: CancellationToken) {
        let status = if readiness.check().await.ready {
            tonic_health::ServingStatus::Serving
        } else {
            tonic_health::ServingStatus::NotServing
        };
        for name in [self.service_name, ""] {
            self.health.set_service_status(name, status).await;
        }
        tokio::spawn(readiness.run(
            self.health.clone(),
            self.service_name,
            PROBE_EVERY,
            shutdown,
        ));
    }

    /// Returns the server handing `policy` to every request (see [`crate::call`]).
    pub fn with_time_policy(mut self, policy: TimePolicy) -> Self {
        self.time_policy = policy;
        self
    }

    /// Returns the server admitting every call with `auth` (see [`mom_auth::GrpcAuthLayer`]);
    /// without it, every caller is the local administrator.
    pub fn with_auth(mut self, auth: Authenticator) -> Self {
        self.auth = auth;
        self
    }

    /// Returns the server handing the electronic-signature rules `policy` to every request.
    pub fn with_signatures(mut self, policy: crate::SignaturePolicy) -> Self {
        self.signatures = policy;
        self
    }

    /// Serves until `shutdown` is cancelled; in-flight requests finish.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), HostError> {
        let incoming = mom_tls::Listener::new(self.listener, self.tls);
        tonic::transport::Server::builder()
            .timeout(crate::REQUEST_TIMEOUT)
            .layer(crate::TraceLayer)
            .layer(crate::DeadlineLayer::new(crate::REQUEST_TIMEOUT))
            .layer(mom_auth::GrpcAuthLayer::new(self.auth))
            .layer(crate::ExtensionLayer::new(self.time_policy))
            .layer(crate::ExtensionLayer::new(self.signatures))
            .add_routes(self.routes)
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
            .await?;
        Ok(())
    }
}

/// Binds the gRPC server (with `routes`, health and reflection) and starts the relay when
/// configured (it waits for the broker by itself). Health says SERVING while the store answers
/// (probed every 2 s). Everything stops when `shutdown` is cancelled: in-flight requests finish
/// and the relay finishes its round.
pub async fn start(
    config: HostConfig,
    store: EventStore,
    routes: Routes,
    shutdown: CancellationToken,
) -> Result<Running, HostError> {
    let starting = GrpcServer::listen(config.service_name, config.grpc_addr).await?;
    serve_started(starting, config, store, routes, shutdown).await
}

async fn serve_started(
    starting: Starting,
    config: HostConfig,
    store: EventStore,
    routes: Routes,
    shutdown: CancellationToken,
) -> Result<Running, HostError> {
    let server = starting
        .with_routes(routes)
        .await?
        .with_time_policy(config.time_policy)
        .with_auth(config.auth)
        .with_signatures(config.signatures);
    let grpc_addr = server.addr;
    let readiness = Readiness::new();
    readiness.add("event store", {
        let store = store.clone();
        move || {
            let store = store.clone();
            async move { ping(&store).await }
        }
    });
    server.watch(readiness.clone(), shutdown.clone()).await;
    let mut tasks = JoinSet::new();
    if let Some(relay_config) = config.relay {
        tasks.spawn(run_relay(store.clone(), relay_config, shutdown.clone()));
    }
    tasks.spawn(server.serve(shutdown));
    Ok(Running {
        grpc_addr,
        tasks,
        store,
        readiness,
    })
}

/// Starts the relay once the broker answers (retrying with backoff, 0.5 s doubling to 10 s),
/// then runs it until `shutdown`; a shutdown ends the wait for the broker at once.
async fn run_relay(
    store: EventStore,
    config: RelayConfig,
    shutdown: CancellationToken,
) -> Result<(), HostError> {
    let started = mom_bus::start_when_reachable("outbox relay", &shutdown, || {
        Relay::start(store.clone(), config.clone())
    })
    .await;
    match started {
        Some(relay) => relay.run(shutdown).await.map_err(HostError::from),
        None => Ok(()),
    }
}

/// Returns `Ok` when the store's database answers a trivial query.
pub async fn ping(store: &EventStore) -> Result<(), String> {
    let answered = match store.backend() {
        mom_eventstore::Backend::Postgres(pool) => {
            sqlx::query("SELECT 1").execute(pool).await.map(drop)
        }
        mom_eventstore::Backend::Sqlite(pool) => {
            sqlx::query("SELECT 1").execute(pool).await.map(drop)
        }
    };
    answered.map_err(|err| err.to_string())
}

/// Connects the event store of `args`, retrying with backoff (0.5 s doubling to 10 s) while the
/// database does not answer, so a service can start before its database. Returns `None` when
/// `shutdown` is cancelled first; a URL that can never work is returned as an error at once.
pub async fn connect_store(
    args: &StoreArgs,
    shutdown: &CancellationToken,
) -> Result<Option<EventStore>, HostError> {
    let mut backoff = Duration::from_millis(500);
    loop {
        match EventStore::connect(&args.database_url, &args.options()).await {
            Ok(store) => return Ok(Some(store)),
            Err(
                err @ (mom_eventstore::StoreError::UnsupportedUrl { .. }
                | mom_eventstore::StoreError::Database(sqlx::Error::Configuration(_))),
            ) => return Err(err.into()),
            Err(err) => {
                tracing::warn!(error = %err, retry_in = ?backoff, "event store not reachable, retrying");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(None),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// The settings every domain command service has: its domain (which names its topic), its gRPC
/// address, its event store and its broker.
#[derive(Debug, Clone, Copy)]
pub struct DomainConfig<'a> {
    /// The domain, such as `production`: its topic is the domain topic of that name.
    pub domain: &'static str,
    /// Fully qualified gRPC service name, reported SERVING by the health service.
    pub service_name: &'static str,
    /// Address to listen on (port 0 picks a free one).
    pub grpc_addr: SocketAddr,
    /// The event store.
    pub store: &'a StoreArgs,
    /// The broker, if any.
    pub kafka: &'a KafkaArgs,
    /// The event-time policy every command is checked against.
    pub time_policy: TimePolicy,
    /// TLS and authentication.
    pub security: &'a crate::Security,
}

/// Starts a domain command service: binds the gRPC address (health NOT_SERVING meanwhile),
/// connects its event store (retrying while the database is down, then running the
/// migrations), builds its API with `routes` over the store and its topic's name, serves it with
/// health and reflection and, when a broker is configured, starts the outbox relay to that
/// topic. Everything stops when `shutdown` is cancelled: in-flight requests finish, the relay
/// finishes its round.
pub async fn start_domain(
    config: DomainConfig<'_>,
    routes: impl FnOnce(EventStore, String) -> Routes,
    shutdown: CancellationToken,
) -> Result<Running, HostError> {
    let auth = Authenticator::from_args(&config.security.auth).await?;
    if auth.is_disabled() {
        tracing::warn!(
            service = config.service_name,
            "electronic signature rules are OFF: authentication is disabled, so no signer can re-authenticate (docs/signatures.md)"
        );
    }
    let starting =
        GrpcServer::listen_tls(config.service_name, config.grpc_addr, &config.security.tls).await?;
    let store = connect_store(config.store, &shutdown)
        .await?
        .ok_or(HostError::Stopped)?;
    let topic = config.kafka.topic_names().domain(config.domain);
    let host = HostConfig {
        service_name: config.service_name,
        grpc_addr: starting.addr,
        relay: config.kafka.relay_config(vec![topic.clone()]),
        time_policy: config.time_policy,
        auth,
        signatures: config.security.signatures.policy(),
    };
    let routes =
        routes(store.clone(), topic).add_service(crate::audit::audit_service(store.clone()));
    let mut running =
        serve_started(starting, host, store.clone(), routes, shutdown.clone()).await?;
    let report = crate::audit::report_head(store, config.domain, shutdown);
    running.tasks.spawn(async move {
        report.await;
        Ok(())
    });
    Ok(running)
}
