//! The MQTT side: one client that is the Sparkplug B primary host (STATE birth and will,
//! subscriptions to the mapped groups, rebirth requests) and reads the mapped plain-MQTT topics.
//! Messages are acknowledged only after what they said is on disk (manual acks), so a crash
//! makes the broker redeliver, never lose, a QoS 1 message.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rumqttc::{
    AsyncClient, Event, EventLoop, LastWill, MqttOptions, Packet, Publish, QoS, Transport,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::mapping::{Mapping, Source};
use crate::process::{Input, Sample, Value};
use crate::sparkplug::{self, Host};

/// How often an unreachable broker is said again at warn level.
const UNREACHABLE_WARN_EVERY: Duration = Duration::from_secs(60);

/// Largest plain-MQTT JSON payload read.
const MAX_JSON: usize = 64 * 1024;

/// Where and how to reach the broker.
#[derive(Debug, Clone)]
pub struct Broker {
    /// `mqtt://host:port` or `mqtts://host:port`.
    pub url: String,
    /// The client id (unique per edge service instance).
    pub client_id: String,
    /// User name and password, if the broker wants them.
    pub login: Option<(String, String)>,
    /// TLS for `mqtts://` (the CA and client certificate of the platform's client TLS).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// A batch of inputs from one message, and the message to acknowledge once they are on disk.
#[derive(Debug)]
pub struct Delivery {
    /// The inputs.
    pub inputs: Vec<Input>,
    /// The QoS 1/2 message to acknowledge after the inputs are taken.
    pub ack: Option<Publish>,
}

/// A broker URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("MQTT broker url {url:?}: {reason}")]
pub struct BrokerUrlError {
    url: String,
    reason: String,
}

fn options(broker: &Broker, will: LastWill) -> Result<MqttOptions, BrokerUrlError> {
    let bad = |reason: &str| BrokerUrlError {
        url: broker.url.clone(),
        reason: reason.to_owned(),
    };
    let (scheme, rest) = broker
        .url
        .split_once("://")
        .ok_or_else(|| bad("expected mqtt://host:port or mqtts://host:port"))?;
    let tls = match scheme {
        "mqtt" | "tcp" => false,
        "mqtts" | "ssl" => true,
        _ => return Err(bad("the scheme is mqtt:// or mqtts://")),
    };
    let authority = rest.trim_end_matches('/');
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>()
                .map_err(|_| bad("the port is not a number"))?,
        ),
        None => (authority, if tls { 8883 } else { 1883 }),
    };
    if host.is_empty() || host.contains(['/', '?', '@']) {
        return Err(bad("expected mqtt://host:port (no path, query or user)"));
    }
    let mut options = MqttOptions::new(
        broker.client_id.clone(),
        host.trim_matches(['[', ']']),
        port,
    );
    options
        .set_keep_alive(Duration::from_secs(15))
        .set_clean_session(true)
        .set_manual_acks(true)
        .set_max_packet_size(sparkplug::MAX_PAYLOAD + 1024, 1 << 20)
        .set_last_will(will);
    if let Some((user, password)) = &broker.login {
        options.set_credentials(user.clone(), password.clone());
    }
    if tls {
        let config = broker
            .tls
            .clone()
            .ok_or_else(|| bad("mqtts:// needs the client TLS settings"))?;
        options.set_transport(Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(config),
        ));
    }
    Ok(options)
}

/// Checks the broker URL (at start, so a typo stops the service with a clear message).
pub fn check(broker: &Broker) -> Result<(), BrokerUrlError> {
    options(
        broker,
        LastWill::new("x", Vec::new(), QoS::AtMostOnce, false),
    )
    .map(drop)
}

/// Plain MQTT topics and the signals read from each.
fn json_topics(mapping: &Mapping) -> HashMap<String, Vec<usize>> {
    let mut topics: HashMap<String, Vec<usize>> = HashMap::new();
    for (index, signal) in mapping.signals.iter().enumerate() {
        if let Source::Mqtt { topic, .. } = &signal.source {
            topics.entry(topic.clone()).or_default().push(index);
        }
    }
    topics
}

