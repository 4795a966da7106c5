//! The bench's Sparkplug B edge nodes: each an MQTT connection that waits for the primary host,
//! sends its NBIRTH (`bdSeq`, every metric's name, alias and value) and then NDATA messages by
//! alias with `seq` 0–255, each carrying many metric updates of its work units: `<unit>/State`
//! (Int32) and `<unit>/Counter/Total` (UInt32, only going up) as node metrics.

use std::time::Duration;

use anyhow::{bail, Context};
use mom_proto::sparkplug_b::payload::{metric, Metric};
use mom_proto::sparkplug_b::Payload;
use prost::Message;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

/// The Sparkplug group of the bench's nodes.
pub(crate) const GROUP: &str = "mom-bench";

/// The primary host id of the bench's edge service.
pub(crate) const HOST_ID: &str = "mom-bench";

/// The state code of a running unit (2: stopped).
pub(crate) const RUNNING: i32 = 1;

/// The state code of a stopped unit.
pub(crate) const STOPPED: i32 = 2;

/// Largest MQTT packet a node sends or takes: the edge service reads Sparkplug payloads of up to
/// 4 MiB.
const MAX_PACKET: usize = 4 << 20;

const INT32: u32 = 3;
const INT64: u32 = 4;
const UINT32: u32 = 7;
const BOOLEAN: u32 = 11;

/// Returns the edge service's mapping of `units` on nodes `nodes` (node id, its units): a state
/// and a counter per unit, as node metrics; device times believed within `skew`.
pub(crate) fn mapping(nodes: &[(String, Vec<String>)], product: &str, skew: &str) -> String {
    let mut out = format!("[edge]\nhost_id = \"{HOST_ID}\"\nmax_clock_skew = \"{skew}\"\n");
    for (node, units) in nodes {
        for unit in units {
            out.push_str(&format!(
                "\n[[unit]]\nwork_unit = \"{unit}\"\nproduct = \"{product}\"\n\n\
                 [[signal]]\nwork_unit = \"{unit}\"\nkind = \"state\"\n\
                 sparkplug = {{ group = \"{GROUP}\", node = \"{node}\", metric = \"{unit}/State\" }}\n\
                 codes = [{{ code = {RUNNING}, state = \"running\" }}, {{ code = {STOPPED}, state = \"stopped\", reason = \"bench\" }}]\n\n\
                 [[signal]]\nwork_unit = \"{unit}\"\nkind = \"count\"\n\
                 sparkplug = {{ group = \"{GROUP}\", node = \"{node}\", metric = \"{unit}/Counter/Total\" }}\nwidth = 32\n"
            ));
        }
    }
    out
}

/// One edge node and its units' metrics.
pub(crate) struct Node {
    id: String,
    client: AsyncClient,
    poller: tokio::task::JoinHandle<()>,
    incoming: mpsc::UnboundedReceiver<Incoming>,
    bd_seq: u64,
    seq: u64,
    units: Vec<String>,
    states: Vec<i32>,
    counters: Vec<u32>,
    /// The node's device clock (ms since the epoch): one millisecond per reading.
    clock_ms: u64,
}

#[derive(Debug)]
enum Incoming {
    Message(String, Vec<u8>),
    Lost(String),
}

fn ms(at: chrono::DateTime<chrono::Utc>) -> u64 {
    u64::try_from(at.timestamp_millis()).unwrap_or(0)
}

fn value_metric(
    alias: u64,
    name: Option<&str>,
    datatype: u32,
    value: metric::Value,
    at: u64,
) -> Metric {
    Metric {
        name: name.map(str::to_owned),
        alias: Some(alias),
        timestamp: Some(at),
        datatype: Some(datatype),
        value: Some(value),
        ..Default::default()
    }
}

fn topic(kind: &str, node: &str) -> String {
    format!("spBv1.0/{GROUP}/{kind}/{node}")
}

