//! OPC UA: one session to the configured server and one subscription with a monitored item per
//! mapped node (docs/edge-opcua.md). Data changes become samples stamped with their source
//! timestamp; a lost session makes every work unit read from OPC UA unknown until the values are
//! read again after the reconnect.
//!
//! Invariant: knows OPC UA and the mapping's node ids, nothing of what the values mean (that is
//! `process.rs`).

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ::opcua::client::{
    transport::TcpConnector, Client, ClientBuilder, IdentityToken, MonitoredItem,
    OnSubscriptionNotification, Session, SessionConnectMode, SessionEventLoop, SessionPollResult,
};
use ::opcua::types::{
    AttributeId, DataValue, EndpointDescription, MessageSecurityMode, MonitoredItemCreateRequest,
    MonitoringMode, MonitoringParameters, NodeId, QualifiedName, ReadValueId,
    StatusChangeNotification, StatusCode, TimestampsToReturn, UserTokenPolicy, VariableId, Variant,
};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::mapping::{Mapping, Source};
use crate::mqtt::Delivery;
use crate::process::{Input, Sample, Value};
use crate::EdgeError;

/// Most inputs held between two sends to the processor; more in one go are dropped (and logged).
/// A publish response carries at most [`MAX_NOTIFICATIONS_PER_PUBLISH`], so only a flood of
/// responses while the processor is slow reaches it.
const MAX_PENDING: usize = 65_536;
/// Most notifications the server puts into one publish response.
const MAX_NOTIFICATIONS_PER_PUBLISH: u32 = 1_000;
/// Changes the server queues per monitored item between two publishes (oldest dropped first).
const QUEUE_SIZE: u32 = 100;
/// Most nodes read in one Read request after a connect.
const READ_CHUNK: usize = 500;
/// Shortest and longest wait between two connection attempts.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Where and how to read OPC UA.
#[derive(Debug, Clone)]
pub struct OpcUaSettings {
    /// Endpoint URL (`opc.tcp://host:port/path`).
    pub url: String,
    /// Sampling and publishing interval.
    pub interval: Duration,
    /// Message security of the secure channel.
    pub security: Security,
    /// User name and the file holding the password; none: anonymous.
    pub login: Option<Login>,
    /// Directory of the client's application instance certificate (`own/cert.der`,
    /// `private/private.pem`, made when missing) and of the server certificates trusted
    /// (`trusted/`) and rejected (`rejected/`).
    pub pki_dir: PathBuf,
    /// Trust a server certificate not yet in `trusted/` (first setup only).
    pub trust_server_certs: bool,
}

/// The message security of the secure channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// No signing, no encryption.
    None,
    /// `policy` in `mode`.
    Secure {
        /// The security policy.
        policy: SecurityPolicy,
        /// Signed, or signed and encrypted.
        mode: SecurityMode,
    },
}

/// An OPC UA security policy the client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SecurityPolicy {
    /// No security.
    #[value(name = "none")]
    None,
    /// Basic256Sha256.
    #[value(name = "basic256sha256")]
    Basic256Sha256,
    /// Aes128_Sha256_RsaOaep.
    #[value(name = "aes128-sha256-rsaoaep", alias = "aes128_sha256_rsaoaep")]
    Aes128Sha256RsaOaep,
    /// Aes256_Sha256_RsaPss.
    #[value(name = "aes256-sha256-rsapss", alias = "aes256_sha256_rsapss")]
    Aes256Sha256RsaPss,
}

/// Signed, or signed and encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SecurityMode {
    /// Messages are signed.
    #[value(name = "sign")]
    Sign,
    /// Messages are signed and encrypted.
    #[value(name = "sign-and-encrypt", alias = "signandencrypt")]
    SignAndEncrypt,
}

/// A user name and where its password is.
#[derive(Debug, Clone)]
pub struct Login {
    /// The user name.
    pub user: String,
    /// The file holding the password (trailing line breaks are not part of it).
    pub password_file: PathBuf,
}

