//! The Sparkplug B primary host application's bookkeeping (Eclipse Sparkplug 3.0): births with
//! their metric aliases, data by alias or name, deaths matched to births by `bdSeq`, and the
//! per-edge-node `seq` (0–255) whose gap asks the node for a rebirth. Pure: the MQTT client in
//! `mqtt.rs` feeds it topics and payloads and carries out what it returns.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use mom_proto::sparkplug_b::payload::{metric, Metric};
use mom_proto::sparkplug_b::Payload;
use prost::Message;

use crate::mapping::{Mapping, Source};
use crate::process::{Input, Sample, Value};

/// The namespace of Sparkplug B topics.
pub const NAMESPACE: &str = "spBv1.0";

/// Largest Sparkplug payload decoded (a birth of a large node is a few hundred kB).
pub const MAX_PAYLOAD: usize = 4 << 20;

/// Least time between two rebirth requests to one edge node.
const REBIRTH_EVERY: Duration = Duration::from_secs(5);

/// The metric a rebirth request sets (`Node Control/Rebirth` = true, in an NCMD).
pub const REBIRTH_METRIC: &str = "Node Control/Rebirth";

/// The Sparkplug data type Boolean.
const BOOLEAN: u32 = 11;

/// A parsed Sparkplug topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic<'a> {
    /// Group id.
    pub group: &'a str,
    /// Message type (`NBIRTH`, `DDATA`, ...).
    pub kind: &'a str,
    /// Edge node id.
    pub node: &'a str,
    /// Device id, for device messages.
    pub device: Option<&'a str>,
}

/// Parses `spBv1.0/<group>/<type>/<node>[/<device>]` (not `STATE`).
pub fn parse_topic(topic: &str) -> Option<Topic<'_>> {
    let mut parts = topic.split('/');
    if parts.next()? != NAMESPACE {
        return None;
    }
    let group = parts.next()?;
    let kind = parts.next()?;
    let node = parts.next()?;
    let device = parts.next();
    if parts.next().is_some() || group.is_empty() || node.is_empty() {
        return None;
    }
    Some(Topic {
        group,
        kind,
        node,
        device,
    })
}

/// What the host must do after a message.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Reaction {
    /// Inputs for the processor, in order.
    pub inputs: Vec<Input>,
    /// Ask this edge node (`group`, `node`) for a rebirth.
    pub rebirth: Option<(String, String)>,
    /// Something to log (and count), at warn level.
    pub warning: Option<String>,
}

#[derive(Debug, Default)]
struct NodeSession {
    /// The `bdSeq` of the node's current birth.
    bd_seq: Option<u64>,
    /// The last `seq` taken.
    seq: Option<u64>,
    /// Alias → (device or "", metric name), from the births.
    aliases: HashMap<(String, u64), String>,
    /// Between a birth and a death (or a gap): data can be trusted.
    online: bool,
    /// When the last rebirth was asked for.
    asked: Option<Instant>,
}

/// The primary host's view of every edge node.
#[derive(Debug)]
pub struct Host {
    /// (group, node, device, metric) → signal indexes mapped to it.
    metrics: HashMap<(String, String, String, String), Vec<usize>>,
    nodes: HashMap<(String, String), NodeSession>,
    units: HashMap<(String, String, Option<String>), Vec<String>>,
    /// Signals that are product tags: taken first from a message, so the counts and states of
    /// the same message (a birth) name the product.
    products: std::collections::HashSet<usize>,
}

