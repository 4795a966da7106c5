//! The edge service inside a real `mom dev`, fed by a Sparkplug B edge node the test plays over a
//! real MQTT broker (Mosquitto, started on a free port so the test can restart it): birth, data
//! by alias, a redelivered message, a `seq` gap answered by a rebirth request, a counter
//! rollover and a counter reset, a reject counter, a broker restart and an unclean disconnect
//! whose death makes the unit's state unknown. The OEE figures of the hour must be the ones the
//! signals describe; a plain-MQTT JSON machine is read too; a restart of `mom dev` recounts
//! nothing.

#![allow(clippy::unwrap_used)]

mod dev;

use std::time::Duration;

use chrono::{DateTime, Utc};
use mom_proto::production::v1 as prd;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::quality::v1 as qa;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use mom_proto::sparkplug_b::payload::{metric, Metric};
use mom_proto::sparkplug_b::Payload;
use mom_proto::time::to_timestamp;
use prost::Message;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

/// The instant `mom dev`'s clock starts at; the hour under test is the one before it.
const CLOCK_START: &str = "2026-12-03T11:00:00Z";
const PLAN: &str = "0193a5c0-0000-7000-8000-00000000e1e1";
const CYCLE_MS: u64 = 20_000;

fn hour() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn at(minutes: i64) -> u64 {
    u64::try_from((hour() + chrono::Duration::minutes(minutes)).timestamp_millis()).unwrap()
}

fn mapping() -> String {
    format!(
        r#"
[edge]
host_id = "mom-test"
max_clock_skew = "3h"

[[signal]]
work_unit = "press-1"
kind = "state"
sparkplug = {{ group = "plant", node = "press-line", device = "press-1", metric = "State" }}
codes = [
  {{ code = 1, state = "running" }},
  {{ code = 2, state = "stopped", reason = "jam" }},
]

[[signal]]
work_unit = "press-1"
kind = "count"
sparkplug = {{ group = "plant", node = "press-line", device = "press-1", metric = "Counter/Total" }}
width = 16

[[signal]]
work_unit = "press-1"
kind = "rejects"
sparkplug = {{ group = "plant", node = "press-line", device = "press-1", metric = "Counter/Rejects" }}
plan = "{PLAN}"
characteristic = "visual"

[[signal]]
work_unit = "press-1"
kind = "product"
sparkplug = {{ group = "plant", node = "press-line", device = "press-1", metric = "Recipe" }}
products = {{ "17" = "bracket" }}

[[signal]]
work_unit = "press-2"
kind = "state"
mqtt = {{ topic = "plant/press-2/status", value = "$.state", time = "$.ts" }}
codes = [{{ code = "RUN", state = "running" }}, {{ code = "STOP", state = "stopped", reason = "idle" }}]

[[unit]]
work_unit = "press-2"
product = "bracket"

[[signal]]
work_unit = "press-2"
kind = "count"
mqtt = {{ topic = "plant/press-2/status", value = "/count", time = "/ts" }}
"#
    )
}

/// The edge node the test plays: its MQTT client, `bdSeq` and `seq`.
struct EdgeNode {
    client: AsyncClient,
    task: tokio::task::JoinHandle<()>,
    bd_seq: u64,
    seq: u64,
    commands: mpsc::UnboundedReceiver<Vec<u8>>,
    connected: mpsc::UnboundedReceiver<()>,
    host_online: tokio::sync::watch::Receiver<bool>,
}

const HOST_STATE: &str = "spBv1.0/STATE/mom-test";

/// Returns the primary host's `online` from a STATE payload.
fn online(payload: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v["online"].as_bool())
        .unwrap_or(false)
}

fn metric(name: &str, alias: u64, value: metric::Value, datatype: u32, ms: u64) -> Metric {
    Metric {
        name: (!name.is_empty()).then(|| name.to_owned()),
        alias: Some(alias),
        timestamp: Some(ms),
        datatype: Some(datatype),
        value: Some(value),
        ..Default::default()
    }
}

