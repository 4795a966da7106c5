#![allow(clippy::unwrap_used)]

use mom_proto::sparkplug_b::payload::Metric;

use super::*;
use crate::mapping::tests::PRESS_LINE;

fn host() -> Host {
    Host::new(&Mapping::parse("m.toml", PRESS_LINE).unwrap())
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap()
}

fn metric(name: Option<&str>, alias: u64, value: metric::Value, datatype: u32) -> Metric {
    Metric {
        name: name.map(str::to_owned),
        alias: Some(alias),
        datatype: Some(datatype),
        value: Some(value),
        ..Default::default()
    }
}

fn payload(seq: Option<u64>, metrics: Vec<Metric>) -> Vec<u8> {
    Payload {
        timestamp: Some(u64::try_from(now().timestamp_millis()).unwrap()),
        seq,
        metrics,
        ..Default::default()
    }
    .encode_to_vec()
}

fn nbirth(bd_seq: u64) -> Vec<u8> {
    payload(
        Some(0),
        vec![metric(
            Some("bdSeq"),
            0,
            metric::Value::LongValue(bd_seq),
            8,
        )],
    )
}

fn dbirth(seq: u64) -> Vec<u8> {
    payload(
        Some(seq),
        vec![
            metric(Some("State"), 1, metric::Value::IntValue(1), 3),
            metric(Some("Counter/Total"), 2, metric::Value::IntValue(100), 7),
            metric(Some("Unmapped"), 3, metric::Value::IntValue(5), 7),
        ],
    )
}

fn ddata(seq: u64, count: u32) -> Vec<u8> {
    payload(
        Some(seq),
        vec![metric(None, 2, metric::Value::IntValue(count), 7)],
    )
}

const NODE: &str = "spBv1.0/plant/NBIRTH/press-line";
const DEVICE_BIRTH: &str = "spBv1.0/plant/DBIRTH/press-line/press-1";
const DEVICE_DATA: &str = "spBv1.0/plant/DDATA/press-line/press-1";

fn values(reaction: &Reaction) -> Vec<(usize, Value)> {
    reaction
        .inputs
        .iter()
        .filter_map(|i| match i {
            Input::Sample(s) => Some((s.signal, s.value.clone())),
            Input::Lost { .. } => None,
        })
        .collect()
}

#[test]
fn births_bind_aliases_and_data_by_alias_are_mapped() {
    let mut host = host();
    assert_eq!(host.groups(), vec!["plant"]);
    assert!(host.handle(NODE, &nbirth(7), now()).inputs.is_empty());
    let birth = host.handle(DEVICE_BIRTH, &dbirth(1), now());
    assert_eq!(
        values(&birth),
        vec![(0, Value::Int(1)), (1, Value::UInt(100))]
    );
    let data = host.handle(DEVICE_DATA, &ddata(2, 105), now());
    assert_eq!(values(&data), vec![(1, Value::UInt(105))]);
    assert_eq!(data.rebirth, None);
    // Sequence numbers wrap at 256.
    let mut seq = 2;
    for n in 0..300u32 {
        seq = (seq + 1) % 256;
        let reaction = host.handle(DEVICE_DATA, &ddata(seq, 106 + n), now());
        assert_eq!(reaction.inputs.len(), 1, "seq {seq}");
    }
}

#[test]
fn a_seq_gap_asks_for_a_rebirth_and_data_waits_for_it() {
    let mut host = host();
    host.handle(NODE, &nbirth(1), now());
    host.handle(DEVICE_BIRTH, &dbirth(1), now());
    let gap = host.handle(DEVICE_DATA, &ddata(5, 120), now());
    assert!(gap.inputs.is_empty());
    assert_eq!(gap.rebirth, Some(("plant".into(), "press-line".into())));
    assert!(gap.warning.unwrap().contains("seq 5 after 1"));
    // Until the rebirth, data is dropped (and not asked for again within the rate limit).
    let waiting = host.handle(DEVICE_DATA, &ddata(6, 121), now());
    assert!(waiting.inputs.is_empty());
    assert_eq!(waiting.rebirth, None);
    host.handle(NODE, &nbirth(2), now());
    let birth = host.handle(DEVICE_BIRTH, &dbirth(1), now());
    assert_eq!(birth.inputs.len(), 2);
}

