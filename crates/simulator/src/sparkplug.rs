//! The simulated lines as Sparkplug B edge nodes (Eclipse Sparkplug 3.0): group [`GROUP`], one
//! edge node per line (node id = the line's id), one device per work unit with the metrics
//! `State` (Int32, the codes of `signals.rs`), `Counter/Total` (UInt32, units made since the
//! simulator started, never going down) and `Recipe` (String, the product id).
//!
//! Each node is one task with its own MQTT connection. It waits until the primary host
//! ([`HOST_ID`], the edge service) says it is online on its STATE topic, then sends its NBIRTH
//! (with `bdSeq`, new for every connection, and `Node Control/Rebirth`) and a DBIRTH per device
//! with every metric's name, alias and current value; data then goes in DDATA by alias, `seq`
//! counting 0–255 over every message after the NBIRTH. The NDEATH with the same `bdSeq` is the
//! connection's last will, and is sent by the node itself at a clean stop. An NCMD
//! `Node Control/Rebirth` is answered with new births; a lost connection (or the host going
//! offline) with a new connection, a new `bdSeq` and new births. Values that change while the
//! node is not connected are not sent (no store and forward): the next births carry the current
//! ones, and counters make up for the missed counts.
//!
//! Times are the plant's: a metric's timestamp is the simulated time of the change, flagged
//! `is_historical` while the simulated clock catches up with the real one (backfill). A metric's
//! timestamps never repeat, since the host takes a value no newer than the last one as a
//! redelivery: a change in the same millisecond as the one before is sent a millisecond later.
//!
//! Births and data go with QoS 1 (Sparkplug says 0): the edge service acknowledges a message only
//! once what it said is on its disk, so the broker redelivers rather than drops what a slow or
//! restarted host has not taken.

use std::time::Duration;

use chrono::{DateTime, Utc};
use mom_proto::sparkplug_b::payload::{metric, Metric};
use mom_proto::sparkplug_b::Payload;
use prost::Message;
use rumqttc::{LastWill, MqttOptions, QoS};
use tokio::sync::mpsc;

use crate::{Clock, SimulatorError};

mod connection;
mod mapping;

/// The Sparkplug group of the simulated plant's edge nodes.
pub const GROUP: &str = "mom-sim";

/// The primary host application the nodes wait for: the edge service's `host_id`.
pub const HOST_ID: &str = "mom";

/// The metric of a work unit's state code.
pub const STATE_METRIC: &str = "State";

/// The metric of the units a work unit made.
pub const COUNTER_METRIC: &str = "Counter/Total";

/// The metric of the product a work unit makes.
pub const RECIPE_METRIC: &str = "Recipe";

const NAMESPACE: &str = "spBv1.0";
const REBIRTH_METRIC: &str = "Node Control/Rebirth";
const BD_SEQ_METRIC: &str = "bdSeq";

/// Sparkplug data types.
const INT32: u32 = 3;
const INT64: u32 = 4;
const UINT32: u32 = 7;
const BOOLEAN: u32 = 11;
const STRING: u32 = 12;

/// The alias of `Node Control/Rebirth`; device metrics take 100 + 10 × device + metric.
const REBIRTH_ALIAS: u64 = 1;

/// The broker of the simulated plant: `mqtt://host:port` (plain TCP; the simulator is for
/// development).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    host: String,
    port: u16,
}

