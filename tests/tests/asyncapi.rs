//! `docs/asyncapi.yaml`, the AsyncAPI 3.0 document of the topics, is generated from `proto/`
//! (every `*Event` envelope and the members of its `oneof event`), the topic names of
//! `mom_bus::TopicNames` and the header names of `mom_bus::envelope`, so it cannot drift: a test
//! regenerates it and fails when the committed file differs (`BLESS=1` rewrites it). A second test
//! parses it with the maintained AsyncAPI parser (npm `@asyncapi/parser` with
//! `@asyncapi/protobuf-schema-parser`, installed into `tools/asyncapi` by scripts/test) and checks
//! that the parser sees one message per event type of `proto/`, no more, no fewer.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use mom_bus::envelope::{
    CE_ID, CE_SOURCE, CE_SPECVERSION, CE_SUBJECT, CE_TIME, CE_TYPE, CONTENT_TYPE, DLQ_ERROR,
    DLQ_ORIGIN, TRACEPARENT,
};
use mom_bus::TopicNames;

const DOCUMENT: &str = "docs/asyncapi.yaml";
const PROTOBUF: &str = "application/vnd.google.protobuf;version=3";
const KAFKA_BINDING: &str = "0.5.0";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One topic of the contract.
struct Topic {
    /// Domain: names the topic (`mom.<domain>.v1`), the proto package and the source.
    domain: &'static str,
    /// What publishes it.
    producer: &'static str,
    /// The directory of the producing service's code (its `ce_source` is written there).
    service_dir: &'static str,
    /// What the key is.
    key: &'static str,
}

const TOPICS: [Topic; 5] = [
    Topic {
        domain: "production",
        producer: "mom serve production",
        service_dir: "services/production",
        key: "aggregate id: the production order id (UUID), the work unit id (ISA-95 equipment id), the recipe id or the reason catalogue's site",
    },
    Topic {
        domain: "quality",
        producer: "mom serve quality",
        service_dir: "services/quality",
        key: "aggregate id (inspection, inspection plan, nonconformance, CAPA or characteristic id)",
    },
    Topic {
        domain: "maintenance",
        producer: "mom serve maintenance",
        service_dir: "services/maintenance",
        key: "aggregate id (asset, maintenance plan or work order id)",
    },
    Topic {
        domain: "inventory",
        producer: "mom serve inventory",
        service_dir: "services/inventory",
        key: "aggregate id (material, location, lot or work unit id)",
    },
    Topic {
        domain: "oee",
        producer: "mom serve oee (derived: OEE figures per work unit and period)",
        service_dir: "services/oee",
        key: "work unit id",
    },
];

/// A message declared in a proto file, with its leading comment.
struct ProtoMessage {
    name: String,
    comment: String,
}

/// What the generator reads of one topic's `events.proto`.
struct Events {
    package: String,
    envelope: String,
    /// `(message type, oneof field name)` of each event, in proto order.
    members: Vec<(String, String)>,
    messages: Vec<ProtoMessage>,
}

/// Reads `proto`: its package, the envelope (the message with `oneof event`), the envelope's
/// members and the leading comment of every top-level message.
fn read_events(proto: &str) -> Events {
    let mut package = String::new();
    let mut envelope = String::new();
    let mut members = Vec::new();
    let mut messages = Vec::new();
    let mut comment: Vec<&str> = Vec::new();
    let mut current = String::new();
    let mut in_oneof = false;
    for line in proto.lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("package ") {
            package = rest.trim_end_matches(';').trim().to_owned();
        }
        if !line.starts_with(' ') {
            if let Some(text) = trimmed.strip_prefix("//") {
                comment.push(text.trim());
                continue;
            }
            if let Some(rest) = trimmed.strip_prefix("message ") {
                current = rest.trim_end_matches('{').trim().to_owned();
                messages.push(ProtoMessage {
                    name: current.clone(),
                    comment: comment.join(" "),
                });
            }
            comment.clear();
        }
        if trimmed.starts_with("oneof event") {
            in_oneof = true;
            envelope.clone_from(&current);
        } else if in_oneof && trimmed.starts_with('}') {
            in_oneof = false;
        } else if in_oneof && !trimmed.is_empty() && !trimmed.starts_with("//") {
            let mut words = trimmed.split_whitespace();
            let ty = words.next().unwrap().to_owned();
            let field = words.next().unwrap().to_owned();
            members.push((ty, field));
        }
    }
    Events {
        package,
        envelope,
        members,
        messages,
    }
}