fn death(bd_seq: u64) -> Vec<u8> {
    Payload {
        timestamp: Some(at(0)),
        metrics: vec![metric(
            "bdSeq",
            0,
            metric::Value::LongValue(bd_seq),
            8,
            at(0),
        )],
        ..Default::default()
    }
    .encode_to_vec()
}

impl EdgeNode {
    async fn connect(port: u16, bd_seq: u64) -> EdgeNode {
        let mut options = MqttOptions::new(format!("press-line-{bd_seq}"), "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(5))
            .set_clean_session(true)
            .set_last_will(LastWill::new(
                "spBv1.0/plant/NDEATH/press-line",
                death(bd_seq),
                QoS::AtLeastOnce,
                false,
            ));
        let (client, mut events) = AsyncClient::new(options, 100);
        let (command_tx, commands) = mpsc::unbounded_channel();
        let (connected_tx, connected) = mpsc::unbounded_channel();
        let (online_tx, host_online) = tokio::sync::watch::channel(false);
        let subscriber = client.clone();
        let task = tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = online_tx.send(false);
                        let _ = subscriber
                            .subscribe("spBv1.0/plant/NCMD/press-line", QoS::AtLeastOnce)
                            .await;
                        let _ = subscriber.subscribe(HOST_STATE, QoS::AtLeastOnce).await;
                        let _ = connected_tx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(publish)))
                        if publish.topic == HOST_STATE =>
                    {
                        let _ = online_tx.send(online(&publish.payload));
                    }
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        let _ = command_tx.send(publish.payload.to_vec());
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        let mut node = EdgeNode {
            client,
            task,
            bd_seq,
            seq: 0,
            commands,
            connected,
            host_online,
        };
        node.wait_connected().await;
        node
    }

    /// Waits until the primary host's STATE says online (a Sparkplug edge node publishes its
    /// births only then).
    async fn wait_host_online(&mut self) {
        tokio::time::timeout(Duration::from_secs(30), self.host_online.wait_for(|on| *on))
            .await
            .expect("the primary host's STATE did not say online within 30 s")
            .unwrap();
    }

    async fn wait_connected(&mut self) {
        tokio::time::timeout(Duration::from_secs(30), self.connected.recv())
            .await
            .expect("the edge node did not connect to the broker")
            .unwrap();
        // The subscription to NCMD is sent right after the connect.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    async fn publish(&mut self, kind: &str, metrics: Vec<Metric>, ms: u64) {
        let topic = if kind.starts_with('N') {
            format!("spBv1.0/plant/{kind}/press-line")
        } else {
            format!("spBv1.0/plant/{kind}/press-line/press-1")
        };
        let payload = Payload {
            timestamp: Some(ms),
            metrics,
            seq: Some(self.seq),
            ..Default::default()
        };
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.encode_to_vec())
            .await
            .unwrap();
        self.seq = (self.seq + 1) % 256;
    }

    /// NBIRTH and DBIRTH with the current values, as after a connect or a rebirth request.
    async fn births(&mut self, state: u32, count: u32, rejects: u32, ms: u64) {
        self.seq = 0;
        let bd_seq = self.bd_seq;
        self.publish(
            "NBIRTH",
            vec![metric("bdSeq", 0, metric::Value::LongValue(bd_seq), 8, ms)],
            ms,
        )
        .await;
        self.publish(
            "DBIRTH",
            vec![
                metric("State", 1, metric::Value::IntValue(state), 3, ms),
                metric("Counter/Total", 2, metric::Value::IntValue(count), 6, ms),
                metric(
                    "Counter/Rejects",
                    3,
                    metric::Value::IntValue(rejects),
                    6,
                    ms,
                ),
                metric("Recipe", 4, metric::Value::StringValue("17".into()), 12, ms),
            ],
            ms,
        )
        .await;
    }

    /// DDATA of one metric by alias.
    async fn data(&mut self, alias: u64, value: u32, ms: u64) {
        self.publish(
            "DDATA",
            vec![metric("", alias, metric::Value::IntValue(value), 6, ms)],
            ms,
        )
        .await;
    }

    async fn expect_rebirth_request(&mut self) {
        let payload = tokio::time::timeout(Duration::from_secs(30), self.commands.recv())
            .await
            .expect("no rebirth request (NCMD) within 30 s")
            .unwrap();
        let request = Payload::decode(payload.as_slice()).unwrap();
        assert_eq!(
            request.metrics[0].name.as_deref(),
            Some("Node Control/Rebirth")
        );
        assert_eq!(
            request.metrics[0].value,
            Some(metric::Value::BooleanValue(true))
        );
    }

    /// Drops the connection without DISCONNECT: the broker publishes the will (NDEATH).
    fn vanish(self) {
        self.task.abort();
    }
}

