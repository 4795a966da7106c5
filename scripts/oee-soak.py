#!/usr/bin/env python3
"""Soak of `mom dev`: the plant simulator at high speed over many simulated days, in legs.

Each leg runs `mom dev` (simulator on, SQLite in a fresh data directory, the simulator's clock
kept across restarts) until the OEE figures have advanced by days/legs simulated days (or
--max-leg-seconds passed), sampling the
process's RSS (/proc/<pid>/status) every few seconds, then stops it with SIGINT (a clean stop)
and starts it again without the plant (`--no-simulate`): the restart time is the time from the
start of the process to `GET /readyz` answering 200 (every log reader caught up with what the
logs held when it started), and the OEE engine's own load time is read from its log line
(`oee engine loaded ... rows_after_snapshot=... ms=...`). At the end it prints one line
per leg: the simulated day reached, RSS at the end of the leg and its peak, the stored OEE
inputs, the snapshot's size, the restart time and what the OEE load replayed.

    scripts/oee-soak.py --mom target/release/mom --days 60 --legs 6 --speed 20000

Memory and restart time should stay flat from leg to leg after the first (warm-up) leg. The
simulator keeps its clock across restarts but that clock runs on wall time: when the platform
cannot keep up with --speed, a restart moves the plant to where the clock got (up to the real
time). On a slow machine run one long leg (--legs 1 --max-leg-seconds N) and read the RSS
samples over simulated days; the restart after it is measured all the same.
"""

import argparse
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone


def rss_kib(pid):
    """Returns (VmRSS, VmHWM) of `pid` in KiB."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def sim_time(data_dir):
    """Returns how far the plant has got in the OEE figures: the median over work units of the
    end of their last hour with a count (the simulator's own clock runs ahead of the platform
    when the platform cannot keep up), or None before the first count."""
    path = os.path.join(data_dir, "projections.db")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        ends = sorted(row[0] for row in db.execute(
            "SELECT MAX(end_ms) FROM oee_periods WHERE granularity = 'hour' AND total_count > 0 "
            "GROUP BY equipment"))
        first = db.execute("SELECT MIN(start_ms) FROM oee_periods").fetchone()[0]
        db.close()
    except sqlite3.Error:
        return None
    if not ends or first is None:
        return None
    at = lambda ms: datetime.fromtimestamp(ms / 1000, timezone.utc)
    return at(first), at(ends[len(ends) // 2])


def ready(http):
    try:
        with urllib.request.urlopen(f"http://{http}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def stored(data_dir):
    """Returns (stored input rows, snapshot bytes, snapshot seq) of the OEE read model."""
    path = os.path.join(data_dir, "projections.db")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        rows = db.execute(
            "SELECT (SELECT COUNT(*) FROM oee_input_batches) + (SELECT COUNT(*) FROM oee_inputs)"
        ).fetchone()[0]
        snapshot = db.execute("SELECT LENGTH(state), seq FROM oee_snapshot").fetchone()
        db.close()
        return rows, (snapshot or (0, 0))[0], (snapshot or (0, 0))[1]
    except sqlite3.Error as err:
        return f"? ({err})", 0, 0


def start(args, data_dir, log_path, simulate):
    command = [
        args.mom, "dev",
        "--data-dir", data_dir,
        "--grpc-addr", "127.0.0.1:0",
        "--http-addr", args.http,
        "--seed", "7",
        "--sim-speed", str(args.speed),
        "--sim-backfill", f"{args.days}d",
    ]
    if not simulate:
        command.append("--no-simulate")
    env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"))
    log = open(log_path, "ab")
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    return process, started


def load_line(log_path, offset):
    """Returns the fields of the first `oee engine loaded` line after `offset` in the log."""
    with open(log_path, "rb") as f:
        f.seek(offset)
        for line in f:
            text = re.sub(r"\x1b\[[0-9;]*m", "", line.decode(errors="replace"))
            if "oee engine loaded" in text:
                fields = dict(re.findall(r"(\w+)=(\d+)", text))
                return {k: fields[k] for k in ("snapshot_seq", "rows_after_snapshot", "ms")
                        if k in fields}
    return {}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mom", default="target/release/mom")
    parser.add_argument("--days", type=int, default=60, help="simulated days in all")
    parser.add_argument("--legs", type=int, default=6, help="runs, each followed by a restart")
    parser.add_argument("--speed", type=float, default=20000, help="plant minutes per wall minute")
    parser.add_argument("--sample", type=float, default=5, help="seconds between RSS samples")
    parser.add_argument("--http", default="127.0.0.1:18080", help="HTTP address of mom dev")
    parser.add_argument("--data-dir", help="kept afterwards (default: a temporary directory)")
    parser.add_argument("--max-leg-seconds", type=float, default=1800)
    args = parser.parse_args()

    data_dir = args.data_dir or tempfile.mkdtemp(prefix="mom-soak-")
    os.makedirs(data_dir, exist_ok=True)
    log_path = os.path.join(data_dir, "mom-dev.log")
    print(f"data directory {data_dir}, log {log_path}", flush=True)
    legs = []
    caught_up = False
    for leg in range(args.legs):
        # Run the plant until the simulated clock has advanced by days/legs.
        process, _ = start(args, data_dir, log_path, simulate=True)
        progress = None
        while progress is None:
            if process.poll() is not None:
                sys.exit(f"mom dev exited with {process.returncode}; see {log_path}")
            time.sleep(0.5)
            progress = sim_time(data_dir)
        origin, now = progress
        target_days = (leg + 1) * args.days / args.legs
        peak = 0
        samples = []
        leg_start = time.monotonic()
        while True:
            time.sleep(args.sample)
            if process.poll() is not None:
                sys.exit(f"mom dev exited with {process.returncode}; see {log_path}")
            rss, hwm = rss_kib(process.pid)
            peak = max(peak, hwm)
            origin, now = sim_time(data_dir) or (origin, now)
            day = (now - origin).total_seconds() / 86400
            samples.append((round(time.monotonic() - leg_start), round(day, 2), rss // 1024))
            caught_up = now >= datetime.now(timezone.utc).replace(microsecond=0)
            if day >= target_days or caught_up or time.monotonic() - leg_start > args.max_leg_seconds:
                break
        rss, _ = rss_kib(process.pid)
        process.send_signal(signal.SIGINT)
        process.wait()
        wall = time.monotonic() - leg_start
        rows, snapshot_bytes, snapshot_seq = stored(data_dir)
        # Restart without the plant: the time until every reader has caught up, and the OEE
        # engine's load.
        offset = os.path.getsize(log_path)
        process, started = start(args, data_dir, log_path, simulate=False)
        while not ready(args.http):
            if process.poll() is not None:
                sys.exit(f"mom dev exited with {process.returncode}; see {log_path}")
            time.sleep(0.1)
        restart_s = time.monotonic() - started
        restart_rss, _ = rss_kib(process.pid)
        process.send_signal(signal.SIGINT)
        process.wait()
        legs.append({
            "leg": leg + 1,
            "sim_day": round(day, 1),
            "wall_s": round(wall),
            "rss_mib": rss // 1024,
            "peak_mib": peak // 1024,
            "input_rows": rows,
            "snapshot_kib": snapshot_bytes // 1024,
            "snapshot_seq": snapshot_seq,
            "restart_s": restart_s,
            "restart_rss_mib": restart_rss // 1024,
            "load": load_line(log_path, offset),
            "samples": samples,
        })
        print(json.dumps({k: v for k, v in legs[-1].items() if k != "samples"}), flush=True)
        if caught_up:
            break

    print()
    print("| leg | simulated day | wall s | RSS at end MiB | peak RSS MiB | stored OEE input rows "
          "| snapshot KiB | restart to ready s | RSS after restart MiB "
          "| OEE load: rows after snapshot, ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for entry in legs:
        load = entry.get("load", {})
        print(f"| {entry['leg']} | {entry['sim_day']} | {entry['wall_s']} | {entry['rss_mib']} "
              f"| {entry['peak_mib']} | {entry['input_rows']} | {entry['snapshot_kib']} "
              f"| {entry['restart_s']:.1f} | {entry['restart_rss_mib']} "
              f"| {load.get('rows_after_snapshot', '?')}, {load.get('ms', '?')} |")
    print()
    print("RSS over the run (every sample of each leg; wall seconds into the leg, simulated day, "
          "RSS MiB):")
    for entry in legs:
        print(f"leg {entry['leg']}: " + ", ".join(
            f"{wall}s/d{day}/{rss}" for wall, day, rss in entry["samples"]))
    with open(os.path.join(data_dir, "soak.json"), "w") as f:
        json.dump(legs, f, indent=1)


if __name__ == "__main__":
    main()