impl Node {
    /// Connects node `id` of `units` to the broker at `url` and waits (30 s at most) until the
    /// primary host says it is online with a STATE no older than `host_since_ms` (an earlier
    /// run's retained STATE is not believed). Its device clock starts at `clock_ms`.
    pub(crate) async fn connect(
        url: &str,
        id: &str,
        units: Vec<String>,
        host_since_ms: i64,
        clock_ms: u64,
    ) -> anyhow::Result<Node> {
        let bd_seq = 0;
        let mut options = MqttOptions::parse_url(format!("{url}?client_id=mom-bench-{id}"))
            .with_context(|| format!("MQTT broker url {url:?}"))?;
        let death = Payload {
            timestamp: Some(clock_ms),
            metrics: vec![value_metric(
                0,
                Some("bdSeq"),
                INT64,
                metric::Value::LongValue(bd_seq),
                clock_ms,
            )],
            ..Default::default()
        };
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            // A message of many readings is larger than rumqttc's 10 KiB default.
            .set_max_packet_size(MAX_PACKET, MAX_PACKET)
            .set_last_will(LastWill::new(
                topic("NDEATH", id),
                death.encode_to_vec(),
                QoS::AtLeastOnce,
                false,
            ));
        let (client, mut events) = AsyncClient::new(options, 1024);
        let (tx, mut incoming) = mpsc::unbounded_channel();
        let poller = tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        let _ = tx.send(Incoming::Message(publish.topic, publish.payload.to_vec()));
                    }
                    Ok(_) => {}
                    Err(err) => {
                        let _ = tx.send(Incoming::Lost(err.to_string()));
                        return;
                    }
                }
            }
        });
        let state_topic = format!("spBv1.0/STATE/{HOST_ID}");
        client
            .subscribe(state_topic.clone(), QoS::AtLeastOnce)
            .await?;
        client
            .subscribe(topic("NCMD", id), QoS::AtLeastOnce)
            .await?;
        let online = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(event) = incoming.recv().await {
                match event {
                    Incoming::Message(topic, payload) if topic == state_topic => {
                        let state: serde_json::Value =
                            serde_json::from_slice(&payload).unwrap_or_default();
                        if state["online"].as_bool() == Some(true)
                            && state["timestamp"].as_i64().unwrap_or(0) >= host_since_ms
                        {
                            return Ok(());
                        }
                    }
                    Incoming::Message(..) => {}
                    Incoming::Lost(reason) => bail!("node {id}: MQTT connection lost: {reason}"),
                }
            }
            bail!("node {id}: MQTT connection ended")
        })
        .await
        .with_context(|| {
            format!("node {id}: the edge service did not come online on {url} within 30 s")
        })?;
        online?;
        let count = units.len();
        Ok(Node {
            id: id.to_owned(),
            client,
            poller,
            incoming,
            bd_seq,
            seq: 0,
            units,
            states: vec![RUNNING; count],
            counters: vec![0; count],
            clock_ms,
        })
    }

    fn next_seq(&mut self) -> u64 {
        self.seq = (self.seq + 1) % 256;
        self.seq
    }

    fn tick(&mut self) -> u64 {
        self.clock_ms += 1;
        self.clock_ms
    }

    /// Fails when the edge service asked for a rebirth (it saw a gap: messages were lost) or
    /// the connection was lost.
    pub(crate) fn check(&mut self) -> anyhow::Result<()> {
        while let Ok(event) = self.incoming.try_recv() {
            match event {
                Incoming::Message(topic, _) if topic.contains("/NCMD/") => bail!(
                    "the edge service asked node {} for a rebirth: messages were lost between the bench and the edge service",
                    self.id
                ),
                Incoming::Message(..) => {}
                Incoming::Lost(reason) => {
                    bail!("node {}: MQTT connection lost: {reason}", self.id)
                }
            }
        }
        Ok(())
    }

    /// Sends the NBIRTH with every metric's current value; returns the unit metrics it carried.
    pub(crate) async fn birth(&mut self) -> anyhow::Result<u64> {
        let at = self.tick();
        self.seq = 0;
        let mut metrics = vec![
            value_metric(
                0,
                Some("bdSeq"),
                INT64,
                metric::Value::LongValue(self.bd_seq),
                at,
            ),
            value_metric(
                1,
                Some("Node Control/Rebirth"),
                BOOLEAN,
                metric::Value::BooleanValue(false),
                at,
            ),
        ];
        for (index, unit) in self.units.iter().enumerate() {
            let (state, counter) = aliases(index);
            metrics.push(value_metric(
                state,
                Some(&format!("{unit}/State")),
                INT32,
                metric::Value::IntValue(self.states[index] as u32),
                at,
            ));
            metrics.push(value_metric(
                counter,
                Some(&format!("{unit}/Counter/Total")),
                UINT32,
                metric::Value::IntValue(self.counters[index]),
                at,
            ));
        }
        let payload = Payload {
            timestamp: Some(at),
            metrics,
            seq: Some(0),
            ..Default::default()
        };
        self.client
            .publish(
                topic("NBIRTH", &self.id),
                QoS::AtLeastOnce,
                false,
                payload.encode_to_vec(),
            )
            .await?;
        Ok(2 * self.units.len() as u64)
    }

    /// Sends one NDATA with `readings` readings of every unit's state and counter (each at its
    /// own millisecond); message `message` of the run decides which units stop or run again.
    /// Returns the metric updates it carried.
    pub(crate) async fn data(&mut self, readings: usize, message: u64) -> anyhow::Result<u64> {
        self.check()?;
        let mut metrics = Vec::with_capacity(readings * 2 * self.units.len());
        for reading in 0..readings {
            let at = self.tick();
            for index in 0..self.units.len() {
                let (state_alias, counter_alias) = aliases(index);
                // Now and then a unit stops for a reading: a state change among the counts.
                let step = message * readings as u64 + reading as u64 + index as u64 * 7;
                self.states[index] = if step.is_multiple_of(500) {
                    STOPPED
                } else {
                    RUNNING
                };
                self.counters[index] = self.counters[index].wrapping_add(1 + (step % 3) as u32);
                metrics.push(value_metric(
                    state_alias,
                    None,
                    INT32,
                    metric::Value::IntValue(self.states[index] as u32),
                    at,
                ));
                metrics.push(value_metric(
                    counter_alias,
                    None,
                    UINT32,
                    metric::Value::IntValue(self.counters[index]),
                    at,
                ));
            }
        }
        let updates = metrics.len() as u64;
        self.publish_data(metrics).await?;
        Ok(updates)
    }

    /// Sends one NDATA with unit `index`'s counter `by` higher; returns when it was handed to
    /// the MQTT client.
    pub(crate) async fn count(&mut self, index: usize, by: u32) -> anyhow::Result<()> {
        self.check()?;
        let at = self.tick();
        self.counters[index] = self.counters[index].wrapping_add(by);
        let (_, alias) = aliases(index);
        let metric = value_metric(
            alias,
            None,
            UINT32,
            metric::Value::IntValue(self.counters[index]),
            at,
        );
        self.publish_data(vec![metric]).await
    }

    async fn publish_data(&mut self, metrics: Vec<Metric>) -> anyhow::Result<()> {
        let payload = Payload {
            timestamp: Some(self.clock_ms),
            metrics,
            seq: Some(self.next_seq()),
            ..Default::default()
        };
        self.client
            .publish(
                topic("NDATA", &self.id),
                QoS::AtLeastOnce,
                false,
                payload.encode_to_vec(),
            )
            .await?;
        Ok(())
    }

    /// Returns every unit with the units its counter counted since the birth.
    pub(crate) fn totals(&self) -> impl Iterator<Item = (&str, u64)> {
        self.units
            .iter()
            .zip(&self.counters)
            .map(|(unit, counter)| (unit.as_str(), u64::from(*counter)))
    }

    /// Sends the NDEATH and disconnects.
    pub(crate) async fn close(self) {
        let at = self.clock_ms + 1;
        let death = Payload {
            timestamp: Some(at),
            metrics: vec![value_metric(
                0,
                Some("bdSeq"),
                INT64,
                metric::Value::LongValue(self.bd_seq),
                at,
            )],
            ..Default::default()
        };
        let _ = self
            .client
            .publish(
                topic("NDEATH", &self.id),
                QoS::AtLeastOnce,
                false,
                death.encode_to_vec(),
            )
            .await;
        let _ = self.client.disconnect().await;
        // The poller ends when the broker closes the connection, after the death is written.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.poller).await;
    }
}