/// The body of a proto file: everything after its `syntax`, `package`, `import` and `option`
/// lines (comments before `package` describe the file, not a message, and are dropped).
fn body(proto: &str) -> String {
    let start = proto
        .lines()
        .position(|l| l.starts_with("package "))
        .unwrap();
    proto
        .lines()
        .skip(start + 1)
        .filter(|l| !l.starts_with("import ") && !l.starts_with("option "))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

/// One self-contained proto text for the topic's envelope: `events.proto` with the files it
/// imports from `proto/mom` inlined (their messages in the topic's package, so references to
/// `mom.common.v1.X` become `X`), the envelope marked `@RootNode` for the protobuf schema parser.
/// The parser accepts no imports but the well-known `google/protobuf/*` ones.
fn self_contained_proto(domain: &str, events: &Events) -> String {
    let dir = workspace_root().join("proto/mom").join(domain).join("v1");
    let text = std::fs::read_to_string(dir.join("events.proto")).unwrap();
    let mut parts = vec![body(&text)];
    let mut google = BTreeSet::new();
    for line in text.lines() {
        let Some(import) = line.strip_prefix("import \"") else {
            continue;
        };
        let import = import.trim_end_matches("\";");
        if import.starts_with("google/") {
            google.insert(import.to_owned());
            continue;
        }
        let imported = std::fs::read_to_string(workspace_root().join("proto").join(import))
            .unwrap_or_else(|err| panic!("{import}: {err}"));
        for line in imported.lines() {
            if let Some(g) = line.strip_prefix("import \"google/") {
                google.insert(format!("google/{}", g.trim_end_matches("\";")));
            }
        }
        parts.push(body(&imported));
    }
    let mut out = format!("syntax = \"proto3\";\n\npackage {};\n\n", events.package);
    for import in &google {
        writeln!(out, "import \"{import}\";").unwrap();
    }
    let joined = parts.join("\n\n").replace("mom.common.v1.", "");
    let marker = format!("message {} {{", events.envelope);
    assert!(joined.contains(&marker), "no {marker}");
    let joined = joined.replacen(&marker, &format!("// @RootNode\n{marker}"), 1);
    write!(out, "\n{joined}\n").unwrap();
    out
}

/// A YAML single-quoted scalar.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `text` as a YAML literal block indented by `indent` spaces.
fn block(text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::from("|\n");
    for line in text.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            writeln!(out, "{pad}{line}").unwrap();
        }
    }
    out
}

fn source(domain: &str) -> String {
    format!("mom/{domain}")
}