impl Security {
    fn endpoint(&self, url: &str) -> EndpointDescription {
        let (policy, mode) = match self {
            Security::None => ("None", MessageSecurityMode::None),
            Security::Secure { policy, mode } => (
                match policy {
                    SecurityPolicy::None => "None",
                    SecurityPolicy::Basic256Sha256 => "Basic256Sha256",
                    SecurityPolicy::Aes128Sha256RsaOaep => "Aes128-Sha256-RsaOaep",
                    SecurityPolicy::Aes256Sha256RsaPss => "Aes256-Sha256-RsaPss",
                },
                match mode {
                    SecurityMode::Sign => MessageSecurityMode::Sign,
                    SecurityMode::SignAndEncrypt => MessageSecurityMode::SignAndEncrypt,
                },
            ),
        };
        (url, policy, mode, UserTokenPolicy::anonymous()).into()
    }
}

/// One monitored node and the signals read from it.
#[derive(Debug)]
struct Node {
    id: NodeId,
    /// The node id as the mapping spells it.
    text: String,
    /// Indexes into [`Mapping::signals`].
    signals: Vec<usize>,
    /// The mapping file lines of those signals.
    lines: Vec<usize>,
}

/// Returns the distinct mapped nodes; the client handle of `nodes[i]` is `i + 1`.
fn nodes_of(mapping: &Mapping) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    for (index, signal) in mapping.signals.iter().enumerate() {
        let Source::OpcUa { node } = &signal.source else {
            continue;
        };
        if let Some(known) = nodes.iter_mut().find(|n| &n.text == node) {
            known.signals.push(index);
            known.lines.push(signal.line);
            continue;
        }
        match NodeId::from_str(node) {
            Ok(id) => nodes.push(Node {
                id,
                text: node.clone(),
                signals: vec![index],
                lines: vec![signal.line],
            }),
            Err(err) => {
                tracing::warn!(node = %node, line = signal.line, error = %err, "OPC UA node id cannot be read; the signal is skipped");
            }
        }
    }
    nodes
}