/// Runs the client until `shutdown`: deliveries go to `out`; `acks` receives the client so
/// the taker can acknowledge.
pub async fn run(
    broker: Broker,
    mapping: Arc<Mapping>,
    out: mpsc::Sender<Delivery>,
    client_ready: tokio::sync::watch::Sender<Option<AsyncClient>>,
    shutdown: CancellationToken,
) -> Result<(), BrokerUrlError> {
    let state_topic = sparkplug::state_topic(&mapping.host_id);
    let connected_at = mom_clock::now().timestamp_millis();
    let will = LastWill::new(
        state_topic.clone(),
        sparkplug::state_payload(false, connected_at),
        QoS::AtLeastOnce,
        true,
    );
    let options = options(&broker, will)?;
    let (client, mut events): (AsyncClient, EventLoop) = AsyncClient::new(options, 1024);
    let _ = client_ready.send(Some(client.clone()));
    let mut host = Host::new(&mapping);
    let topics = json_topics(&mapping);
    let mut connected = false;
    let mut last_warned = None;
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => break,
            event = events.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                connected = true;
                last_warned = None;
                tracing::info!(broker = %broker.url, host_id = %mapping.host_id, "edge service connected to the MQTT broker");
                // Births are seen anew after every connect; sessions of before are not trusted.
                host.reset();
                for group in host.groups() {
                    let _ = client
                        .subscribe(
                            format!("{}/{group}/#", sparkplug::NAMESPACE),
                            QoS::AtLeastOnce,
                        )
                        .await;
                }
                for topic in topics.keys() {
                    let _ = client.subscribe(topic.clone(), QoS::AtLeastOnce).await;
                }
                let _ = client
                    .subscribe(state_topic.clone(), QoS::AtLeastOnce)
                    .await;
                let _ = client
                    .publish(
                        state_topic.clone(),
                        QoS::AtLeastOnce,
                        true,
                        sparkplug::state_payload(true, connected_at),
                    )
                    .await;
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let received = mom_clock::now();
                let ack = (publish.qos != QoS::AtMostOnce).then(|| publish.clone());
                let inputs = if publish.topic == state_topic {
                    // Another client (or our own old will) says we are offline while we are
                    // connected: say again that we are online.
                    if serde_json::from_slice::<serde_json::Value>(&publish.payload)
                        .ok()
                        .and_then(|v| v.get("online").and_then(serde_json::Value::as_bool))
                        == Some(false)
                    {
                        let _ = client
                            .publish(
                                state_topic.clone(),
                                QoS::AtLeastOnce,
                                true,
                                sparkplug::state_payload(true, connected_at),
                            )
                            .await;
                    }
                    Vec::new()
                } else if publish.topic.starts_with("spBv1.0/") {
                    let reaction = host.handle(&publish.topic, &publish.payload, received);
                    if let Some(warning) = &reaction.warning {
                        tracing::warn!(topic = %publish.topic, "{warning}");
                    }
                    if let Some((group, node)) = reaction.rebirth {
                        mom_telemetry::internal_events::InternalEvent::emit(
                            mom_telemetry::internal_events::EdgeRebirthRequested {
                                node: &format!("{group}/{node}"),
                            },
                        );
                        let _ = client
                            .publish(
                                format!("{}/{group}/NCMD/{node}", sparkplug::NAMESPACE),
                                QoS::AtMostOnce,
                                false,
                                sparkplug::rebirth_request(received),
                            )
                            .await;
                    }
                    reaction.inputs
                } else if let Some(signals) = topics.get(publish.topic.as_str()) {
                    json_inputs(
                        &mapping,
                        signals,
                        &publish.topic,
                        &publish.payload,
                        received,
                    )
                } else {
                    Vec::new()
                };
                if inputs.is_empty() {
                    if let Some(ack) = ack {
                        let _ = client.ack(&ack).await;
                    }
                } else if out.send(Delivery { inputs, ack }).await.is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(err) => {
                if connected {
                    tracing::warn!(broker = %broker.url, error = %err, "MQTT connection lost; reconnecting");
                } else if last_warned
                    .is_none_or(|at: std::time::Instant| at.elapsed() >= UNREACHABLE_WARN_EVERY)
                {
                    // A wrong address must not look like silence: said at once, then each minute.
                    tracing::warn!(broker = %broker.url, error = %err, "MQTT broker unreachable; retrying every second");
                    last_warned = Some(std::time::Instant::now());
                } else {
                    tracing::debug!(broker = %broker.url, error = %err, "MQTT broker unreachable; retrying");
                }
                connected = false;
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
    // A clean stop: say we are offline (the will only fires on a lost connection).
    if connected {
        let _ = client
            .publish(
                state_topic,
                QoS::AtLeastOnce,
                true,
                sparkplug::state_payload(false, connected_at),
            )
            .await;
        // The offline STATE must reach the broker before the connection closes: wait for its
        // acknowledgement, then for the broker to close the connection after DISCONNECT.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let mut disconnecting = false;
            while let Ok(event) = events.poll().await {
                if !disconnecting && matches!(event, Event::Incoming(Packet::PubAck(_))) {
                    disconnecting = true;
                    let _ = client.try_disconnect();
                }
            }
        })
        .await;
    }
    Ok(())
}

/// Reads the mapped values of a plain-MQTT JSON message.
fn json_inputs(
    mapping: &Mapping,
    signals: &[usize],
    topic: &str,
    payload: &[u8],
    received: DateTime<Utc>,
) -> Vec<Input> {
    if payload.len() > MAX_JSON {
        tracing::warn!(
            topic,
            bytes = payload.len(),
            "MQTT payload larger than {MAX_JSON} bytes; ignored"
        );
        return Vec::new();
    }
    let json: serde_json::Value = match serde_json::from_slice(payload) {
        Ok(json) => json,
        Err(err) => {
            tracing::warn!(topic, error = %err, "MQTT payload is not JSON; ignored");
            return Vec::new();
        }
    };
    let mut inputs = Vec::new();
    for &index in signals {
        let Some(Source::Mqtt { value, time, .. }) = mapping.signals.get(index).map(|s| &s.source)
        else {
            continue;
        };
        let Some(found) = json.pointer(value) else {
            tracing::warn!(topic, pointer = %value, "MQTT payload has no value at the mapped pointer");
            continue;
        };
        let value = match found {
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => Value::UInt(u),
                (None, Some(i), _) => Value::Int(i),
                (None, None, Some(f)) => Value::Float(f),
                _ => continue,
            },
            serde_json::Value::String(s) => Value::Text(s.clone()),
            _ => {
                tracing::warn!(topic, pointer = %value, "MQTT value is not a number, text or boolean");
                continue;
            }
        };
        let device_time = time
            .as_deref()
            .and_then(|pointer| json.pointer(pointer))
            .and_then(|t| match t {
                serde_json::Value::Number(n) => n
                    .as_i64()
                    .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
                serde_json::Value::String(s) => DateTime::parse_from_rfc3339(s)
                    .ok()
                    .map(|t| t.with_timezone(&Utc)),
                _ => None,
            });
        inputs.push(Input::Sample(Sample {
            signal: index,
            value,
            device_time,
            received,
            historical: false,
        }));
    }
    inputs
}
