//! The kernel over a small counter domain: the guards, the stored forms and the key ring.

use cqrs_es::test::TestFramework;
use serde_json::json;

use super::*;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Counter {
    total: u64,
}

#[derive(Debug, Clone, PartialEq)]
enum CounterCommand {
    Add(u64),
    Touch,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum CounterEvent {
    Added { n: u64 },
}

impl EventType for CounterEvent {
    fn type_name(&self) -> &'static str {
        "Added"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum CounterError {
    #[error("nothing to add")]
    Zero,
}

impl DomainError for CounterError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

impl Decide for Counter {
    const TYPE: &'static str = "counter";
    const NOUN: &'static str = "counter";
    type Command = CounterCommand;
    type Event = CounterEvent;
    type Error = CounterError;

    fn decide(&self, command: CounterCommand) -> Result<Vec<CounterEvent>, CounterError> {
        match command {
            CounterCommand::Add(0) => Err(CounterError::Zero),
            CounterCommand::Add(n) => Ok(vec![CounterEvent::Added { n }]),
            CounterCommand::Touch => Ok(vec![]),
        }
    }

    fn evolve(&mut self, event: CounterEvent) {
        match event {
            CounterEvent::Added { n } => self.total += n,
        }
    }
}

fn key(name: &str) -> IdempotencyKey {
    IdempotencyKey::new(name).expect("a valid key")
}

fn added(n: u64) -> CounterEvent {
    CounterEvent::Added { n }
}

fn keyed(n: u64, name: &str) -> Versioned<CounterCommand> {
    Versioned::from(CounterCommand::Add(n)).keyed(key(name))
}

/// Applies `command` like the store does and returns the stream after it.
fn run(
    stream: &mut Stream<Counter>,
    command: Versioned<CounterCommand>,
) -> Result<u64, Rejected<CounterError>> {
    for event in stream.decide(command)? {
        stream.evolve(event);
    }
    Ok(stream.version())
}

#[test]
fn repeated_key_stores_nothing_and_names_the_original_version() {
    let mut stream = Stream::<Counter>::default();
    assert_eq!(run(&mut stream, keyed(2, "k1")), Ok(1));
    assert_eq!(
        run(&mut stream, Versioned::from(CounterCommand::Add(3))),
        Ok(2)
    );
    assert_eq!(
        stream.decide(keyed(2, "k1")),
        Err(Rejected::Replayed { version: 1 })
    );
    // Another command under a used key is the same command as far as the caller can tell.
    assert_eq!(
        stream.decide(keyed(9, "k1")),
        Err(Rejected::Replayed { version: 1 })
    );
    assert_eq!(stream.state().total, 5);
}

#[test]
fn the_key_is_checked_before_the_expected_version() {
    let mut stream = Stream::<Counter>::default();
    run(&mut stream, keyed(2, "k1")).expect("first run");
    run(&mut stream, Versioned::from(CounterCommand::Add(1))).expect("second");
    let stale = Versioned {
        expected_version: Some(0),
        ..keyed(2, "k1")
    };
    assert_eq!(stream.decide(stale), Err(Rejected::Replayed { version: 1 }));
}

#[test]
fn a_stale_expected_version_is_a_conflict_that_names_both_versions() {
    let stream = Stream::<Counter>::from_events([added(1), added(1)]);
    let err = stream
        .decide(Versioned::expecting(CounterCommand::Add(1), 1))
        .expect_err("stale");
    assert_eq!(
        err,
        Rejected::VersionConflict {
            noun: "counter",
            expected: 1,
            actual: 2
        }
    );
    assert_eq!(
        err.to_string(),
        "counter is at version 2, not the expected version 1; reload it and retry"
    );
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(stream
        .decide(Versioned::expecting(CounterCommand::Add(1), 2))
        .is_ok());
}

#[test]
fn a_rule_rejection_keeps_its_message_and_kind() {
    let err = Stream::<Counter>::default()
        .decide(keyed(0, "k"))
        .expect_err("zero");
    assert_eq!(err, Rejected::Domain(CounterError::Zero));
    assert_eq!(err.to_string(), "nothing to add");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.replayed_version(), None);
}

#[test]
fn a_keyed_command_without_events_records_no_key() {
    let mut stream = Stream::<Counter>::default();
    let touch = Versioned::from(CounterCommand::Touch).keyed(key("t"));
    assert_eq!(run(&mut stream, touch.clone()), Ok(0));
    assert_eq!(run(&mut stream, touch), Ok(0));
    assert!(stream.keys().is_empty());
}

#[test]
fn only_the_last_event_of_a_command_carries_its_key() {
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    struct Pair;
    impl Decide for Pair {
        const TYPE: &'static str = "pair";
        const NOUN: &'static str = "pair";
        type Command = ();
        type Event = CounterEvent;
        type Error = CounterError;
        fn decide(&self, (): ()) -> Result<Vec<CounterEvent>, CounterError> {
            Ok(vec![added(1), added(2)])
        }
        fn evolve(&mut self, _: CounterEvent) {}
    }
    let events = Stream::<Pair>::default()
        .decide(Versioned::from(()).keyed(key("p")))
        .expect("accepted");
    assert_eq!(events[0].idempotency_key, None);
    assert_eq!(events[1].idempotency_key, Some(key("p")));
}

#[test]
fn the_ring_forgets_the_oldest_keys_beyond_the_limit() {
    let mut stream = Stream::<Counter>::default();
    for n in 0..=KEPT_KEYS {
        run(&mut stream, keyed(1, &format!("k{n}"))).expect("accepted");
    }
    assert_eq!(stream.keys().len(), KEPT_KEYS);
    assert_eq!(stream.version_of(&key("k0")), None);
    assert_eq!(stream.version_of(&key("k1")), Some(2));
    // A key beyond the ring is a new command again.
    assert!(stream.decide(keyed(1, "k0")).is_ok());
}

#[test]
fn events_are_stored_with_their_key_only_when_they_have_one() {
    let plain = serde_json::to_value(Recorded::new(added(1))).expect("serializes");
    assert_eq!(plain, json!({ "event": { "Added": { "n": 1 } } }));
    let keyed = Recorded {
        event: added(1),
        idempotency_key: Some(key("k")),
    };
    let json = serde_json::to_value(&keyed).expect("serializes");
    assert_eq!(
        json,
        json!({ "event": { "Added": { "n": 1 } }, "idempotency_key": "k" })
    );
    assert_eq!(
        serde_json::from_value::<Recorded<CounterEvent>>(json).ok(),
        Some(keyed.clone())
    );
    assert_eq!(keyed.event_type(), "Added");
    assert_eq!(keyed.event_version(), "1");
}

#[test]
fn events_stored_by_earlier_versions_still_read() {
    let bare: Recorded<CounterEvent> =
        serde_json::from_value(json!({ "Added": { "n": 4 } })).expect("a bare event");
    assert_eq!(bare, Recorded::new(added(4)));
    let fact: Recorded<CounterEvent> =
        serde_json::from_value(json!({ "fact": { "Added": { "n": 5 } }, "idempotency_key": "f" }))
            .expect("a quality fact");
    assert_eq!(fact.event, added(5));
    assert_eq!(fact.idempotency_key, Some(key("f")));
    assert!(serde_json::from_value::<Recorded<CounterEvent>>(json!({ "Removed": {} })).is_err());
    // A stored key that is no longer valid does not read as a valid key.
    assert!(serde_json::from_value::<Recorded<CounterEvent>>(
        json!({ "event": { "Added": { "n": 1 } }, "idempotency_key": "" })
    )
    .is_err());
}

#[test]
fn a_snapshot_round_trips_with_state_version_and_keys() {
    let mut stream = Stream::<Counter>::default();
    run(&mut stream, keyed(3, "k7")).expect("accepted");
    let json = serde_json::to_value(&stream).expect("serializes");
    assert_eq!(
        json,
        json!({ "state": { "total": 3 }, "version": 1, "keys": [["k7", 1]] })
    );
    let back: Stream<Counter> = serde_json::from_value(json).expect("deserializes");
    assert_eq!(back, stream);
}

#[test]
fn the_aggregate_forwards_to_the_kernel() {
    TestFramework::<Stream<Counter>>::with(())
        .given(vec![Recorded::new(added(1))])
        .when(Versioned::expecting(CounterCommand::Add(2), 1))
        .then_expect_events(vec![Recorded::new(added(2))]);
    TestFramework::<Stream<Counter>>::with(())
        .given(vec![Recorded {
            event: added(1),
            idempotency_key: Some(key("k")),
        }])
        .when(keyed(2, "k"))
        .then_expect_error(Rejected::Replayed { version: 1 });
}

mod lifecycle {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Lot {
        qty: u64,
    }

    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    enum LotError {
        #[error("lot does not exist")]
        NotFound,
        #[error("lot exists already")]
        Exists,
    }

