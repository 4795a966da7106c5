#![allow(clippy::unwrap_used)]

use mom_edge::mapping::{Meaning, UnitState};
use mom_edge::process::{Command, Outcome, Processor};
use mom_edge::sparkplug::Host;
use mom_edge::Mapping;

use super::connection::asks_rebirth;
use super::mapping::quote;
use super::*;
use crate::signals::{StopReason, RUNNING, SETUP};
use crate::Plant;

fn mapping() -> Mapping {
    Mapping::parse("sim-mapping.toml", &Plant::standard().sparkplug_mapping()).unwrap()
}

/// A node of the press line with a clock an hour behind, catching up at 61x.
fn press_line() -> (EdgeNode, mpsc::Receiver<Update>, Vec<DeviceHandle>, Clock) {
    let clock = Clock::new(mom_clock::now() - chrono::Duration::hours(1), 61.0);
    let broker = BrokerAddress::parse("mqtt://127.0.0.1:1883").unwrap();
    let (mut node, updates, handles) = node(
        broker,
        "press-line",
        &["press-1", "press-2", "press-3"],
        clock,
    );
    node.online = true;
    (node, updates, handles, clock)
}

fn decode(payload: &[u8]) -> Payload {
    Payload::decode(payload).unwrap()
}

/// Feeds messages to the edge service's Sparkplug host and processor, returning the commands.
struct Edge {
    host: Host,
    processor: Processor,
}

impl Edge {
    fn new() -> Self {
        let mapping = mapping();
        Self {
            host: Host::new(&mapping),
            processor: Processor::new(mapping, mom_clock::TimePolicy::default()),
        }
    }

    fn take(&mut self, messages: &[(String, Vec<u8>)]) -> Vec<Command> {
        let mut outcome = Outcome::default();
        for (topic, payload) in messages {
            let reaction = self.host.handle(topic, payload, mom_clock::now());
            assert_eq!(reaction.warning, None, "{topic}");
            assert_eq!(reaction.rebirth, None, "{topic}");
            for input in reaction.inputs {
                self.processor.apply(input, &mut outcome);
            }
        }
        assert!(
            outcome
                .notices
                .iter()
                .all(|n| matches!(n, mom_edge::process::Notice::Duplicate { .. })),
            "{:?}",
            outcome.notices
        );
        outcome.commands
    }
}

fn drain(node: &mut EdgeNode, updates: &mut mpsc::Receiver<Update>) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    while let Ok(update) = updates.try_recv() {
        out.extend(node.apply(update));
    }
    out
}

#[test]
fn the_generated_mapping_reads_every_unit_with_every_state_code() {
    let mapping = mapping();
    let plant = Plant::standard();
    assert_eq!(mapping.host_id, HOST_ID);
    assert_eq!(mapping.signals.len(), 3 * plant.units.len());
    for unit in &plant.units {
        assert_eq!(
            mapping.default_products.get(unit.id).map(String::as_str),
            Some(unit.products[0].id)
        );
        let state = mapping
            .signals
            .iter()
            .find(|s| s.work_unit == unit.id && s.meaning.kind() == "state")
            .unwrap();
        let Meaning::State { codes, otherwise } = &state.meaning else {
            panic!("a state signal")
        };
        assert_eq!(otherwise, &None);
        assert_eq!(codes[&RUNNING.to_string()], UnitState::Running);
        assert_eq!(codes[&SETUP.to_string()], UnitState::Setup);
        for reason in StopReason::ALL {
            let expected = match reason.text() {
                "" => "stopped",
                text => text,
            };
            assert_eq!(
                codes[&reason.code().to_string()],
                UnitState::Stopped(expected.into()),
                "{reason:?}"
            );
        }
        assert_eq!(codes.len(), 2 + StopReason::ALL.len());
        let count = mapping
            .signals
            .iter()
            .find(|s| s.work_unit == unit.id && s.meaning.kind() == "count")
            .unwrap();
        assert_eq!(
            count.meaning,
            Meaning::Count(mom_edge::mapping::CounterSpec { width: 32 })
        );
        assert!(mapping
            .signals
            .iter()
            .any(|s| s.work_unit == unit.id && s.meaning.kind() == "product"));
    }
    assert_eq!(mapping.units_of(GROUP, "press-line", None).len(), 3);
    assert_eq!(mapping.units_of(GROUP, "bottling-line", None).len(), 3);
}