impl Host {
    /// Returns a host for the Sparkplug signals of `mapping`.
    pub fn new(mapping: &Mapping) -> Self {
        let mut metrics: HashMap<_, Vec<usize>> = HashMap::new();
        let mut units = HashMap::new();
        let products = mapping
            .signals
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s.meaning, crate::mapping::Meaning::Product { .. }))
            .map(|(index, _)| index)
            .collect();
        for (index, signal) in mapping.signals.iter().enumerate() {
            if let Source::Sparkplug {
                group,
                node,
                device,
                metric,
            } = &signal.source
            {
                metrics
                    .entry((group.clone(), node.clone(), device.clone(), metric.clone()))
                    .or_default()
                    .push(index);
                units
                    .entry((group.clone(), node.clone(), None))
                    .or_insert_with(|| mapping.units_of(group, node, None));
                if !device.is_empty() {
                    units
                        .entry((group.clone(), node.clone(), Some(device.clone())))
                        .or_insert_with(|| mapping.units_of(group, node, Some(device)));
                }
            }
        }
        Self {
            metrics,
            nodes: HashMap::new(),
            units,
            products,
        }
    }

    /// Returns the groups the host subscribes to.
    pub fn groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = self.metrics.keys().map(|k| k.0.clone()).collect();
        groups.sort();
        groups.dedup();
        groups
    }

    /// Returns true when `group/node` is mapped.
    fn mapped(&self, group: &str, node: &str) -> bool {
        self.units
            .contains_key(&(group.to_owned(), node.to_owned(), None))
    }

    /// Forgets every session (the host's own MQTT connection was lost: births must be seen
    /// again, so every mapped node is asked for one when its next data arrives).
    pub fn reset(&mut self) {
        for session in self.nodes.values_mut() {
            session.online = false;
            session.seq = None;
        }
    }

    /// Handles one message on `topic`, received at `received`.
    pub fn handle(&mut self, topic: &str, payload: &[u8], received: DateTime<Utc>) -> Reaction {
        let mut reaction = Reaction::default();
        let Some(parsed) = parse_topic(topic) else {
            return reaction;
        };
        if !self.mapped(parsed.group, parsed.node) {
            return reaction;
        }
        if payload.len() > MAX_PAYLOAD {
            reaction.warning = Some(format!(
                "{topic}: payload of {} bytes is larger than {MAX_PAYLOAD}; ignored",
                payload.len()
            ));
            return reaction;
        }
        let payload = match Payload::decode(payload) {
            Ok(payload) => payload,
            Err(err) => {
                reaction.warning = Some(format!("{topic}: not a Sparkplug B payload: {err}"));
                return reaction;
            }
        };
        let node_key = (parsed.group.to_owned(), parsed.node.to_owned());
        let device = parsed.device.unwrap_or("");
        match (parsed.kind, parsed.device) {
            ("NBIRTH", None) => {
                let bd_seq = metric_named(&payload, "bdSeq").and_then(long_of);
                let session = self.nodes.entry(node_key.clone()).or_default();
                session.bd_seq = bd_seq;
                session.seq = payload.seq;
                session.aliases.clear();
                session.online = true;
                self.bind_aliases(&node_key, "", &payload);
                self.samples(&node_key, "", &payload, received, &mut reaction);
            }
            ("NDEATH", None) => {
                let bd_seq = metric_named(&payload, "bdSeq").and_then(long_of);
                let session = self.nodes.entry(node_key.clone()).or_default();
                if session.bd_seq.is_some() && bd_seq != session.bd_seq {
                    // The will of an older connection, delivered after the node's new birth.
                    reaction.warning = Some(format!(
                        "{topic}: death with bdSeq {bd_seq:?} does not match the birth's {:?}; ignored",
                        session.bd_seq
                    ));
                    return reaction;
                }
                session.online = false;
                session.seq = None;
                session.aliases.clear();
                // The will's timestamp is when it was registered (the connect), not the death.
                let at = received;
                let reason = format!("NDEATH {}/{}", parsed.group, parsed.node);
                self.lost(&node_key, None, at, &reason, &mut reaction);
            }
            ("DBIRTH" | "DDATA" | "DDEATH" | "NDATA", _) => {
                if !self.in_sequence(&node_key, &payload, &mut reaction) {
                    return reaction;
                }
                match parsed.kind {
                    "DBIRTH" => {
                        self.bind_aliases(&node_key, device, &payload);
                        self.samples(&node_key, device, &payload, received, &mut reaction);
                    }
                    "DDEATH" => {
                        let at = received;
                        let reason = format!("DDEATH {}/{}/{device}", parsed.group, parsed.node);
                        self.lost(&node_key, Some(device), at, &reason, &mut reaction);
                    }
                    _ => self.samples(&node_key, device, &payload, received, &mut reaction),
                }
            }
            _ => {}
        }
        reaction
    }

    /// Checks `seq` of a message after a birth; a duplicate is dropped, a gap (or data without
    /// a birth seen) drops the message and asks for a rebirth.
    fn in_sequence(
        &mut self,
        node_key: &(String, String),
        payload: &Payload,
        reaction: &mut Reaction,
    ) -> bool {
        let session = self.nodes.entry(node_key.clone()).or_default();
        let ask = |session: &mut NodeSession, reaction: &mut Reaction, why: String| {
            session.online = false;
            let due = session.asked.is_none_or(|at| at.elapsed() >= REBIRTH_EVERY);
            if due {
                session.asked = Some(Instant::now());
                reaction.rebirth = Some(node_key.clone());
            }
            reaction.warning = Some(why);
        };
        if !session.online {
            ask(
                session,
                reaction,
                format!(
                    "{}/{}: data without a current birth; rebirth requested",
                    node_key.0, node_key.1
                ),
            );
            return false;
        }
        let (Some(last), Some(seq)) = (session.seq, payload.seq) else {
            ask(
                session,
                reaction,
                format!(
                    "{}/{}: message without seq; rebirth requested",
                    node_key.0, node_key.1
                ),
            );
            return false;
        };
        if seq == last {
            // The same message again (QoS 1 redelivery, a retained copy).
            return false;
        }
        let expected = (last + 1) % 256;
        if seq != expected {
            ask(
                session,
                reaction,
                format!(
                    "{}/{}: seq {seq} after {last} (expected {expected}): messages lost; rebirth requested",
                    node_key.0, node_key.1
                ),
            );
            return false;
        }
        session.seq = Some(seq);
        true
    }

    fn bind_aliases(&mut self, node_key: &(String, String), device: &str, payload: &Payload) {
        let Some(session) = self.nodes.get_mut(node_key) else {
            return;
        };
        for metric in &payload.metrics {
            if let (Some(name), Some(alias)) = (&metric.name, metric.alias) {
                session
                    .aliases
                    .insert((device.to_owned(), alias), name.clone());
            }
        }
    }

    fn samples(
        &self,
        node_key: &(String, String),
        device: &str,
        payload: &Payload,
        received: DateTime<Utc>,
        reaction: &mut Reaction,
    ) {
        let session = self.nodes.get(node_key);
        let first = reaction.inputs.len();
        for metric in &payload.metrics {
            let name = match (&metric.name, metric.alias) {
                (Some(name), _) => name.clone(),
                (None, Some(alias)) => {
                    match session.and_then(|s| s.aliases.get(&(device.to_owned(), alias))) {
                        Some(name) => name.clone(),
                        None => continue,
                    }
                }
                (None, None) => continue,
            };
            let key = (
                node_key.0.clone(),
                node_key.1.clone(),
                device.to_owned(),
                name,
            );
            let Some(indexes) = self.metrics.get(&key) else {
                continue;
            };
            let Some(value) = value_of(metric) else {
                continue;
            };
            let device_time = metric
                .timestamp
                .or(payload.timestamp)
                .and_then(millis_to_time);
            for &signal in indexes {
                reaction.inputs.push(Input::Sample(Sample {
                    signal,
                    value: value.clone(),
                    device_time,
                    received,
                    historical: metric.is_historical.unwrap_or(false),
                }));
            }
        }
        reaction.inputs[first..].sort_by_key(|input| match input {
            Input::Sample(sample) => !self.products.contains(&sample.signal),
            Input::Lost { .. } => true,
        });
    }

    fn lost(
        &self,
        node_key: &(String, String),
        device: Option<&str>,
        at: DateTime<Utc>,
        reason: &str,
        reaction: &mut Reaction,
    ) {
        let key = (
            node_key.0.clone(),
            node_key.1.clone(),
            device.map(str::to_owned),
        );
        for unit in self.units.get(&key).into_iter().flatten() {
            reaction.inputs.push(Input::Lost {
                work_unit: unit.clone(),
                at,
                reason: reason.to_owned(),
            });
        }
    }
}

