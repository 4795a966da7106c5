#!/usr/bin/env python3
"""Generates the Python protobuf and gRPC stubs of every `.proto` file under the repository's
`proto/` directory with the protoc bundled in grpcio-tools (no protoc binary needed).

    python generate_stubs.py                 # into ./generated
    python generate_stubs.py --out /tmp/mom  # anywhere else (then set MOM_STUBS_DIR)
"""

import argparse
import pathlib
import sys

from grpc_tools import protoc
import grpc_tools

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_PROTO = HERE.parent.parent / "proto"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proto", type=pathlib.Path, default=DEFAULT_PROTO,
                        help="the proto/ directory (default: the repository's)")
    parser.add_argument("--out", type=pathlib.Path, default=HERE / "generated",
                        help="where the stubs go (default: ./generated)")
    args = parser.parse_args()

    files = sorted(str(p.relative_to(args.proto)) for p in (args.proto / "mom").rglob("*.proto"))
    if not files:
        print(f"error: no .proto files under {args.proto / 'mom'}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    # google/protobuf/*.proto (Timestamp, Duration) ship inside grpcio-tools.
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    code = protoc.main([
        "grpc_tools.protoc",
        f"-I{args.proto}",
        f"-I{well_known}",
        f"--python_out={args.out}",
        f"--grpc_python_out={args.out}",
        *files,
    ])
    if code != 0:
        print(f"error: protoc failed with exit code {code}", file=sys.stderr)
        return code
    print(f"generated stubs for {len(files)} proto files into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