    impl DomainError for LotError {
        fn kind(&self) -> ErrorKind {
            match self {
                LotError::NotFound => ErrorKind::NotFound,
                LotError::Exists => ErrorKind::FailedPrecondition,
            }
        }
    }

    impl Lifecycle for Lot {
        const TYPE: &'static str = "lot";
        const NOUN: &'static str = "lot";
        type Command = CounterCommand;
        type Event = CounterEvent;
        type Error = LotError;

        fn create(command: CounterCommand) -> Result<Vec<CounterEvent>, LotError> {
            match command {
                CounterCommand::Add(n) => Ok(vec![added(n)]),
                CounterCommand::Touch => Err(LotError::NotFound),
            }
        }

        fn decide(&self, command: CounterCommand) -> Result<Vec<CounterEvent>, LotError> {
            match command {
                CounterCommand::Add(_) => Err(LotError::Exists),
                CounterCommand::Touch => Ok(vec![]),
            }
        }

        fn born(event: CounterEvent) -> Option<Self> {
            let CounterEvent::Added { n } = event;
            Some(Lot { qty: n })
        }

        fn evolve(&mut self, event: CounterEvent) {
            let CounterEvent::Added { n } = event;
            self.qty += n;
        }
    }

    #[test]
    fn only_a_creating_command_starts_the_stream() {
        let empty = Stream::<Option<Lot>>::default();
        assert_eq!(
            empty.decide(CounterCommand::Touch.into()),
            Err(Rejected::Domain(LotError::NotFound))
        );
        let lot = Stream::<Option<Lot>>::from_events([added(4)]);
        assert_eq!(lot.state(), &Some(Lot { qty: 4 }));
        assert_eq!(
            lot.decide(CounterCommand::Add(1).into()),
            Err(Rejected::Domain(LotError::Exists))
        );
        assert_eq!(<Option<Lot> as Decide>::TYPE, "lot");
    }
}
