#!/usr/bin/env python3
"""Reads MOM topics with confluent-kafka, checks each message's CloudEvents headers and decodes
its protobuf value.

Subscribes to `mom.production.v1` and `mom.oee.v1` (change with --topics and --topic-prefix) from
the beginning. For every message it checks the contract of docs/topics.md: the CloudEvents Kafka
binary-mode headers (`ce_specversion` 1.0, `ce_id` a UUID equal to the metadata's event id,
`ce_type` the name of the event message in the value, `ce_source`, `ce_time` RFC 3339,
`ce_subject` = key = aggregate id, `content-type` naming the envelope message, `traceparent` when
present a valid W3C trace context), decodes the value with the stubs generated from proto/ and
prints it. Delivery is at least once, so a repeated `ce_id` is reported and skipped.

    python topic_consumer.py --bootstrap-servers 127.0.0.1:9092                 # tail everything
    python topic_consumer.py --bootstrap-servers 127.0.0.1:9092 \\
        --work-unit site1.area1.line1.press --expect-count 5 --timeout 60        # wait for one unit

With --expect-count N it exits 0 once the work unit's UnitsCounted events on the production
topic add up to N and an OEE period of it reports total_count N; it exits 1 at --timeout saying
what is missing, and whenever a message broke the contract.
"""

import argparse
import datetime
import json
import re
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError
from google.protobuf import json_format

import mom_stubs

mom_stubs.add_to_path()

from mom.inventory.v1 import events_pb2 as inventory  # noqa: E402
from mom.maintenance.v1 import events_pb2 as maintenance  # noqa: E402
from mom.oee.v1 import events_pb2 as oee  # noqa: E402
from mom.production.v1 import events_pb2 as production  # noqa: E402
from mom.quality.v1 import events_pb2 as quality  # noqa: E402

# Each topic's value is one envelope message (`metadata` + `oneof event`); content-type names it.
ENVELOPES = {
    cls.DESCRIPTOR.full_name: cls
    for cls in (production.ProductionEvent, quality.QualityEvent, maintenance.MaintenanceEvent,
                inventory.InventoryEvent, oee.OeeEvent)
}
TRACEPARENT = re.compile(r"^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$")
REQUIRED = ("ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time", "ce_subject",
            "content-type")