fn handle_of(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

fn index_of(handle: u32) -> Option<usize> {
    usize::try_from(handle).ok()?.checked_sub(1)
}

/// Returns the value of a variant as the processor takes it; none for arrays, structures and
/// other types no mapping kind reads.
fn value_of(variant: &Variant) -> Option<Value> {
    Some(match variant {
        Variant::Boolean(b) => Value::Bool(*b),
        Variant::SByte(n) => Value::Int(i64::from(*n)),
        Variant::Int16(n) => Value::Int(i64::from(*n)),
        Variant::Int32(n) => Value::Int(i64::from(*n)),
        Variant::Int64(n) => Value::Int(*n),
        Variant::Byte(n) => Value::UInt(u64::from(*n)),
        Variant::UInt16(n) => Value::UInt(u64::from(*n)),
        Variant::UInt32(n) => Value::UInt(u64::from(*n)),
        Variant::UInt64(n) => Value::UInt(*n),
        Variant::Float(f) => Value::Float(f64::from(*f)),
        Variant::Double(f) => Value::Float(*f),
        Variant::String(s) => Value::Text(s.value().clone()?),
        Variant::LocalizedText(t) => Value::Text(t.text.value().clone()?),
        _ => return None,
    })
}

fn time_of(time: Option<&::opcua::types::DateTime>) -> Option<DateTime<Utc>> {
    time.filter(|t| !t.is_null()).map(|t| t.as_chrono())
}

/// Returns the device time of a data change: its source timestamp, else its server timestamp.
fn device_time(value: &DataValue) -> Option<DateTime<Utc>> {
    time_of(value.source_timestamp.as_ref()).or_else(|| time_of(value.server_timestamp.as_ref()))
}

/// Why a value was not taken.
#[derive(Debug, Clone, PartialEq)]
enum Refused {
    /// A bad status code.
    Status(StatusCode),
    /// No value, or one of a type no mapping kind reads.
    Type(String),
}

/// What the notification callback and the reads after a connect share with the session loop.
#[derive(Debug)]
struct Pending {
    /// Inputs not yet sent to the processor.
    inputs: Vec<Input>,
    /// Per node: the device time of the last value taken (an older one is old news, such as the
    /// initial value of an item whose value the read after the connect took already).
    last: Vec<Option<DateTime<Utc>>>,
    /// Per node: why its last value was refused, so a lasting fault is logged once.
    refused: Vec<Option<Refused>>,
    /// Inputs dropped because `inputs` was full, since the last warning.
    dropped: u64,
}

/// How a value came.
#[derive(Debug, Clone, Copy)]
enum Arrival {
    /// A data change notification: its own device time.
    Change,
    /// The read after a connect, at the server's current time: the value holds then, whatever
    /// its own timestamp (after a loss the unit's state is news even when the value is not).
    Read(Option<DateTime<Utc>>),
}

impl Pending {
    fn new(nodes: usize) -> Self {
        Self {
            inputs: Vec::new(),
            last: vec![None; nodes],
            refused: vec![None; nodes],
            dropped: 0,
        }
    }

    /// Takes `value` of `nodes[index]`.
    fn take(
        &mut self,
        nodes: &[Node],
        index: usize,
        value: &DataValue,
        arrival: Arrival,
        received: DateTime<Utc>,
    ) {
        let Some(node) = nodes.get(index) else {
            return;
        };
        let status = value.status.unwrap_or(StatusCode::Good);
        let parsed = if status.is_bad() {
            Err(Refused::Status(status))
        } else {
            match value.value.as_ref().and_then(value_of) {
                Some(parsed) => Ok(parsed),
                None => Err(Refused::Type(format!("{:?}", value.value))),
            }
        };
        let parsed = match parsed {
            Ok(parsed) => {
                self.refused[index] = None;
                parsed
            }
            Err(refused) => {
                if self.refused[index].as_ref() != Some(&refused) {
                    match &refused {
                        Refused::Status(status) => {
                            tracing::warn!(node = %node.text, status = %status, "OPC UA value has a bad status; skipped")
                        }
                        Refused::Type(shown) => {
                            tracing::warn!(node = %node.text, value = %shown, "OPC UA value is not a number, text or boolean; skipped")
                        }
                    }
                    self.refused[index] = Some(refused);
                }
                return;
            }
        };
        let time = match arrival {
            Arrival::Change => device_time(value),
            Arrival::Read(now) => match (now, device_time(value)) {
                (Some(now), Some(own)) => Some(now.max(own)),
                (now, own) => now.or(own),
            },
        };
        let last = &mut self.last[index];
        if let (Some(time), Some(last)) = (time, *last) {
            if time <= last {
                return;
            }
        }
        if time.is_some() {
            *last = time;
        }
        for &signal in &node.signals {
            if self.inputs.len() >= MAX_PENDING {
                self.dropped += 1;
                continue;
            }
            self.inputs.push(Input::Sample(Sample {
                signal,
                value: parsed.clone(),
                device_time: time,
                received,
                historical: false,
            }));
        }
    }
}

fn lock(pending: &Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The subscription's callback: data changes into [`Pending`].
struct Notifications {
    nodes: Arc<Vec<Node>>,
    pending: Arc<Mutex<Pending>>,
}

impl OnSubscriptionNotification for Notifications {
    fn on_data_value(&mut self, value: DataValue, item: &MonitoredItem) {
        let Some(index) = index_of(item.client_handle()) else {
            return;
        };
        lock(&self.pending).take(
            &self.nodes,
            index,
            &value,
            Arrival::Change,
            mom_clock::now(),
        );
    }

    fn on_subscription_status_change(&mut self, notification: StatusChangeNotification) {
        if notification.status.is_bad() {
            tracing::warn!(status = %notification.status, "OPC UA subscription status changed");
        }
    }
}

/// Waits between connection attempts: 1 s, doubling to 30 s.
#[derive(Debug)]
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Self(RETRY_FIRST)
    }

    fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(RETRY_MAX);
        wait
    }
}