/// Generates the document from `proto/`.
fn generate() -> String {
    let names = TopicNames::default();
    let topics: Vec<(&Topic, Events)> = TOPICS
        .iter()
        .map(|topic| {
            let path = workspace_root()
                .join("proto/mom")
                .join(topic.domain)
                .join("v1/events.proto");
            let events = read_events(&std::fs::read_to_string(&path).unwrap());
            assert!(
                !events.members.is_empty(),
                "{}: no oneof event",
                path.display()
            );
            (topic, events)
        })
        .collect();

    let mut y = String::new();
    y.push_str(
        "# Generated from proto/ by tests/tests/asyncapi.rs: do not edit by hand. After a change to\n\
         # proto/, regenerate it with `BLESS=1 cargo test -p mom-tests --test asyncapi`.\n",
    );
    y.push_str("asyncapi: 3.0.0\n");
    y.push_str("info:\n  title: MOM platform topics\n  version: 0.1.0\n");
    y.push_str("  description: ");
    y.push_str(&block(
        "The domain events every command service publishes through its transactional outbox,\n\
         and the OEE figures the OEE projection derives from them. One topic per domain, keyed by\n\
         the aggregate id (one aggregate's events stay in order on one partition), delivered at\n\
         least once (de-duplicate by the `ce_id` header).\n\
         \n\
         Each value is the topic's protobuf envelope (`<Domain>Event`): `metadata`\n\
         (`mom.common.v1.EventMetadata`) and a `oneof event` holding exactly one event. The\n\
         `ce_type` header names that event (`<proto package>.<event message>`), so a consumer can\n\
         route on the header before decoding. The payload schemas are the protobuf definitions of\n\
         `proto/` (imports inlined); compile `proto/` itself with protoc or buf to get code.\n\
         \n\
         Topic names take a configurable prefix (`MOM_TOPIC_PREFIX`, default `mom.`); the\n\
         addresses below use the default. A consumer that cannot handle a message moves it to\n\
         `<topic>.dlq`. See docs/topics.md and docs/integrators.md.",
        4,
    ));
    y.push_str("defaultContentType: application/protobuf\n");
    y.push_str(
        "servers:\n  broker:\n    host: '127.0.0.1:9092'\n    protocol: kafka\n    description: \
         The Kafka-protocol broker of MOM_KAFKA_BOOTSTRAP_SERVERS (this is the test setup's \
         address; use your own).\n",
    );

    // Channels.
    y.push_str("channels:\n");
    for (topic, events) in &topics {
        let address = names.domain(topic.domain);
        writeln!(y, "  {}:", topic.domain).unwrap();
        writeln!(y, "    address: {address}").unwrap();
        writeln!(y, "    title: {address}").unwrap();
        writeln!(
            y,
            "    description: {}",
            quoted(&format!(
                "Published by `{}`. Key: {}. Value: `{}.{}`.",
                topic.producer, topic.key, events.package, events.envelope
            ))
        )
        .unwrap();
        y.push_str("    messages:\n");
        for (ty, _) in &events.members {
            writeln!(
                y,
                "      {ty}:\n        $ref: '#/components/messages/{}.{ty}'",
                topic.domain
            )
            .unwrap();
        }
        writeln!(
            y,
            "    bindings:\n      kafka:\n        topic: {address}\n        bindingVersion: '{KAFKA_BINDING}'"
        )
        .unwrap();
    }
    y.push_str("  deadLetters:\n    address: '{topic}.dlq'\n    title: Dead letters\n");
    writeln!(
        y,
        "    description: {}",
        quoted(&format!(
            "Messages a consumer of `{{topic}}` could not handle, moved here unchanged (value, \
             key and headers) with two more headers: `{DLQ_ERROR}` (why) and `{DLQ_ORIGIN}` \
             (`topic/partition/offset`)."
        ))
    )
    .unwrap();
    y.push_str("    parameters:\n      topic:\n        description: The topic the message came from.\n        enum:\n");
    for (topic, _) in &topics {
        writeln!(y, "          - {}", names.domain(topic.domain)).unwrap();
    }

    // Operations: what the platform sends.
    y.push_str("operations:\n");
    for (topic, events) in &topics {
        writeln!(y, "  publish-{}:", topic.domain).unwrap();
        y.push_str("    action: send\n");
        writeln!(y, "    channel:\n      $ref: '#/channels/{}'", topic.domain).unwrap();
        writeln!(
            y,
            "    summary: {}",
            quoted(&format!(
                "`{}` publishes every event it stores, in order per key.",
                topic.producer
            ))
        )
        .unwrap();
        y.push_str("    messages:\n");
        for (ty, _) in &events.members {
            writeln!(
                y,
                "      - $ref: '#/channels/{}/messages/{ty}'",
                topic.domain
            )
            .unwrap();
        }
    }

    // Components: headers, envelopes, messages.
    y.push_str("components:\n  schemas:\n");
    y.push_str("    CloudEventsHeaders:\n      type: object\n");
    y.push_str("      description: CloudEvents Kafka protocol binding, binary content mode, plus W3C trace context.\n");
    writeln!(
        y,
        "      required:\n        - {CE_SPECVERSION}\n        - {CE_ID}\n        - {CE_TYPE}\n        - {CE_SOURCE}\n        - {CE_TIME}\n        - {CE_SUBJECT}\n        - {CONTENT_TYPE}"
    )
    .unwrap();
    y.push_str("      properties:\n");
    let headers = [
        (CE_SPECVERSION, "type: string\n        const: '1.0'\n        description: CloudEvents spec version."),
        (CE_ID, "type: string\n        format: uuid\n        description: Event id (UUID v7, time ordered), equal to metadata.event_id; de-duplicate on it."),
        (CE_TYPE, "type: string\n        description: '<proto package>.<event message>, for example mom.production.v1.WorkUnitStopped: which member of the oneof event is set.'"),
        (CE_SOURCE, "type: string\n        description: 'Producing service, for example mom/production.'"),
        (CE_TIME, "type: string\n        format: date-time\n        description: When it happened on the shop floor (metadata.event_time), RFC 3339 UTC."),
        (CE_SUBJECT, "type: string\n        description: Aggregate id, equal to the message key and metadata.aggregate_id."),
        (CONTENT_TYPE, "type: string\n        description: 'application/protobuf; proto=<envelope message>.'"),
        (TRACEPARENT, "type: string\n        pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$'\n        description: W3C trace context of the command that caused the event (only when it was traced)."),
    ];
    for (name, schema) in headers {
        writeln!(
            y,
            "        {name}:\n          {}",
            schema.replace("\n        ", "\n          ")
        )
        .unwrap();
    }
    for (topic, events) in &topics {
        writeln!(y, "    {}.{}:", events.package, events.envelope).unwrap();
        writeln!(y, "      schemaFormat: '{PROTOBUF}'").unwrap();
        y.push_str("      schema: ");
        y.push_str(&block(&self_contained_proto(topic.domain, events), 8));
    }
    y.push_str("  messages:\n");
    for (topic, events) in &topics {
        let content_type = format!(
            "application/protobuf; proto={}.{}",
            events.package, events.envelope
        );
        for (ty, field) in &events.members {
            let comment = &events
                .messages
                .iter()
                .find(|m| &m.name == ty)
                .unwrap_or_else(|| panic!("message {ty} of {}", events.package))
                .comment;
            writeln!(y, "    {}.{ty}:", topic.domain).unwrap();
            writeln!(y, "      name: {ty}").unwrap();
            writeln!(y, "      title: {}.{ty}", events.package).unwrap();
            if !comment.is_empty() {
                writeln!(y, "      summary: {}", quoted(comment)).unwrap();
            }
            writeln!(
                y,
                "      description: {}",
                quoted(&format!(
                    "A `{}.{}` whose `oneof event` holds `{field}` (`{}.{ty}`).",
                    events.package, events.envelope, events.package
                ))
            )
            .unwrap();
            writeln!(y, "      contentType: {}", quoted(&content_type)).unwrap();
            y.push_str("      headers:\n        type: object\n        allOf:\n          - $ref: '#/components/schemas/CloudEventsHeaders'\n          - type: object\n            properties:\n");
            writeln!(
                y,
                "              {CE_TYPE}:\n                const: {}.{ty}\n              {CE_SOURCE}:\n                const: {}\n              {CONTENT_TYPE}:\n                const: {}",
                events.package,
                source(topic.domain),
                quoted(&content_type)
            )
            .unwrap();
            writeln!(
                y,
                "      payload:\n        $ref: '#/components/schemas/{}.{}'",
                events.package, events.envelope
            )
            .unwrap();
            writeln!(
                y,
                "      bindings:\n        kafka:\n          key:\n            type: string\n            description: {}\n          bindingVersion: '{KAFKA_BINDING}'",
                quoted(topic.key)
            )
            .unwrap();
        }
    }
    y
}