def check(key: str, headers: dict, value: bytes):
    """Returns (envelope, problems): the decoded value (None when it cannot be decoded) and every
    way the message breaks the topic contract."""
    problems = [f"header {name} is missing" for name in REQUIRED if name not in headers]
    if problems:
        return None, problems
    if headers["ce_specversion"] != "1.0":
        problems.append(f"ce_specversion is {headers['ce_specversion']!r}, not 1.0")
    try:
        uuid.UUID(headers["ce_id"])
    except ValueError:
        problems.append(f"ce_id {headers['ce_id']!r} is not a UUID")
    try:
        ce_time = datetime.datetime.fromisoformat(headers["ce_time"].replace("Z", "+00:00"))
        if ce_time.tzinfo is None:
            problems.append(f"ce_time {headers['ce_time']!r} has no time zone")
    except ValueError:
        problems.append(f"ce_time {headers['ce_time']!r} is not RFC 3339")
    if not headers["ce_source"].startswith("mom/"):
        problems.append(f"ce_source {headers['ce_source']!r} is not a mom service")
    if headers["ce_subject"] != key:
        problems.append(f"ce_subject {headers['ce_subject']!r} is not the key {key!r}")
    traceparent = headers.get("traceparent")
    if traceparent is not None and not TRACEPARENT.match(traceparent):
        problems.append(f"traceparent {traceparent!r} is not a W3C trace context")

    match = re.fullmatch(r"application/protobuf; proto=([\w.]+)", headers["content-type"])
    envelope_class = ENVELOPES.get(match.group(1)) if match else None
    if envelope_class is None:
        problems.append(f"content-type {headers['content-type']!r} names no known envelope")
        return None, problems
    envelope = envelope_class()
    try:
        envelope.ParseFromString(value)
    except Exception as err:  # noqa: BLE001 - protobuf raises DecodeError or RuntimeWarning
        problems.append(f"value is not a {envelope_class.DESCRIPTOR.full_name}: {err}")
        return None, problems
    case = envelope.WhichOneof("event")
    if case is None:
        problems.append("value carries no event")
        return envelope, problems
    event_type = envelope.DESCRIPTOR.fields_by_name[case].message_type.full_name
    if headers["ce_type"] != event_type:
        problems.append(f"ce_type {headers['ce_type']!r} but the value holds {event_type}")
    meta = envelope.metadata
    if meta.event_id != headers["ce_id"]:
        problems.append(f"metadata.event_id {meta.event_id!r} is not ce_id {headers['ce_id']!r}")
    if meta.aggregate_id != key:
        problems.append(f"metadata.aggregate_id {meta.aggregate_id!r} is not the key {key!r}")
    if traceparent is not None and meta.traceparent and meta.traceparent != traceparent:
        problems.append("metadata.traceparent differs from the traceparent header")
    return envelope, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--topic-prefix", default="mom.", help="MOM_TOPIC_PREFIX of the platform")
    parser.add_argument("--topics", default="production,oee",
                        help="comma-separated domains (production, quality, maintenance, inventory, oee)")
    parser.add_argument("--group", default=f"python-example-{uuid.uuid4().hex[:8]}",
                        help="consumer group (default: a new one, reading from the beginning)")
    parser.add_argument("--work-unit", help="only messages with this key")
    parser.add_argument("--expect-count", type=int,
                        help="stop once the work unit's counts and an OEE period show this many units")
    parser.add_argument("--timeout", type=float, default=0,
                        help="seconds to wait at most (0: until Ctrl-C)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per message")
    args = parser.parse_args()
    if args.expect_count is not None and not args.work_unit:
        parser.error("--expect-count needs --work-unit")

    topics = [f"{args.topic_prefix}{name.strip()}.v1" for name in args.topics.split(",")]
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap_servers,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
    })
    consumer.subscribe(topics)
    print(f"subscribed to {', '.join(topics)} at {args.bootstrap_servers} as {args.group}",
          file=sys.stderr, flush=True)

    deadline = time.monotonic() + args.timeout if args.timeout else None
    seen_ids = set()
    counted = 0
    oee_total = None
    broken = 0
    try:
        while deadline is None or time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                # A topic that does not exist yet is normal before the first event; say so once.
                if message.error().code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    print(f"kafka: {message.error()}", file=sys.stderr, flush=True)
                continue
            key = (message.key() or b"").decode("utf-8", "replace")
            if args.work_unit and key != args.work_unit:
                continue
            headers = {k: (v or b"").decode("utf-8", "replace") for k, v in (message.headers() or [])}
            envelope, problems = check(key, headers, message.value() or b"")
            ce_id = headers.get("ce_id")
            if ce_id in seen_ids:
                print(f"duplicate {ce_id} skipped (delivery is at least once)", file=sys.stderr)
                continue
            seen_ids.add(ce_id)
            broken += bool(problems)
            case = envelope.WhichOneof("event") if envelope is not None else None
            event = getattr(envelope, case) if case else None
            record = {
                "topic": message.topic(),
                "partition": message.partition(),
                "offset": message.offset(),
                "key": key,
                "headers": headers,
                "metadata": json_format.MessageToDict(envelope.metadata, preserving_proto_field_name=True)
                if envelope is not None else None,
                "event": json_format.MessageToDict(event, preserving_proto_field_name=True)
                if event is not None else None,
                "problems": problems,
            }
            if args.json:
                print(json.dumps(record), flush=True)
            else:
                status = "ok" if not problems else "BROKEN: " + "; ".join(problems)
                print(f"{message.topic()} [{message.partition()}@{message.offset()}] key={key} "
                      f"{headers.get('ce_type')} {record['event']} headers {status}", flush=True)
            if case == "units_counted":
                counted += event.total
            if case == "oee_period_updated":
                oee_total = event.figures.total_count
            if (args.expect_count is not None and counted == args.expect_count
                    and oee_total == args.expect_count):
                print(f"done: {counted} units counted and an OEE period with total_count "
                      f"{oee_total} for {args.work_unit}", file=sys.stderr, flush=True)
                return 1 if broken else 0
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    if args.expect_count is not None:
        print(f"error: timed out after {args.timeout} s: counted {counted} of {args.expect_count} "
              f"units on the production topic, latest OEE total_count {oee_total}",
              file=sys.stderr)
        return 1
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