/// The connection as the work units see it: lost once per outage.
#[derive(Debug)]
struct Link {
    units: Vec<String>,
    reason: String,
    lost: bool,
}

impl Link {
    /// Returns the `Lost` inputs of every unit when the link was not yet lost.
    fn lose(&mut self) -> Vec<Input> {
        if self.lost {
            return Vec::new();
        }
        self.lost = true;
        let at = mom_clock::now();
        self.units
            .iter()
            .map(|unit| Input::Lost {
                work_unit: unit.clone(),
                at,
                reason: self.reason.clone(),
            })
            .collect()
    }
}

/// How a session ended.
enum Ended {
    /// The service stops (or the processor is gone).
    Stop,
    /// The client library gave up on the session: discover the endpoint again.
    Broken,
}

/// Runs the OPC UA client until `shutdown`.
///
/// Connection faults are never fatal: the units read from OPC UA are reported lost and the
/// client reconnects. Only unusable settings (client configuration, password file) end it early.
pub async fn run(
    settings: OpcUaSettings,
    mapping: Arc<Mapping>,
    out: mpsc::Sender<Delivery>,
    shutdown: CancellationToken,
) -> Result<(), EdgeError> {
    let nodes = Arc::new(nodes_of(&mapping));
    if nodes.is_empty() {
        tracing::warn!(url = %settings.url, "no usable OPC UA node in the mapping; nothing to read");
        shutdown.cancelled().await;
        return Ok(());
    }
    let identity = identity(&settings)?;
    // One client asks the server for its endpoints, once per call; the other runs the session,
    // which reconnects by itself.
    let made = tokio::task::spawn_blocking({
        let settings = settings.clone();
        move || {
            Ok::<_, EdgeError>((
                client(&settings, Retries::None)?,
                client(&settings, Retries::Forever)?,
            ))
        }
    });
    let (discovery, client) = tokio::select! {
        biased;
        () = shutdown.cancelled() => return Ok(()),
        made = made => made.map_err(|err| EdgeError::OpcUa(format!("client setup: {err}")))??,
    };
    let units: BTreeSet<String> = nodes
        .iter()
        .flat_map(|n| n.signals.iter())
        .filter_map(|&s| mapping.signals.get(s).map(|s| s.work_unit.clone()))
        .collect();
    let mut link = Link {
        units: units.into_iter().collect(),
        reason: format!("OPC UA session lost: {}", settings.url),
        lost: false,
    };
    let pending = Arc::new(Mutex::new(Pending::new(nodes.len())));
    let endpoint = settings.security.endpoint(&settings.url);
    let mut backoff = Backoff::new();
    loop {
        // The server's endpoints give its certificate and user token policies.
        let connected = tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            connected = discovery.get_server_endpoints_from_url(settings.url.as_str()) => connected,
        };
        let connected = connected.and_then(|endpoints| {
            client
                .session_builder()
                .with_endpoints(endpoints)
                .connect_to_matching_endpoint(endpoint.clone())?
                .user_identity_token(identity.clone())
                .build(client.certificate_store().clone())
        });
        let (session, event_loop) = match connected {
            Ok(pair) => pair,
            Err(err) => {
                if link.lost {
                    tracing::debug!(url = %settings.url, error = %err, "OPC UA server still unreachable; retrying");
                } else {
                    tracing::warn!(url = %settings.url, error = %err, "OPC UA server unreachable or without the configured endpoint; retrying");
                }
                let lost = link.lose();
                if !send(&out, lost, &shutdown).await {
                    return Ok(());
                }
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(backoff.next()) => continue,
                }
            }
        };
        backoff = Backoff::new();
        let ended = serve_session(
            &settings, session, event_loop, &nodes, &pending, &mut link, &out, &shutdown,
        )
        .await;
        match ended {
            Ended::Stop => return Ok(()),
            Ended::Broken => {
                let lost = link.lose();
                if !send(&out, lost, &shutdown).await {
                    return Ok(());
                }
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(backoff.next()) => {}
                }
            }
        }
    }
}