/// Every event type of `proto/` as `<package>.<message>`, read the way
/// tests/tests/contract_docs.rs reads them: the members of each `oneof event`.
fn proto_event_types() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "proto") {
                let events = read_events(&std::fs::read_to_string(&path).unwrap());
                for (ty, _) in events.members {
                    out.insert(format!("{}.{ty}", events.package));
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&workspace_root().join("proto"), &mut out);
    out
}

#[test]
fn asyncapi_document_is_generated_from_proto() {
    let generated = generate();
    let path = workspace_root().join(DOCUMENT);
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(committed.lines().count().min(generated.lines().count()));
        panic!(
            "{DOCUMENT} is stale (first difference at line {}): regenerate it with \
             `BLESS=1 cargo test -p mom-tests --test asyncapi` and commit it",
            line + 1
        );
    }
}

#[test]
fn every_topic_lists_each_event_type_of_its_envelope() {
    let generated = generate();
    let types = proto_event_types();
    assert!(types.len() >= 80, "found only {} event types", types.len());
    for ty in &types {
        assert!(
            generated.contains(&format!("      title: {ty}\n")),
            "{ty} missing from the generated document"
        );
    }
    // Each topic's source is the one its service writes into ce_source.
    for topic in &TOPICS {
        let needle = format!("\"{}\"", source(topic.domain));
        assert!(
            contains_in(&workspace_root().join(topic.service_dir), &needle),
            "{} does not publish with ce_source {needle}",
            topic.service_dir
        );
    }
}