#[tokio::test]
async fn births_and_data_by_alias_become_the_commands_grpc_would_send() {
    let (mut node, mut updates, mut handles, clock) = press_line();
    let t0 = clock.now();
    let mut edge = Edge::new();

    let births = node.births();
    assert_eq!(births.len(), 4);
    assert_eq!(births[0].0, "spBv1.0/mom-sim/NBIRTH/press-line");
    let nbirth = decode(&births[0].1);
    assert_eq!(nbirth.seq, Some(0));
    assert_eq!(
        nbirth.metrics[0].value,
        Some(metric::Value::LongValue(u64::from(node.bd_seq)))
    );
    assert!(nbirth
        .metrics
        .iter()
        .any(|m| m.name.as_deref() == Some("Node Control/Rebirth")));
    for (index, (topic, payload)) in births[1..].iter().enumerate() {
        assert!(topic.starts_with("spBv1.0/mom-sim/DBIRTH/press-line/press-"));
        let dbirth = decode(payload);
        assert_eq!(dbirth.seq, Some(index as u64 + 1));
        let names: Vec<_> = dbirth
            .metrics
            .iter()
            .map(|m| m.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["Recipe", "Counter/Total", "State"]);
        assert!(dbirth.metrics.iter().all(|m| m.alias.is_some()));
        // Nothing known yet but the counter, which starts at 0.
        assert_eq!(dbirth.metrics[2].is_null, Some(true));
        assert_eq!(dbirth.metrics[1].value, Some(metric::Value::IntValue(0)));
        // The plant is an hour behind: its births are history.
        assert_eq!(dbirth.metrics[1].is_historical, Some(true));
    }
    assert!(edge.take(&births).is_empty());

    let press = &mut handles[0];
    press.send(t0, Some(RUNNING), Some("BRACKET-A")).await;
    press
        .count(t0 + chrono::Duration::minutes(1), 25, "BRACKET-A")
        .await;
    press
        .send(
            t0 + chrono::Duration::minutes(1),
            Some(StopReason::Jam.code()),
            None,
        )
        .await;
    press
        .send(
            t0 + chrono::Duration::minutes(2),
            Some(StopReason::Changeover.code()),
            None,
        )
        .await;
    // The setup starts in the same millisecond as the stop before it.
    press
        .send(
            t0 + chrono::Duration::minutes(2),
            Some(SETUP),
            Some("BRACKET-B"),
        )
        .await;
    press
        .send(
            t0 + chrono::Duration::minutes(20),
            Some(RUNNING),
            Some("BRACKET-B"),
        )
        .await;
    press
        .count(t0 + chrono::Duration::minutes(21), 30, "BRACKET-B")
        .await;
    let data = drain(&mut node, &mut updates);
    assert_eq!(data.len(), 7);
    let mut seqs = Vec::new();
    for (topic, payload) in &data {
        assert_eq!(topic, "spBv1.0/mom-sim/DDATA/press-line/press-1");
        let ddata = decode(payload);
        seqs.push(ddata.seq.unwrap());
        assert!(ddata
            .metrics
            .iter()
            .all(|m| m.name.is_none() && m.alias.is_some()));
        assert!(ddata.metrics.iter().all(|m| m.is_historical == Some(true)));
    }
    assert_eq!(seqs, (4..11).collect::<Vec<u64>>());
    let at = |minutes: i64| t0 + chrono::Duration::minutes(minutes);
    let ms = chrono::Duration::milliseconds(1);
    let commands = edge.take(&data);
    let expected = vec![
        Command::Running {
            work_unit: "press-1".into(),
            product: Some("BRACKET-A".into()),
            at: at(0),
        },
        Command::Count {
            work_unit: "press-1".into(),
            product: Some("BRACKET-A".into()),
            total: 25,
            at: at(1),
        },
        Command::Stopped {
            work_unit: "press-1".into(),
            reason: "jam".into(),
            at: at(1),
        },
        Command::Stopped {
            work_unit: "press-1".into(),
            reason: "changeover".into(),
            at: at(2),
        },
        Command::SetupStarted {
            work_unit: "press-1".into(),
            at: at(2) + ms,
        },
        Command::SetupEnded {
            work_unit: "press-1".into(),
            product: Some("BRACKET-B".into()),
            at: at(20),
        },
        Command::Running {
            work_unit: "press-1".into(),
            product: Some("BRACKET-B".into()),
            at: at(20),
        },
        Command::Count {
            work_unit: "press-1".into(),
            product: Some("BRACKET-B".into()),
            total: 30,
            at: at(21),
        },
    ];
    // Event times come to the millisecond.
    let trimmed: Vec<Command> = expected.into_iter().map(trim).collect();
    assert_eq!(commands, trimmed);

    // A rebirth states the current values, after the last change; nothing is news.
    let births = node.births();
    let dbirth = decode(&births[1].1);
    assert_eq!(dbirth.seq, Some(1));
    assert_eq!(
        dbirth.metrics[0].value,
        Some(metric::Value::StringValue("BRACKET-B".into()))
    );
    assert_eq!(dbirth.metrics[1].value, Some(metric::Value::IntValue(55)));
    assert_eq!(
        dbirth.metrics[2].value,
        Some(metric::Value::IntValue(RUNNING as u32))
    );
    assert!(
        dbirth.metrics[2].timestamp.unwrap() > u64::try_from(at(21).timestamp_millis()).unwrap()
    );
    assert!(edge.take(&births).is_empty());
}