fn metric_named<'a>(payload: &'a Payload, name: &str) -> Option<&'a Metric> {
    payload
        .metrics
        .iter()
        .find(|m| m.name.as_deref() == Some(name))
}

fn long_of(metric: &Metric) -> Option<u64> {
    match metric.value {
        Some(metric::Value::LongValue(n)) => Some(n),
        Some(metric::Value::IntValue(n)) => Some(u64::from(n)),
        _ => None,
    }
}

fn millis_to_time(ms: u64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(i64::try_from(ms).ok()?).single()
}

/// Returns a metric's value by its data type (Int8–Int32 sign-extended from `int_value`,
/// Int64 two's complement in `long_value`).
pub fn value_of(metric: &Metric) -> Option<Value> {
    if metric.is_null == Some(true) {
        return None;
    }
    let datatype = metric.datatype.unwrap_or(0);
    Some(match metric.value.as_ref()? {
        metric::Value::IntValue(n) => match datatype {
            1 => Value::Int(i64::from(*n as u8 as i8)),
            2 => Value::Int(i64::from(*n as u16 as i16)),
            3 => Value::Int(i64::from(*n as i32)),
            _ => Value::UInt(u64::from(*n)),
        },
        metric::Value::LongValue(n) => match datatype {
            4 => Value::Int(*n as i64),
            _ => Value::UInt(*n),
        },
        metric::Value::FloatValue(f) => Value::Float(f64::from(*f)),
        metric::Value::DoubleValue(f) => Value::Float(*f),
        metric::Value::BooleanValue(b) => Value::Bool(*b),
        metric::Value::StringValue(s) => Value::Text(s.clone()),
        metric::Value::BytesValue(_) => return None,
    })
}

/// Returns the NCMD payload asking an edge node for a rebirth.
pub fn rebirth_request(now: DateTime<Utc>) -> Vec<u8> {
    let ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    Payload {
        timestamp: Some(ms),
        metrics: vec![Metric {
            name: Some(REBIRTH_METRIC.to_owned()),
            timestamp: Some(ms),
            datatype: Some(BOOLEAN),
            value: Some(metric::Value::BooleanValue(true)),
            ..Default::default()
        }],
        ..Default::default()
    }
    .encode_to_vec()
}

/// Returns the topic of the host's STATE message.
pub fn state_topic(host_id: &str) -> String {
    format!("{NAMESPACE}/STATE/{host_id}")
}

/// Returns the STATE payload (Sparkplug 3.0: JSON, `online` and the connect's timestamp).
pub fn state_payload(online: bool, timestamp_ms: i64) -> Vec<u8> {
    serde_json::json!({ "online": online, "timestamp": timestamp_ms })
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests;