fn contains_in(dir: &Path, needle: &str) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        if path.is_dir() {
            contains_in(&path, needle)
        } else {
            path.extension().is_some_and(|e| e == "rs")
                && std::fs::read_to_string(&path).unwrap().contains(needle)
        }
    })
}

#[test]
fn asyncapi_document_parses_with_the_asyncapi_parser_and_matches_proto() {
    let tools = workspace_root().join("tools/asyncapi");
    assert!(
        tools.join("node_modules/@asyncapi/parser").is_dir()
            && tools
                .join("node_modules/@asyncapi/protobuf-schema-parser")
                .is_dir(),
        "the AsyncAPI parser is missing in {}: run scripts/test, or `npm ci --prefix tools/asyncapi` \
         (Node.js and npm needed)",
        tools.display()
    );
    let output = Command::new("node")
        .arg(tools.join("validate.mjs"))
        .arg(workspace_root().join(DOCUMENT))
        .output()
        .expect("node (Node.js) must be installed to run the AsyncAPI parser");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the AsyncAPI parser rejected {DOCUMENT}:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The parser's view of the document: one line per message, `<channel address> <title>
    // <payload title>`, the payload title being the envelope message the protobuf schema
    // parser compiled.
    let mut seen = BTreeSet::new();
    for line in stdout.lines().filter(|l| l.starts_with("message ")) {
        let mut words = line.split_whitespace().skip(1);
        let (address, title, payload) = (
            words.next().unwrap(),
            words.next().unwrap(),
            words.next().unwrap(),
        );
        let package = title.rsplit_once('.').unwrap().0;
        assert_eq!(
            format!("{}.v1", package.trim_end_matches(".v1")),
            package,
            "{line}"
        );
        assert_eq!(address, package, "{title} is on the wrong channel: {line}");
        assert!(
            payload.ends_with("Event"),
            "{title}: the payload is not the topic's envelope: {line}"
        );
        seen.insert(title.to_owned());
    }
    let expected = proto_event_types();
    let missing: Vec<_> = expected.difference(&seen).collect();
    let stale: Vec<_> = seen.difference(&expected).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "event types in proto/ missing from {DOCUMENT}: {missing:?}; in {DOCUMENT} but not in proto/: {stale:?}"
    );
}

#[test]
fn event_reader_reads_envelopes_and_comments() {
    let proto = "syntax = \"proto3\";\npackage a.v1;\n// The envelope.\nmessage XEvent {\n  M metadata = 1;\n  oneof event {\n    // c\n    A a = 10;\n  }\n}\n\n// An A.\n// Two lines.\nmessage A {\n  string s = 1;\n}\n";
    let events = read_events(proto);
    assert_eq!(events.package, "a.v1");
    assert_eq!(events.envelope, "XEvent");
    assert_eq!(events.members, vec![("A".to_owned(), "a".to_owned())]);
    assert_eq!(events.messages[1].name, "A");
    assert_eq!(events.messages[1].comment, "An A. Two lines.");
}
