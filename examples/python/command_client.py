#!/usr/bin/env python3
"""Issues production commands over gRPC and reads the result back.

Registers a work unit, reports it running and reports a count (mom.production.v1.ProductionService
RegisterWorkUnit, ReportRunning, ReportCount), then reads the work unit back with GetWorkUnit.
Every call has a deadline and carries a W3C `traceparent`, so the events it causes can be found on
the topic (their `traceparent` header has the same trace id). With authentication on (`mom serve`
without `--auth-disabled`), set MOM_API_KEY to an API key whose roles allow those calls
(supervisor, or planner + operator); `mom dev` on loopback needs none.

    python command_client.py --address 127.0.0.1:50051 --work-unit site1.area1.line1.press --count 5
"""

import argparse
import datetime
import json
import os
import secrets
import sys
import uuid

import grpc
from google.protobuf import timestamp_pb2

import mom_stubs

mom_stubs.add_to_path()

from mom.production.v1 import service_pb2 as pb  # noqa: E402
from mom.production.v1 import service_pb2_grpc  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default=os.environ.get("MOM_PRODUCTION_ADDR", "127.0.0.1:50051"),
                        help="production service host:port (default: $MOM_PRODUCTION_ADDR or 127.0.0.1:50051)")
    parser.add_argument("--work-unit", default=f"site1.area1.line1.example-{uuid.uuid4().hex[:8]}",
                        help="ISA-95 id of the work unit to register (default: a new one)")
    parser.add_argument("--product", default="widget", help="product the work unit runs")
    parser.add_argument("--count", type=int, default=5, help="units to report")
    parser.add_argument("--deadline", type=float, default=5.0, help="seconds each call may take")
    parser.add_argument("--json", action="store_true", help="print one JSON object per step")
    args = parser.parse_args()

    metadata = []
    api_key = os.environ.get("MOM_API_KEY")
    if api_key:
        metadata.append(("x-api-key", api_key))
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    metadata.append(("traceparent", traceparent))

    def report(step: str, **fields) -> None:
        if args.json:
            print(json.dumps({"step": step, **fields}), flush=True)
        else:
            print(f"{step}: " + ", ".join(f"{k}={v}" for k, v in fields.items()), flush=True)

    def now() -> timestamp_pb2.Timestamp:
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(datetime.datetime.now(datetime.timezone.utc))
        return stamp

    run = uuid.uuid4().hex

    def context(step: str) -> pb.CommandContext:
        # The idempotency key makes a retry after a lost reply safe: the service answers it with
        # the first reply and stores nothing twice. No `actor`: the service records the verified
        # caller (the API key's name) and refuses to let a caller name someone else.
        return pb.CommandContext(idempotency_key=f"{run}-{step}")

    report("connect", address=args.address, work_unit=args.work_unit, traceparent=traceparent,
           authenticated=bool(api_key))
    with grpc.insecure_channel(args.address) as channel:
        client = service_pb2_grpc.ProductionServiceStub(channel)
        try:
            reply = client.RegisterWorkUnit(
                pb.RegisterWorkUnitRequest(context=context("register"), work_unit=args.work_unit,
                                           name=f"Example {args.work_unit}", at=now()),
                timeout=args.deadline, metadata=metadata)
            report("RegisterWorkUnit", aggregate_id=reply.aggregate_id, version=reply.version)
            reply = client.ReportRunning(
                pb.ReportRunningRequest(context=context("running"), work_unit=args.work_unit,
                                        product=args.product, at=now()),
                timeout=args.deadline, metadata=metadata)
            report("ReportRunning", aggregate_id=reply.aggregate_id, version=reply.version)
            reply = client.ReportCount(
                pb.ReportCountRequest(context=context("count"), work_unit=args.work_unit,
                                      product=args.product, total=args.count, at=now()),
                timeout=args.deadline, metadata=metadata)
            report("ReportCount", aggregate_id=reply.aggregate_id, version=reply.version,
                   total=args.count)
            unit = client.GetWorkUnit(pb.GetWorkUnitRequest(work_unit=args.work_unit),
                                      timeout=args.deadline, metadata=metadata)
        except grpc.RpcError as err:
            # err.code() is DEADLINE_EXCEEDED when the deadline passed, UNAUTHENTICATED without a
            # valid key, PERMISSION_DENIED when the key's roles do not allow the call.
            print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)
            return 1
    report("GetWorkUnit", work_unit=unit.work_unit, name=unit.name,
           state=pb.WorkUnitState.Name(unit.state), current_product=unit.current_product,
           total_count=unit.total_count, version=unit.version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