/// Sends `inputs` (if any) to the processor; returns false when the service stops.
async fn send(
    out: &mpsc::Sender<Delivery>,
    inputs: Vec<Input>,
    shutdown: &CancellationToken,
) -> bool {
    if inputs.is_empty() {
        return !shutdown.is_cancelled();
    }
    tokio::select! {
        biased;
        () = shutdown.cancelled() => false,
        sent = out.send(Delivery { inputs, ack: None }) => sent.is_ok(),
    }
}

fn identity(settings: &OpcUaSettings) -> Result<IdentityToken, EdgeError> {
    let Some(login) = &settings.login else {
        return Ok(IdentityToken::Anonymous);
    };
    let password = std::fs::read_to_string(&login.password_file).map_err(|err| {
        EdgeError::OpcUa(format!(
            "password file {}: {err}",
            login.password_file.display()
        ))
    })?;
    Ok(IdentityToken::new_user_name(
        login.user.clone(),
        password.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

/// How often a client tries to (re)connect.
#[derive(Debug, Clone, Copy)]
enum Retries {
    /// Once per call.
    None,
    /// Forever, 1 s doubling to 30 s.
    Forever,
}

fn client(settings: &OpcUaSettings, retries: Retries) -> Result<Client, EdgeError> {
    ClientBuilder::new()
        .application_name("mom-edge")
        .application_uri("urn:mom:edge")
        .product_uri("urn:mom:edge")
        .session_name("mom-edge")
        .pki_dir(settings.pki_dir.clone())
        // Made once when missing (an RSA key: not on the async threads, see `run`); without one
        // the client library logs errors on every connect even with security off.
        .create_sample_keypair(true)
        .trust_server_certs(settings.trust_server_certs)
        .session_retry_limit(match retries {
            Retries::None => 0,
            Retries::Forever => -1,
        })
        .session_retry_initial(RETRY_FIRST)
        .session_retry_max(RETRY_MAX)
        // A silent network (no TCP reset) is noticed by failed keep-alive reads within ~25 s.
        .keep_alive_interval(Duration::from_secs(5))
        .max_failed_keep_alive_count(3)
        .request_timeout(Duration::from_secs(10))
        // Long enough for the server to keep the session (and its subscription) over a short
        // outage, so that reconnecting reactivates it.
        .session_timeout(120_000)
        .client()
        .map_err(|errors| EdgeError::OpcUa(format!("client settings: {}", errors.join("; "))))
}

/// Runs one session until the service stops or the client library gives up on it.
#[allow(clippy::too_many_arguments)]
async fn serve_session(
    settings: &OpcUaSettings,
    session: Arc<Session>,
    event_loop: SessionEventLoop<TcpConnector>,
    nodes: &Arc<Vec<Node>>,
    pending: &Arc<Mutex<Pending>>,
    link: &mut Link,
    out: &mpsc::Sender<Delivery>,
    shutdown: &CancellationToken,
) -> Ended {
    let events = event_loop.enter();
    tokio::pin!(events);
    let mut setup: Option<BoxFuture<'static, ()>> = None;
    let mut connected = false;
    let ended = loop {
        let mut inputs = Vec::new();
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break Ended::Stop,
            event = events.next() => match event {
                Some(Ok(SessionPollResult::Reconnected(mode))) => {
                    connected = true;
                    link.lost = false;
                    // The client library's new publish loop waits for a trigger before its first
                    // publish request; a transferred or re-created subscription gives none.
                    if session.subscription_state().lock().len() > 0 {
                        session.trigger_publish_now();
                    }
                    match mode {
                        SessionConnectMode::NewSession(_) => tracing::info!(url = %settings.url, nodes = nodes.len(), "OPC UA session open"),
                        SessionConnectMode::ReactivatedSession(_) => tracing::info!(url = %settings.url, "OPC UA session reactivated"),
                    }
                    setup = Some(
                        subscribe(session.clone(), nodes.clone(), pending.clone(), settings.interval)
                            .boxed(),
                    );
                }
                Some(Ok(SessionPollResult::ConnectionLost(status))) => {
                    connected = false;
                    setup = None;
                    tracing::warn!(url = %settings.url, status = %status, "OPC UA session lost; reconnecting");
                    inputs = link.lose();
                }
                Some(Ok(SessionPollResult::ReconnectFailed(status))) => {
                    if link.lost {
                        tracing::debug!(url = %settings.url, status = %status, "OPC UA reconnect failed; retrying");
                    } else {
                        tracing::warn!(url = %settings.url, status = %status, "OPC UA session not opened; retrying");
                    }
                    inputs = link.lose();
                }
                Some(Ok(_)) => {}
                Some(Err(status)) => {
                    tracing::warn!(url = %settings.url, status = %status, "OPC UA session ended; connecting anew");
                    break Ended::Broken;
                }
                None => {
                    tracing::warn!(url = %settings.url, "OPC UA session closed; connecting anew");
                    break Ended::Broken;
                }
            },
            () = async {
                match setup.as_mut() {
                    Some(running) => running.await,
                    None => std::future::pending().await,
                }
            } => setup = None,
        }
        inputs.append(&mut lock(pending).inputs);
        report_dropped(pending);
        if !send(out, inputs, shutdown).await {
            break Ended::Stop;
        }
    };
    drop(setup);
    if connected && matches!(ended, Ended::Stop) {
        // Close the session (and its subscription) on the server instead of letting it time
        // out; the event loop must run for the requests to go out.
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            let close = session.disconnect();
            tokio::pin!(close);
            loop {
                tokio::select! {
                    closed = &mut close => break closed,
                    event = events.next() => if event.is_none() { break Ok(()) },
                }
            }
        })
        .await;
        match closed {
            Ok(Ok(())) => tracing::info!(url = %settings.url, "OPC UA session closed"),
            Ok(Err(err)) => {
                tracing::warn!(url = %settings.url, error = %err, "OPC UA session not closed cleanly")
            }
            Err(_) => tracing::warn!(url = %settings.url, "OPC UA session close timed out"),
        }
    }
    ended
}