async fn work_unit(dev: &dev::Dev, id: &str) -> prd::WorkUnit {
    ProductionServiceClient::new(dev.channel("production").await)
        .get_work_unit(prd::GetWorkUnitRequest {
            work_unit: id.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn until_work_unit(
    dev: &dev::Dev,
    id: &str,
    what: &str,
    ok: impl Fn(&prd::WorkUnit) -> bool,
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let unit = work_unit(dev, id).await;
        if ok(&unit) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: work unit {id} is {unit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn oee_hour(dev: &dev::Dev, unit: &str) -> serde_json::Value {
    let (code, body) = dev::http_get(
        &dev.http,
        &format!(
            "/api/oee?work_unit={unit}&from=2026-12-03T10:00:00Z&to=2026-12-03T11:00:00Z&granularity=hour"
        ),
    );
    assert_eq!(code, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    value["periods"][0].clone()
}

async fn set_up(dev: &dev::Dev) {
    let mut production = ProductionServiceClient::new(dev.channel("production").await);
    let start = Some(to_timestamp(hour() - chrono::Duration::hours(1)));
    for unit in ["press-1", "press-2"] {
        production
            .register_work_unit(prd::RegisterWorkUnitRequest {
                work_unit: unit.into(),
                name: unit.into(),
                at: start,
                ..Default::default()
            })
            .await
            .unwrap();
        production
            .set_ideal_cycle_time(prd::SetIdealCycleTimeRequest {
                work_unit: unit.into(),
                product: "bracket".into(),
                ideal_cycle_time_ms: CYCLE_MS,
                at: start,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    QualityServiceClient::new(dev.channel("quality").await)
        .define_inspection_plan(qa::DefineInspectionPlanRequest {
            plan_id: PLAN.into(),
            product: "bracket".into(),
            operation: 10,
            characteristics: vec![qa::Characteristic {
                name: "visual".into(),
                spec: Some(qa::characteristic::Spec::Attribute(qa::AttributeSpec {})),
            }],
            sample_size: 1,
            frequency: Some(qa::Frequency {
                every: Some(qa::frequency::Every::Units(500)),
            }),
            at: start,
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sparkplug_press_line_reaches_the_oee_figures_through_faults() {
    let mut broker = mom_testkit::MqttBroker::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mapping_file = dir.path().join("mapping.toml");
    std::fs::write(&mapping_file, mapping()).unwrap();
    let data = dir.path().join("data");
    let args = [
        "--edge-mapping",
        mapping_file.to_str().unwrap(),
        "--mqtt-url",
        &broker.url(),
    ];
    let env = [("MOM_CLOCK_START", CLOCK_START)];
    let dev = dev::Dev::start_env(&data, &args, &env);
    set_up(&dev).await;

    // 10:00 birth: running, counter 65 500 (the baseline), no rejects, recipe 17 = bracket.
    let mut node = EdgeNode::connect(broker.port(), 0).await;
    node.wait_host_online().await;
    node.births(1, 65_500, 0, at(0)).await;
    until_work_unit(&dev, "press-1", "running after the birth", |u| {
        u.state == prd::WorkUnitState::Running as i32
    })
    .await;
    // 10:10 +30; 10:20 rollover of the 16-bit register: +6 +20 = 26.
    node.data(2, 65_530, at(10)).await;
    node.data(2, 20, at(20)).await;
    // The same message again (a QoS 1 redelivery: same seq) counts nothing.
    node.seq -= 1;
    node.data(2, 20, at(20)).await;
    // 10:30 jam.
    node.data(1, 2, at(30)).await;
    // Two messages lost (seq jumps): the host asks for a rebirth and waits for it.
    node.seq += 2;
    node.data(2, 20, at(35)).await;
    node.expect_rebirth_request().await;
    node.births(2, 20, 0, at(40)).await;
    // 10:45 running again; 10:50 the PLC restarted: the counter reads 5 (a reset: +5).
    node.data(1, 1, at(45)).await;
    node.data(2, 5, at(50)).await;
    // 10:57 three rejects.
    node.data(3, 3, at(57)).await;
    until_work_unit(&dev, "press-1", "61 units counted", |u| u.total_count == 61).await;

    // The broker dies (taking the node's connection with it, so no will is sent) and comes
    // back: the host reconnects by itself, the node connects anew (bdSeq 1) and its births
    // repeat its values, which count nothing.
    broker.kill().await.unwrap();
    node.vanish();
    broker.restart().await.unwrap();
    let mut node = EdgeNode::connect(broker.port(), 1).await;
    node.wait_host_online().await;
    node.births(1, 5, 3, at(58)).await;
    // A plain-MQTT machine: press-2 runs from 10:00 and counts 90 by 10:30.
    let json = AsyncClient::new(MqttOptions::new("press-2", "127.0.0.1", broker.port()), 10);
    let (json_client, mut json_events) = json;
    let json_task = tokio::spawn(async move { while json_events.poll().await.is_ok() {} });
    for (state, count, minute) in [("RUN", 1000, 0), ("RUN", 1090, 30)] {
        let ts = (hour() + chrono::Duration::minutes(minute)).to_rfc3339();
        json_client
            .publish(
                "plant/press-2/status",
                QoS::AtLeastOnce,
                false,
                serde_json::json!({ "state": state, "count": count, "ts": ts }).to_string(),
            )
            .await
            .unwrap();
    }
    until_work_unit(&dev, "press-2", "90 units counted from JSON", |u| {
        u.total_count == 90
    })
    .await;
    json_task.abort();

    // The node vanishes: its will (NDEATH, bdSeq 1) makes press-1's state unknown.
    tokio::time::sleep(Duration::from_millis(500)).await;
    node.vanish();
    until_work_unit(&dev, "press-1", "unknown after the death", |u| {
        u.state == prd::WorkUnitState::Unknown as i32
    })
    .await;
    let unit = work_unit(&dev, "press-1").await;
    assert_eq!(unit.total_count, 61, "nothing counted twice: {unit:?}");

    // The hour's figures: 45 min running (15 min jam), 61 units, 3 rejects, 20 s per unit.
    let figures = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let period = oee_hour(&dev, "press-1");
            if period["rejected_count"] == 3 && period["total_count"] == 61 {
                return period;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the OEE hour did not reach 61 units and 3 rejects");
    assert_eq!(figures["planned_production_time_s"], 3600.0, "{figures}");
    assert_eq!(figures["run_time_s"], 2700.0, "{figures}");
    assert_eq!(figures["losses_s"]["equipment_failure"], 900.0, "{figures}");
    assert_eq!(figures["net_run_time_s"], 61.0 * 20.0, "{figures}");
    assert_eq!(figures["fully_productive_time_s"], 58.0 * 20.0, "{figures}");
    let press_2 = oee_hour(&dev, "press-2");
    assert_eq!(press_2["total_count"], 90, "{press_2}");
    assert_eq!(press_2["run_time_s"], 3600.0, "{press_2}");

    // mom dev restarts on the same data: the edge service's memories survive, and a birth with
    // the same values counts nothing again.
    drop(dev);
    let dev = dev::Dev::start_env(&data, &args, &env);
    let mut node = EdgeNode::connect(broker.port(), 2).await;
    node.wait_host_online().await;
    node.births(1, 5, 3, at(59)).await;
    until_work_unit(&dev, "press-1", "running after the last birth", |u| {
        u.state == prd::WorkUnitState::Running as i32
    })
    .await;
    node.data(2, 6, at(59) + 1000).await;
    until_work_unit(&dev, "press-1", "one more unit", |u| u.total_count == 62).await;
    node.vanish();
}
