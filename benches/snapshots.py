#!/usr/bin/env python3
"""Snapshot and restore figures: a `blueshift dev` cluster (release build) taking a full, an
unchanged and a 1%-changed snapshot into a local folder, then restoring it onto the same
and onto another topology, with DuckDB's EXPORT DATABASE / IMPORT DATABASE (Parquet) of
the same rows measured in the same run. Restored row counts and sums are checked against
the source.

    pip install duckdb 'psycopg[binary]'
    cargo build --release --bin blueshift
    python3 benches/snapshots.py [--rows 5000000] [--bin PATH]
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import duckdb
import psycopg

from first_figures import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "blueshift")

SETUP = [
    "CREATE TABLE f (id BIGINT, cust INTEGER, amount DECIMAL(12,2), note VARCHAR(32))",
    "INSERT INTO f SELECT value, CAST(value % 100000 AS INTEGER), value % 100000 * 0.01, "
    "'n' || CAST(value % 997 AS VARCHAR) FROM generate_series(1, {n}) AS v(value)",
    "CREATE TABLE c (cust INTEGER, name VARCHAR(20))",
    "INSERT INTO c SELECT CAST(value AS INTEGER), 'c' || CAST(value AS VARCHAR) "
    "FROM generate_series(1, 100000) AS v(value)",
]
CHANGE = ("INSERT INTO f SELECT value, 7, 1.00, 'late' "
          "FROM generate_series({lo}, {hi}) AS v(value)")
CHECK = "SELECT count(*), sum(id), sum(amount) FROM f"


def dir_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def start_dev(binary, data, extra=(), env=None):
    port = free_port()
    dev = subprocess.Popen(
        [binary, "dev", "--port", str(port), "--data-dir", data, *extra],
        stdout=subprocess.PIPE, text=True,
        env={**os.environ, "BLUESHIFT_LOG": "warn", **(env or {})},
    )
    for line in dev.stdout:
        if "psql" in line:
            break
    conn = psycopg.connect(host="127.0.0.1", port=port, user="admin", dbname="dev",
                           autocommit=True)
    return dev, port, conn


def stop(dev):
    dev.send_signal(signal.SIGTERM)
    dev.wait(timeout=60)


def cli(binary, *args, env=None):
    t0 = time.perf_counter()
    out = subprocess.run([binary, *args], capture_output=True, text=True, check=True,
                         env={**os.environ, "BLUESHIFT_LOG": "warn", **(env or {})})
    return time.perf_counter() - t0, out.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--bin", default=BIN)
    args = ap.parse_args()
    n = args.rows
    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} is missing: cargo build --release --bin blueshift")
    work = tempfile.mkdtemp(prefix="blueshift-bench-")
    snaps = os.path.join(work, "snaps")
    env = {"BLUESHIFT_SNAPSHOTS_LOCATION": snaps, "BLUESHIFT_SNAPSHOTS_AUTOMATED": "false"}
    fig = {}
    try:
        dev, port, conn = start_dev(args.bin, os.path.join(work, "src"),
                                    ["--nodes", "2", "--slices-per-node", "2"], env)
        try:
            cur = conn.cursor()
            for sql in SETUP:
                if sql.startswith("CREATE TABLE f"):
                    sql += " DISTKEY(id) SORTKEY(id)"
                cur.execute(sql.replace(" AS v(value)", "").format(n=n))
            snap = ["--port", str(port)]
            for name in ["full", "unchanged"]:
                t, out = cli(args.bin, "snapshot", "create", name, "--json", *snap, env=env)
                fig[name] = (t, json.loads(out)["bytes_uploaded"])
            cur.execute(CHANGE.replace(" AS v(value)", "").format(lo=n + 1, hi=n + n // 100))
            t, out = cli(args.bin, "snapshot", "create", "changed", "--json", *snap, env=env)
            fig["changed"] = (t, json.loads(out)["bytes_uploaded"])
            cur.execute(CHECK)
            source = cur.fetchall()
        finally:
            stop(dev)
        for label, topo in [("restore, same 2x2", []),
                            ("restore, re-placed onto 1x3", ["--nodes", "1",
                                                             "--slices-per-node", "3"])]:
            dest = os.path.join(work, label.split()[-1].replace("x", "by"))
            t, _ = cli(args.bin, "restore", "--snapshot", "changed", "--location", snaps,
                       "--data-dir", dest, "--json", *topo, env=env)
            dev, _, conn = start_dev(args.bin, dest, env=env)
            try:
                cur = conn.cursor()
                cur.execute(CHECK)
                got = cur.fetchall()
            finally:
                stop(dev)
            if [tuple(map(float, r)) for r in got] != [tuple(map(float, r)) for r in source]:
                sys.exit(f"{label}: restored {got}, source {source}")
            fig[label] = (t, dir_bytes(dest))

        # DuckDB: the same rows in a database file, exported and imported as Parquet.
        dbfile = os.path.join(work, "duck.db")
        db = duckdb.connect(dbfile)
        for sql in SETUP:
            db.execute(sql.format(n=n))
        duck = {}
        for name in ["full", "unchanged"]:
            out = os.path.join(work, f"duck-{name}")
            t0 = time.perf_counter()
            db.execute(f"EXPORT DATABASE '{out}' (FORMAT parquet)")
            duck[name] = (time.perf_counter() - t0, dir_bytes(out))
        db.execute(CHANGE.format(lo=n + 1, hi=n + n // 100))
        out = os.path.join(work, "duck-changed")
        t0 = time.perf_counter()
        db.execute(f"EXPORT DATABASE '{out}' (FORMAT parquet)")
        duck["changed"] = (time.perf_counter() - t0, dir_bytes(out))
        source_duck = db.execute(CHECK).fetchall()
        db.close()
        new = duckdb.connect(os.path.join(work, "duck-restored.db"))
        t0 = time.perf_counter()
        new.execute(f"IMPORT DATABASE '{out}'")
        duck["restore"] = (time.perf_counter() - t0, os.path.getsize(os.path.join(work, "duck-restored.db")))
        if new.execute(CHECK).fetchall() != source_duck:
            sys.exit("DuckDB's import differs")
        new.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mb = lambda b: b / 1e6
    print(f"rows in f: {n:,} (+1% for 'changed'), c: 100,000; cluster 2 nodes x 2 slices "
          f"(release build), local folder; DuckDB {duckdb.__version__}")
    print(f"{'step':<34}{'Blueshift s':>12}{'MB written':>12}{'DuckDB s':>10}{'MB written':>12}"
          f"   DuckDB step")
    rows = [
        ("snapshot, first (full)", fig["full"], duck["full"], "EXPORT DATABASE"),
        ("snapshot, unchanged cluster", fig["unchanged"], duck["unchanged"], "EXPORT DATABASE again"),
        ("snapshot, after +1% rows", fig["changed"], duck["changed"], "EXPORT DATABASE again"),
        ("restore, same 2x2", fig["restore, same 2x2"], duck["restore"], "IMPORT DATABASE"),
        ("restore, re-placed onto 1x3", fig["restore, re-placed onto 1x3"], None, ""),
    ]
    for label, (bt, bb), d, how in rows:
        dd = f"{d[0]:>10.2f}{mb(d[1]):>12.1f}" if d else f"{'':>10}{'':>12}"
        print(f"{label:<34}{bt:>12.2f}{mb(bb):>12.1f}{dd}   {how}")
    print("(Blueshift times are the operator command end to end; snapshot MB = bytes "
          "uploaded, restore MB = the new data folder; restored answers checked equal)")


if __name__ == "__main__":
    main()