impl BrokerAddress {
    /// Parses `mqtt://host[:port]` (`tcp://` too; port 1883 when not given).
    pub fn parse(url: &str) -> Result<Self, SimulatorError> {
        let bad = |reason: &str| SimulatorError::InvalidBrokerUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = url
            .strip_prefix("mqtt://")
            .or_else(|| url.strip_prefix("tcp://"))
            .ok_or_else(|| bad("the simulator speaks plain MQTT: mqtt://host:port"))?;
        let authority = rest.trim_end_matches('/');
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(':') => (
                host,
                port.parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))?,
            ),
            _ => (authority, 1883),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(['/', '?', '@']) {
            return Err(bad("expected mqtt://host:port (no path, query or user)"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

/// One metric's current value and the time it was last sent (ms since the epoch).
#[derive(Debug, Clone, Default)]
struct Held<T> {
    value: Option<T>,
    last_ms: Option<i64>,
}

impl<T> Held<T> {
    /// Returns a time for a new value at `ms`: never the last one's or earlier.
    fn next_ms(&self, ms: i64) -> i64 {
        self.last_ms.map_or(ms, |last| ms.max(last + 1))
    }
}

/// A device's metrics as the node holds them.
#[derive(Debug, Clone)]
struct Device {
    id: String,
    state: Held<i32>,
    counter: Held<u32>,
    recipe: Held<String>,
}

/// A change of a device's metrics at `at` (only the metrics given).
#[derive(Debug, Clone)]
pub(crate) struct Update {
    device: usize,
    at: DateTime<Utc>,
    state: Option<i32>,
    counter: Option<u32>,
    recipe: Option<String>,
}

/// A work unit's end of its device: sends the changes of its metrics to the node's task.
#[derive(Debug)]
pub(crate) struct DeviceHandle {
    device: usize,
    tx: mpsc::Sender<Update>,
    state: Option<i32>,
    counter: u32,
    recipe: Option<String>,
}

impl DeviceHandle {
    /// Returns the state code last sent.
    pub(crate) fn state(&self) -> Option<i32> {
        self.state
    }

    /// Sets the state code and the recipe (each when given and changed) at `t`.
    pub(crate) async fn send(
        &mut self,
        t: DateTime<Utc>,
        state: Option<i32>,
        recipe: Option<&str>,
    ) {
        let state = state.filter(|code| self.state != Some(*code));
        let recipe = recipe.filter(|r| self.recipe.as_deref() != Some(*r));
        if state.is_none() && recipe.is_none() {
            return;
        }
        if state.is_some() {
            self.state = state;
        }
        if let Some(recipe) = recipe {
            self.recipe = Some(recipe.to_owned());
        }
        self.push(Update {
            device: self.device,
            at: t,
            state,
            counter: None,
            recipe: recipe.map(str::to_owned),
        })
        .await;
    }

    /// Adds `total` units of `product` to the counter at `t` (a 32-bit register: it rolls over).
    pub(crate) async fn count(&mut self, t: DateTime<Utc>, total: u64, product: &str) {
        self.counter = self.counter.wrapping_add(total as u32);
        let recipe = (self.recipe.as_deref() != Some(product)).then(|| product.to_owned());
        if recipe.is_some() {
            self.recipe = recipe.clone();
        }
        self.push(Update {
            device: self.device,
            at: t,
            state: None,
            counter: Some(self.counter),
            recipe,
        })
        .await;
    }

    async fn push(&self, update: Update) {
        // The node's task runs until every handle is dropped: the send cannot fail.
        let _ = self.tx.send(update).await;
    }
}

/// The topic of message `kind` of node `node` (and `device`).
fn topic(kind: &str, node: &str, device: Option<&str>) -> String {
    match device {
        Some(device) => format!("{NAMESPACE}/{GROUP}/{kind}/{node}/{device}"),
        None => format!("{NAMESPACE}/{GROUP}/{kind}/{node}"),
    }
}

fn ms_of(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp_millis()).unwrap_or(0)
}

fn bd_seq_metric(bd_seq: u8) -> Metric {
    Metric {
        name: Some(BD_SEQ_METRIC.to_owned()),
        datatype: Some(INT64),
        value: Some(metric::Value::LongValue(u64::from(bd_seq))),
        ..Default::default()
    }
}

/// Returns the NDEATH payload of the connection with `bd_seq` (no `seq`, as the spec wants).
fn death(bd_seq: u8, now: DateTime<Utc>) -> Vec<u8> {
    let mut bd = bd_seq_metric(bd_seq);
    bd.timestamp = Some(ms_of(now));
    Payload {
        timestamp: Some(ms_of(now)),
        metrics: vec![bd],
        ..Default::default()
    }
    .encode_to_vec()
}

/// One Sparkplug value: a metric's alias, name (in births), type and value.
fn metric(
    alias: u64,
    name: Option<&str>,
    datatype: u32,
    value: Option<metric::Value>,
    ms: i64,
    historical: bool,
) -> Metric {
    Metric {
        name: name.map(str::to_owned),
        alias: Some(alias),
        timestamp: Some(u64::try_from(ms).unwrap_or(0)),
        datatype: Some(datatype),
        is_historical: historical.then_some(true),
        is_null: value.is_none().then_some(true),
        value,
        ..Default::default()
    }
}

fn alias(device: usize, metric: u64) -> u64 {
    100 + 10 * device as u64 + metric
}

/// One line's edge node: its devices, its connection's `bdSeq` and its message `seq`.
pub(crate) struct EdgeNode {
    broker: BrokerAddress,
    node: String,
    devices: Vec<Device>,
    clock: Clock,
    bd_seq: u8,
    seq: u8,
    online: bool,
}

/// Returns the edge node of line `node` with a device per unit of `units`, and each unit's
/// handle, in order; `updates` is the node's end of the handles' channel.
pub(crate) fn node(
    broker: BrokerAddress,
    node: &str,
    units: &[&str],
    clock: Clock,
) -> (EdgeNode, mpsc::Receiver<Update>, Vec<DeviceHandle>) {
    let (tx, rx) = mpsc::channel(1024);
    let devices = units
        .iter()
        .map(|id| Device {
            id: (*id).to_owned(),
            state: Held::default(),
            // The counter starts at 0 with the simulator, as a PLC's after a restart.
            counter: Held {
                value: Some(0),
                last_ms: None,
            },
            recipe: Held::default(),
        })
        .collect();
    let handles = (0..units.len())
        .map(|device| DeviceHandle {
            device,
            tx: tx.clone(),
            state: None,
            counter: 0,
            recipe: None,
        })
        .collect();
    let edge = EdgeNode {
        broker,
        node: node.to_owned(),
        devices,
        clock,
        // A random start, so the will of an earlier run's connection never matches a new birth.
        bd_seq: rand::random(),
        seq: 0,
        online: false,
    };
    (edge, rx, handles)
}

impl EdgeNode {
    fn next_seq(&mut self) -> u64 {
        self.seq = self.seq.wrapping_add(1);
        u64::from(self.seq)
    }

    fn historical(&self, ms: i64) -> bool {
        ms < self.clock.live_from().timestamp_millis()
    }

    /// Takes `update` into the held values; returns its DDATA (topic and payload) for sending.
    fn apply(&mut self, update: Update) -> Option<(String, Vec<u8>)> {
        let at = update.at.timestamp_millis();
        let live_from = self.clock.live_from().timestamp_millis();
        let device = self.devices.get_mut(update.device)?;
        let mut metrics = Vec::with_capacity(3);
        let mut latest = at;
        if let Some(recipe) = update.recipe {
            let ms = device.recipe.next_ms(at);
            latest = latest.max(ms);
            device.recipe = Held {
                value: Some(recipe.clone()),
                last_ms: Some(ms),
            };
            let value = Some(metric::Value::StringValue(recipe));
            metrics.push(metric(
                alias(update.device, 2),
                None,
                STRING,
                value,
                ms,
                ms < live_from,
            ));
        }
        if let Some(counter) = update.counter {
            let ms = device.counter.next_ms(at);
            latest = latest.max(ms);
            device.counter = Held {
                value: Some(counter),
                last_ms: Some(ms),
            };
            let value = Some(metric::Value::IntValue(counter));
            metrics.push(metric(
                alias(update.device, 1),
                None,
                UINT32,
                value,
                ms,
                ms < live_from,
            ));
        }
        if let Some(state) = update.state {
            let ms = device.state.next_ms(at);
            latest = latest.max(ms);
            device.state = Held {
                value: Some(state),
                last_ms: Some(ms),
            };
            // Int32 travels as its two's complement in 32 bits.
            let value = Some(metric::Value::IntValue(state as u32));
            metrics.push(metric(
                alias(update.device, 0),
                None,
                INT32,
                value,
                ms,
                ms < live_from,
            ));
        }
        if metrics.is_empty() || !self.online {
            return None;
        }
        let id = device.id.clone();
        let payload = Payload {
            timestamp: Some(u64::try_from(latest).unwrap_or(0)),
            metrics,
            seq: Some(self.next_seq()),
            ..Default::default()
        };
        Some((
            topic("DDATA", &self.node, Some(&id)),
            payload.encode_to_vec(),
        ))
    }

    /// Returns the NBIRTH and every DBIRTH, in order, with `seq` starting again at 0.
    fn births(&mut self) -> Vec<(String, Vec<u8>)> {
        let now = self.clock.now();
        self.seq = 0;
        let rebirth = metric(
            REBIRTH_ALIAS,
            Some(REBIRTH_METRIC),
            BOOLEAN,
            Some(metric::Value::BooleanValue(false)),
            now.timestamp_millis(),
            false,
        );
        let mut bd = bd_seq_metric(self.bd_seq);
        bd.timestamp = Some(ms_of(now));
        let mut births = vec![(
            topic("NBIRTH", &self.node, None),
            Payload {
                timestamp: Some(ms_of(now)),
                metrics: vec![bd, rebirth],
                seq: Some(0),
                ..Default::default()
            }
            .encode_to_vec(),
        )];
        for index in 0..self.devices.len() {
            let device = &self.devices[index];
            // The birth states the values now; a value is never dated before its last change.
            let ms = [
                device.state.last_ms,
                device.counter.last_ms,
                device.recipe.last_ms,
            ]
            .into_iter()
            .flatten()
            .map(|last| last + 1)
            .fold(now.timestamp_millis(), i64::max);
            let historical = self.historical(ms);
            let device = &mut self.devices[index];
            let recipe = device.recipe.value.clone().map(metric::Value::StringValue);
            let counter = device.counter.value.map(metric::Value::IntValue);
            // Int32 travels as its two's complement in 32 bits.
            let state = device
                .state
                .value
                .map(|code| metric::Value::IntValue(code as u32));
            let metrics = vec![
                metric(
                    alias(index, 2),
                    Some(RECIPE_METRIC),
                    STRING,
                    recipe,
                    ms,
                    historical,
                ),
                metric(
                    alias(index, 1),
                    Some(COUNTER_METRIC),
                    UINT32,
                    counter,
                    ms,
                    historical,
                ),
                metric(
                    alias(index, 0),
                    Some(STATE_METRIC),
                    INT32,
                    state,
                    ms,
                    historical,
                ),
            ];
            if device.state.value.is_some() {
                device.state.last_ms = Some(ms);
            }
            if device.counter.value.is_some() {
                device.counter.last_ms = Some(ms);
            }
            if device.recipe.value.is_some() {
                device.recipe.last_ms = Some(ms);
            }
            let id = device.id.clone();
            let payload = Payload {
                timestamp: Some(u64::try_from(ms).unwrap_or(0)),
                metrics,
                seq: Some(self.next_seq()),
                ..Default::default()
            };
            births.push((
                topic("DBIRTH", &self.node, Some(&id)),
                payload.encode_to_vec(),
            ));
        }
        births
    }

    fn options(&self) -> MqttOptions {
        let mut options = MqttOptions::new(
            format!("mom-sim-{}", self.node),
            self.broker.host.clone(),
            self.broker.port,
        );
        options
            .set_keep_alive(Duration::from_secs(5))
            .set_clean_session(true)
            .set_last_will(LastWill::new(
                topic("NDEATH", &self.node, None),
                death(self.bd_seq, self.clock.now()),
                QoS::AtLeastOnce,
                false,
            ));
        options
    }
}

#[cfg(test)]
mod tests;