fn trim(command: Command) -> Command {
    let ms = |t: DateTime<Utc>| {
        chrono::TimeZone::timestamp_millis_opt(&Utc, t.timestamp_millis()).unwrap()
    };
    match command {
        Command::Running {
            work_unit,
            product,
            at,
        } => Command::Running {
            work_unit,
            product,
            at: ms(at),
        },
        Command::Stopped {
            work_unit,
            reason,
            at,
        } => Command::Stopped {
            work_unit,
            reason,
            at: ms(at),
        },
        Command::SetupStarted { work_unit, at } => Command::SetupStarted {
            work_unit,
            at: ms(at),
        },
        Command::SetupEnded {
            work_unit,
            product,
            at,
        } => Command::SetupEnded {
            work_unit,
            product,
            at: ms(at),
        },
        Command::Count {
            work_unit,
            product,
            total,
            at,
        } => Command::Count {
            work_unit,
            product,
            total,
            at: ms(at),
        },
        other => other,
    }
}

#[tokio::test]
async fn a_death_then_new_births_bring_the_state_back() {
    let (mut node, mut updates, mut handles, clock) = press_line();
    let mut edge = Edge::new();
    edge.take(&node.births());
    let t0 = clock.now();
    handles[1].send(t0, Some(RUNNING), Some("BRACKET-A")).await;
    let data = drain(&mut node, &mut updates);
    assert_eq!(edge.take(&data).len(), 1);
    // The broker delivers the will: every unit of the node is unknown.
    let will = (
        "spBv1.0/mom-sim/NDEATH/press-line".to_owned(),
        death(node.bd_seq, t0),
    );
    let lost = edge.take(&[will]);
    assert_eq!(lost.len(), 3);
    assert!(lost
        .iter()
        .all(|c| matches!(c, Command::Disconnected { .. })));
    // A new connection: a new bdSeq and births with the current values.
    node.bd_seq = node.bd_seq.wrapping_add(1);
    let commands = edge.take(&node.births());
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert!(matches!(
        &commands[0],
        Command::Running { work_unit, product: Some(product), .. }
            if work_unit == "press-2" && product == "BRACKET-A"
    ));
    assert!(matches!(edge.processor.unit_memory("press-2"), Some(m) if m.state.is_some()));
}

#[tokio::test]
async fn data_is_live_once_the_plant_has_caught_up_and_waits_while_offline() {
    let clock = Clock::new(mom_clock::now(), 1.0);
    let broker = BrokerAddress::parse("mqtt://localhost").unwrap();
    let (mut node, mut updates, mut handles) = node(broker, "bottling-line", &["filler-1"], clock);
    handles[0]
        .send(clock.now(), Some(RUNNING), Some("BOTTLE-05"))
        .await;
    // Not online: held, not sent.
    assert!(drain(&mut node, &mut updates).is_empty());
    node.online = true;
    let births = node.births();
    let dbirth = decode(&births[1].1);
    assert_eq!(dbirth.metrics[2].value, Some(metric::Value::IntValue(1)));
    assert_eq!(dbirth.metrics[2].is_historical, None);
    handles[0].count(clock.now(), 3, "BOTTLE-05").await;
    let data = drain(&mut node, &mut updates);
    let ddata = decode(&data[0].1);
    assert_eq!(ddata.metrics.len(), 1);
    assert_eq!(ddata.metrics[0].is_historical, None);
    assert_eq!(ddata.metrics[0].value, Some(metric::Value::IntValue(3)));
    // The same state again is no news and sends nothing.
    handles[0]
        .send(clock.now(), Some(RUNNING), Some("BOTTLE-05"))
        .await;
    assert!(drain(&mut node, &mut updates).is_empty());
}

#[test]
fn seq_wraps_after_255() {
    let (mut node, ..) = press_line();
    node.seq = 254;
    assert_eq!(node.next_seq(), 255);
    assert_eq!(node.next_seq(), 0);
    assert_eq!(node.next_seq(), 1);
}

#[test]
fn the_edge_services_rebirth_request_is_understood() {
    let request = mom_edge::sparkplug::rebirth_request(mom_clock::now());
    assert!(asks_rebirth(&request));
    assert!(!asks_rebirth(b"not a payload \xff"));
    let no = Payload {
        metrics: vec![Metric {
            name: Some(REBIRTH_METRIC.into()),
            value: Some(metric::Value::BooleanValue(false)),
            ..Default::default()
        }],
        ..Default::default()
    }
    .encode_to_vec();
    assert!(!asks_rebirth(&no));
}

#[test]
fn broker_urls_are_plain_mqtt_with_a_host() {
    assert_eq!(
        BrokerAddress::parse("mqtt://127.0.0.1:1884").unwrap(),
        BrokerAddress {
            host: "127.0.0.1".into(),
            port: 1884
        }
    );
    assert_eq!(BrokerAddress::parse("tcp://broker").unwrap().port, 1883);
    assert_eq!(
        BrokerAddress::parse("mqtt://[::1]:1883").unwrap().host,
        "::1"
    );
    for bad in [
        "mqtts://h:8883",
        "h:1883",
        "mqtt://:1883",
        "mqtt://h:x",
        "mqtt://u@h:1",
    ] {
        assert!(BrokerAddress::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn names_are_quoted_for_toml() {
    assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    assert_eq!(quote("x\ny"), r#""x\u000Ay""#);
}
