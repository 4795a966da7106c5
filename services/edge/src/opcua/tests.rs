#![allow(clippy::unwrap_used)]

use ::opcua::types::{LocalizedText, UAString};
use chrono::TimeZone;

use super::*;

const MAPPING: &str = r#"
[[signal]]
work_unit = "press-1"
kind = "count"
opcua = { node = "ns=2;s=Press1.Count" }

[[signal]]
work_unit = "press-1"
kind = "rejects"
opcua = { node = "ns=2;s=Press1.Count" }
plan = "visual"
characteristic = "visual"

[[signal]]
work_unit = "press-2"
kind = "product"
opcua = { node = "ns=2;s=Press2.Product" }
"#;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
}

fn data(value: Variant, source: Option<i64>, server: Option<i64>) -> DataValue {
    DataValue {
        value: Some(value),
        status: Some(StatusCode::Good),
        source_timestamp: source.map(|s| at(s).into()),
        server_timestamp: server.map(|s| at(s).into()),
        ..Default::default()
    }
}

fn samples(pending: &mut Pending) -> Vec<Sample> {
    pending
        .inputs
        .drain(..)
        .map(|input| match input {
            Input::Sample(sample) => sample,
            other => panic!("not a sample: {other:?}"),
        })
        .collect()
}

#[test]
fn variants_map_to_values() {
    assert_eq!(value_of(&Variant::Boolean(true)), Some(Value::Bool(true)));
    assert_eq!(value_of(&Variant::SByte(-3)), Some(Value::Int(-3)));
    assert_eq!(value_of(&Variant::Int16(-300)), Some(Value::Int(-300)));
    assert_eq!(value_of(&Variant::Int32(7)), Some(Value::Int(7)));
    assert_eq!(value_of(&Variant::Int64(-8)), Some(Value::Int(-8)));
    assert_eq!(value_of(&Variant::Byte(200)), Some(Value::UInt(200)));
    assert_eq!(
        value_of(&Variant::UInt16(60_000)),
        Some(Value::UInt(60_000))
    );
    assert_eq!(value_of(&Variant::UInt32(5)), Some(Value::UInt(5)));
    assert_eq!(
        value_of(&Variant::UInt64(u64::MAX)),
        Some(Value::UInt(u64::MAX))
    );
    assert_eq!(value_of(&Variant::Float(1.5)), Some(Value::Float(1.5)));
    assert_eq!(value_of(&Variant::Double(2.25)), Some(Value::Float(2.25)));
    assert_eq!(
        value_of(&Variant::String(UAString::from("P-100"))),
        Some(Value::Text("P-100".into()))
    );
    assert_eq!(
        value_of(&Variant::LocalizedText(Box::new(LocalizedText::new(
            "en", "hinge"
        )))),
        Some(Value::Text("hinge".into()))
    );
    assert_eq!(value_of(&Variant::String(UAString::null())), None);
    assert_eq!(value_of(&Variant::Empty), None);
    assert_eq!(value_of(&Variant::from(vec![1i32, 2])), None);
}

#[test]
fn one_item_per_node_feeds_every_signal_of_it() {
    let mapping = Mapping::parse("m.toml", MAPPING).unwrap();
    let nodes = nodes_of(&mapping);
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0].signals, vec![0, 1]);
    assert_eq!(nodes[0].lines.len(), 2);
    assert_eq!(index_of(handle_of(1)), Some(1));
    assert_eq!(index_of(0), None);

    let mut pending = Pending::new(nodes.len());
    pending.take(
        &nodes,
        0,
        &data(Variant::UInt32(5), Some(10), Some(11)),
        Arrival::Change,
        at(12),
    );
    let taken = samples(&mut pending);
    assert_eq!(taken.len(), 2);
    assert_eq!(
        taken.iter().map(|s| s.signal).collect::<Vec<_>>(),
        vec![0, 1]
    );
    assert!(taken
        .iter()
        .all(|s| s.value == Value::UInt(5) && s.device_time == Some(at(10)) && !s.historical));
}

#[test]
fn the_source_timestamp_is_the_device_time_else_the_server_timestamp() {
    let source = data(Variant::Int32(1), Some(10), Some(11));
    assert_eq!(device_time(&source), Some(at(10)));
    let server = data(Variant::Int32(1), None, Some(11));
    assert_eq!(device_time(&server), Some(at(11)));
    let null = DataValue {
        source_timestamp: Some(::opcua::types::DateTime::null()),
        ..data(Variant::Int32(1), None, None)
    };
    assert_eq!(device_time(&null), None);
}

#[test]
fn bad_values_and_unreadable_types_are_skipped() {
    let mapping = Mapping::parse("m.toml", MAPPING).unwrap();
    let nodes = nodes_of(&mapping);
    let mut pending = Pending::new(nodes.len());
    let bad = DataValue {
        status: Some(StatusCode::BadSensorFailure),
        ..data(Variant::UInt32(5), Some(10), None)
    };
    pending.take(&nodes, 0, &bad, Arrival::Change, at(12));
    pending.take(
        &nodes,
        1,
        &data(Variant::from(vec![1i32]), Some(10), None),
        Arrival::Change,
        at(12),
    );
    assert!(pending.inputs.is_empty());
    // A good value after a bad one is taken.
    pending.take(
        &nodes,
        0,
        &data(Variant::UInt32(6), Some(13), None),
        Arrival::Change,
        at(14),
    );
    assert_eq!(samples(&mut pending).len(), 2);
}