/// The aliases of unit `index`'s state and counter.
fn aliases(index: usize) -> (u64, u64) {
    let base = 10 + 2 * index as u64;
    (base, base + 1)
}

/// Returns the device clock start for a run beginning at `now`: a minute before it (the run's
/// readings, a millisecond each, then stay within the mapping's clock skew of the receive time),
/// and not in the last two minutes of an hour (a short run's readings stay in one hour).
pub(crate) fn clock_start(now: chrono::DateTime<chrono::Utc>) -> u64 {
    use chrono::Timelike;
    let start = now - chrono::Duration::minutes(1);
    if start.minute() >= 58 {
        ms(start - chrono::Duration::minutes(3))
    } else {
        ms(start)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_bench_mapping_reads_a_state_and_a_counter_per_unit() {
        let nodes = vec![
            (
                "node-00".to_owned(),
                vec!["wu-0".to_owned(), "wu-2".to_owned()],
            ),
            ("node-01".to_owned(), vec!["wu-1".to_owned()]),
        ];
        let mapping =
            mom_edge::Mapping::parse("bench.toml", &mapping(&nodes, "SKU", "10m")).unwrap();
        assert_eq!(mapping.host_id, HOST_ID);
        assert_eq!(mapping.signals.len(), 6);
        assert_eq!(mapping.units_of(GROUP, "node-00", None), ["wu-0", "wu-2"]);
        assert_eq!(mapping.default_products["wu-1"], "SKU");
    }

    #[test]
    fn a_run_stays_in_one_hour() {
        use chrono::TimeZone;
        let at = |h, m| chrono::Utc.with_ymd_and_hms(2026, 12, 4, h, m, 30).unwrap();
        let start = |now| chrono::DateTime::from_timestamp_millis(clock_start(now) as i64).unwrap();
        assert_eq!(start(at(10, 30)), at(10, 29));
        assert_eq!(start(at(10, 59)), at(10, 55));
        assert_eq!(start(at(11, 0)), at(10, 56));
    }
}