fn report_dropped(pending: &Mutex<Pending>) {
    let dropped = std::mem::take(&mut lock(pending).dropped);
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "OPC UA values dropped: more than {MAX_PENDING} arrived before the processor took them"
        );
    }
}

/// Reads every node and makes sure the subscription and its monitored items exist, retrying
/// (1 s doubling to 30 s) while the session is up. Runs after every (re)connect.
async fn subscribe(
    session: Arc<Session>,
    nodes: Arc<Vec<Node>>,
    pending: Arc<Mutex<Pending>>,
    interval: Duration,
) {
    let mut backoff = Backoff::new();
    loop {
        let done = match read_all(&session, &nodes, &pending).await {
            Ok(()) => ensure_items(&session, &nodes, &pending, interval).await,
            Err(err) => Err(err),
        };
        match done {
            Ok(()) => return,
            Err(err) => {
                tracing::warn!(error = %err, "OPC UA subscription not made; retrying");
                tokio::time::sleep(backoff.next()).await;
            }
        }
    }
}

/// Reads the current value of every node with the server's current time, so that the state of
/// each unit is known again after a connect even when no value changed.
async fn read_all(
    session: &Session,
    nodes: &[Node],
    pending: &Mutex<Pending>,
) -> Result<(), ::opcua::types::Error> {
    let read = |node_id: NodeId| ReadValueId {
        node_id,
        attribute_id: AttributeId::Value as u32,
        index_range: Default::default(),
        data_encoding: QualifiedName::null(),
    };
    for (chunk, start) in nodes.chunks(READ_CHUNK).zip((0..).step_by(READ_CHUNK)) {
        let mut request: Vec<ReadValueId> = chunk.iter().map(|n| read(n.id.clone())).collect();
        request.push(read(VariableId::Server_ServerStatus_CurrentTime.into()));
        let values = session
            .read(&request, TimestampsToReturn::Both, 0.0)
            .await?;
        let received = mom_clock::now();
        let now = values.last().and_then(|clock| match &clock.value {
            Some(Variant::DateTime(now)) => time_of(Some(now)),
            _ => time_of(clock.server_timestamp.as_ref()),
        });
        let mut pending = lock(pending);
        for (offset, value) in values.iter().take(chunk.len()).enumerate() {
            // An unknown node is reported once, when its monitored item is refused.
            if value
                .status
                .is_some_and(|s| s == StatusCode::BadNodeIdUnknown)
            {
                continue;
            }
            pending.take(nodes, start + offset, value, Arrival::Read(now), received);
        }
    }
    Ok(())
}