#[test]
fn the_read_after_a_connect_restates_values_at_the_server_time_and_older_changes_are_old_news() {
    let mapping = Mapping::parse("m.toml", MAPPING).unwrap();
    let nodes = nodes_of(&mapping);
    let mut pending = Pending::new(nodes.len());
    let product = |source| data(Variant::String("P-1".into()), Some(source), None);
    pending.take(&nodes, 1, &product(10), Arrival::Change, at(10));
    assert_eq!(samples(&mut pending)[0].device_time, Some(at(10)));

    // Reconnected: the value did not change, but the read states it at the server's time.
    pending.take(&nodes, 1, &product(10), Arrival::Read(Some(at(50))), at(50));
    assert_eq!(samples(&mut pending)[0].device_time, Some(at(50)));
    // The subscription's initial value (and anything queued before the read) is old news.
    pending.take(&nodes, 1, &product(10), Arrival::Change, at(51));
    pending.take(&nodes, 1, &product(40), Arrival::Change, at(51));
    assert!(pending.inputs.is_empty());
    // A change after the read is taken with its own time.
    pending.take(&nodes, 1, &product(55), Arrival::Change, at(55));
    assert_eq!(samples(&mut pending)[0].device_time, Some(at(55)));
    // A read without the server's time falls back to the value's own time.
    pending.take(&nodes, 1, &product(60), Arrival::Read(None), at(61));
    assert_eq!(samples(&mut pending)[0].device_time, Some(at(60)));
}

#[test]
fn pending_inputs_are_bounded() {
    let mapping = Mapping::parse("m.toml", MAPPING).unwrap();
    let nodes = nodes_of(&mapping);
    let mut pending = Pending::new(nodes.len());
    for second in 0..(MAX_PENDING as i64) {
        pending.take(
            &nodes,
            0,
            &data(Variant::UInt32(1), Some(second), None),
            Arrival::Change,
            at(second),
        );
    }
    assert_eq!(pending.inputs.len(), MAX_PENDING);
    assert_eq!(pending.dropped, MAX_PENDING as u64);
}

#[test]
fn a_link_is_lost_once_per_outage() {
    let mut link = Link {
        units: vec!["press-1".into(), "press-2".into()],
        reason: "OPC UA session lost: opc.tcp://plc:4840".into(),
        lost: false,
    };
    let lost = link.lose();
    assert_eq!(lost.len(), 2);
    assert!(matches!(&lost[0], Input::Lost { work_unit, reason, .. }
        if work_unit == "press-1" && reason == "OPC UA session lost: opc.tcp://plc:4840"));
    assert!(link.lose().is_empty());
    link.lost = false;
    assert_eq!(link.lose().len(), 2);
}

#[test]
fn the_backoff_doubles_from_one_second_to_thirty() {
    let mut backoff = Backoff::new();
    let waits: Vec<u64> = (0..7).map(|_| backoff.next().as_secs()).collect();
    assert_eq!(waits, vec![1, 2, 4, 8, 16, 30, 30]);
}

#[derive(clap::Parser)]
struct Flags {
    #[command(flatten)]
    edge: crate::EdgeConfig,
}

#[test]
fn security_and_login_flags_make_the_settings() {
    use clap::Parser;

    let flags = Flags::try_parse_from([
        "edge",
        "--mapping",
        "m.toml",
        "--opcua-security-policy",
        "Basic256Sha256",
        "--opcua-security-mode",
        "SignAndEncrypt",
        "--opcua-username",
        "mom",
        "--opcua-password-file",
        "/run/secrets/opcua",
        "--opcua-trust-server-cert",
        "--opcua-interval-ms",
        "500",
    ])
    .unwrap();
    let settings = flags.edge.opcua_settings("opc.tcp://plc:4840".into());
    assert_eq!(
        settings.security,
        Security::Secure {
            policy: SecurityPolicy::Basic256Sha256,
            mode: SecurityMode::SignAndEncrypt,
        }
    );
    let login = settings.login.unwrap();
    assert_eq!(login.user, "mom");
    assert_eq!(login.password_file, PathBuf::from("/run/secrets/opcua"));
    assert!(settings.trust_server_certs);
    assert_eq!(settings.interval, Duration::from_millis(500));

    let flags = Flags::try_parse_from(["edge", "--mapping", "m.toml"]).unwrap();
    let settings = flags.edge.opcua_settings("opc.tcp://plc:4840".into());
    assert_eq!(settings.security, Security::None);
    assert!(settings.login.is_none() && !settings.trust_server_certs);
    assert_eq!(settings.pki_dir, PathBuf::from("data/opcua-pki"));

    // A user name without its password file is refused.
    assert!(
        Flags::try_parse_from(["edge", "--mapping", "m.toml", "--opcua-username", "mom"]).is_err()
    );
}