#[test]
fn a_repeated_seq_is_a_redelivery() {
    let mut host = host();
    host.handle(NODE, &nbirth(1), now());
    host.handle(DEVICE_BIRTH, &dbirth(1), now());
    assert_eq!(
        host.handle(DEVICE_DATA, &ddata(2, 101), now()).inputs.len(),
        1
    );
    let again = host.handle(DEVICE_DATA, &ddata(2, 101), now());
    assert!(again.inputs.is_empty() && again.rebirth.is_none());
}

#[test]
fn data_without_a_birth_asks_for_one() {
    let mut host = host();
    let reaction = host.handle(DEVICE_DATA, &ddata(3, 101), now());
    assert!(reaction.inputs.is_empty());
    assert_eq!(
        reaction.rebirth,
        Some(("plant".into(), "press-line".into()))
    );
}

#[test]
fn deaths_make_units_lost_only_when_their_bd_seq_matches_the_birth() {
    let mut host = host();
    host.handle(NODE, &nbirth(4), now());
    host.handle(DEVICE_BIRTH, &dbirth(1), now());
    let stale = payload(
        None,
        vec![metric(Some("bdSeq"), 0, metric::Value::LongValue(3), 8)],
    );
    let ignored = host.handle("spBv1.0/plant/NDEATH/press-line", &stale, now());
    assert!(ignored.inputs.is_empty());
    assert!(ignored.warning.unwrap().contains("bdSeq"));
    let death = payload(
        None,
        vec![metric(Some("bdSeq"), 0, metric::Value::LongValue(4), 8)],
    );
    let lost = host.handle("spBv1.0/plant/NDEATH/press-line", &death, now());
    assert_eq!(
        lost.inputs,
        vec![Input::Lost {
            work_unit: "press-1".into(),
            at: now(),
            reason: "NDEATH plant/press-line".into()
        }]
    );
    // A device death (after a new birth).
    host.handle(NODE, &nbirth(5), now());
    let ddeath = host.handle(
        "spBv1.0/plant/DDEATH/press-line/press-1",
        &payload(Some(1), vec![]),
        now(),
    );
    assert_eq!(ddeath.inputs.len(), 1);
}

#[test]
fn unmapped_nodes_bad_payloads_and_foreign_topics_are_ignored() {
    let mut host = host();
    assert!(host
        .handle("spBv1.0/other/NBIRTH/x", &nbirth(1), now())
        .inputs
        .is_empty());
    let bad = host.handle(NODE, b"\xff\xff\xff", now());
    assert!(bad.warning.unwrap().contains("not a Sparkplug B payload"));
    assert!(parse_topic("spBv1.0/STATE").is_none());
    assert!(parse_topic("other/plant/NDATA/n").is_none());
    assert!(parse_topic("spBv1.0/g/NDATA/n/d/extra").is_none());
}

#[test]
fn values_follow_the_data_type() {
    let m = |value, datatype| metric(Some("x"), 1, value, datatype);
    assert_eq!(
        value_of(&m(metric::Value::IntValue(0xFF), 1)),
        Some(Value::Int(-1))
    );
    assert_eq!(
        value_of(&m(metric::Value::IntValue(0xFFFF_FFFE), 3)),
        Some(Value::Int(-2))
    );
    assert_eq!(
        value_of(&m(metric::Value::LongValue(u64::MAX), 4)),
        Some(Value::Int(-1))
    );
    assert_eq!(
        value_of(&m(metric::Value::LongValue(u64::MAX), 8)),
        Some(Value::UInt(u64::MAX))
    );
    let mut null = m(metric::Value::IntValue(1), 7);
    null.is_null = Some(true);
    assert_eq!(value_of(&null), None);
}

#[test]
fn the_rebirth_request_sets_node_control_rebirth() {
    let request = Payload::decode(rebirth_request(now()).as_slice()).unwrap();
    assert_eq!(request.metrics[0].name.as_deref(), Some(REBIRTH_METRIC));
    assert_eq!(
        request.metrics[0].value,
        Some(metric::Value::BooleanValue(true))
    );
    assert_eq!(
        String::from_utf8(state_payload(true, 5)).unwrap(),
        r#"{"online":true,"timestamp":5}"#
    );
}