/// Creates the subscription if the session has none (first connect, or the client library
/// could neither transfer nor re-create it) and the monitored items it lacks (all of them,
/// or those the server refused before).
async fn ensure_items(
    session: &Session,
    nodes: &Arc<Vec<Node>>,
    pending: &Arc<Mutex<Pending>>,
    interval: Duration,
) -> Result<(), ::opcua::types::Error> {
    let existing = {
        let state = session.subscription_state().lock();
        state
            .subscription_ids()
            .and_then(|ids| ids.first().copied())
            .map(|id| {
                let handles: HashSet<u32> = state
                    .get(id)
                    .map(|s| {
                        s.monitored_items()
                            .map(MonitoredItem::client_handle)
                            .collect()
                    })
                    .unwrap_or_default();
                (id, handles)
            })
    };
    let (subscription, present) = match existing {
        Some(existing) => existing,
        None => {
            let interval_ms = interval.as_millis().max(1);
            // Keep-alives about every 5 s; the server keeps the subscription for at least two
            // minutes without publish requests, so it outlives a short outage.
            let keep_alive = u32::try_from((5_000 / interval_ms).max(1)).unwrap_or(u32::MAX);
            let lifetime = u32::try_from((120_000 / interval_ms).max(3))
                .unwrap_or(u32::MAX)
                .max(keep_alive.saturating_mul(3));
            let id = session
                .create_subscription(
                    interval,
                    lifetime,
                    keep_alive,
                    MAX_NOTIFICATIONS_PER_PUBLISH,
                    0,
                    true,
                    Notifications {
                        nodes: nodes.clone(),
                        pending: pending.clone(),
                    },
                )
                .await?;
            (id, HashSet::new())
        }
    };
    let sampling = interval.as_secs_f64() * 1000.0;
    let (wanted, requests): (Vec<usize>, Vec<MonitoredItemCreateRequest>) = nodes
        .iter()
        .enumerate()
        .filter(|(index, _)| !present.contains(&handle_of(*index)))
        .map(|(index, node)| {
            (
                index,
                MonitoredItemCreateRequest::new(
                    node.id.clone().into(),
                    MonitoringMode::Reporting,
                    MonitoringParameters {
                        client_handle: handle_of(index),
                        sampling_interval: sampling,
                        queue_size: QUEUE_SIZE,
                        discard_oldest: true,
                        ..Default::default()
                    },
                ),
            )
        })
        .unzip();
    if requests.is_empty() {
        return Ok(());
    }
    let created = session
        .create_monitored_items(subscription, TimestampsToReturn::Both, requests)
        .await?;
    let mut refused = 0usize;
    for (index, item) in wanted.iter().zip(&created) {
        let status = item.result.status_code;
        if status.is_good() {
            continue;
        }
        refused += 1;
        if let Some(node) = nodes.get(*index) {
            let lines: Vec<String> = node.lines.iter().map(usize::to_string).collect();
            tracing::warn!(node = %node.text, line = %lines.join(","), status = %status, "OPC UA server refused the node; its signals are skipped");
        }
    }
    tracing::info!(
        subscription,
        created = created.len() - refused,
        refused,
        "OPC UA monitored items requested"
    );
    Ok(())
}

#[cfg(test)]
mod tests;
