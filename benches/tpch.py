#!/usr/bin/env python3
"""TPC-H query benchmark: the 22 queries (tests/tpch/queries) on a `blueshift dev` cluster
(release build, 2 nodes x 2 slices by default), beside DuckDB (Python package, 2 threads,
native tables loaded from the same files) in the same run. Both engines load with COPY
from the same CSV files; each query runs once to warm up, then 3 times, and the median
counts. Blueshift runs the queries on the tuned schema (tests/tpch/schema_tuned.sql:
DISTKEYs on the join keys, small tables DISTSTYLE ALL, date sort keys) and on the
all-EVEN one (schema_even.sql).

    pip install duckdb 'psycopg[binary]'
    cargo build --release -p blueshift -p tpch-gen
    python3 benches/tpch.py [--sf 1] [--nodes 2 --slices 2] [--queries 1,3,18]

SF10 with --sf 10. Prints seconds per query and in total with the ratio (ours / DuckDB's
time; below 1 means faster than DuckDB).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import duckdb
import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tpch_load import BIN, GEN, ROOT, PASSWORD, free_port, timed  # noqa: E402

TPCH = os.path.join(ROOT, "tests", "tpch")
TABLES = ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]
RUNS = 3


def statements(path):
    text = "\n".join(l for l in open(path).read().splitlines() if not l.strip().startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


def query(q):
    return statements(os.path.join(TPCH, "queries", f"q{q:02}.sql"))[0]


def start_cluster(data, nodes, slices):
    port = free_port()
    dev = subprocess.Popen(
        [BIN, "dev", "--port", str(port), "--data-dir", data, "--nodes", str(nodes),
         "--slices-per-node", str(slices)],
        stdout=subprocess.PIPE, text=True,
        env={**os.environ, "BLUESHIFT_LOG": "warn", "BLUESHIFT_LEADER_ADMIN_PASSWORD": PASSWORD},
    )
    for line in dev.stdout:
        if line.startswith("Connect with"):
            break
    else:
        sys.exit("blueshift dev did not start")
    return dev, port


def median_time(run):
    run()  # warm-up
    return statistics.median(timed(run) for _ in range(RUNS))


def bench_blueshift(conn, schema, csv, queries):
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
        cur.execute(f"SET search_path TO {schema}")
        for stmt in statements(os.path.join(TPCH, f"schema_{schema}.sql")):
            cur.execute(stmt)
        load = timed(lambda: [cur.execute(f"COPY {t} FROM '{csv[t]}' CSV IGNOREHEADER 1") for t in TABLES])
        times = {}
        for q in queries:
            sql = query(q)

            def run():
                cur.execute(sql)
                cur.fetchall()
            times[q] = median_time(run)
            print(f"  blueshift {schema} q{q:02}: {times[q]:.3f} s", flush=True)
    return load, times


def bench_duckdb(csv, queries):
    db = duckdb.connect()
    db.execute("SET threads = 2")
    for stmt in statements(os.path.join(TPCH, "schema.sql")):
        db.execute(stmt)
    load = timed(lambda: [db.execute(f"COPY {t} FROM '{csv[t]}' (FORMAT csv, HEADER true)") for t in TABLES])
    times = {}
    for q in queries:
        sql = query(q)
        times[q] = median_time(lambda: db.execute(sql).fetchall())
        print(f"  duckdb q{q:02}: {times[q]:.3f} s", flush=True)
    db.close()
    return load, times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sf", type=float, default=1.0)
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--slices", type=int, default=2)
    ap.add_argument("--queries", default=",".join(str(q) for q in range(1, 23)))
    args = ap.parse_args()
    queries = [int(q) for q in args.queries.split(",")]
    for b in (BIN, GEN):
        if not os.path.exists(b):
            sys.exit(f"{b} is missing: cargo build --release -p blueshift -p tpch-gen")
    sf_name = f"{args.sf:g}"
    data_dir = os.path.join(ROOT, "benches", ".data", f"sf{sf_name}")
    if not os.path.exists(os.path.join(data_dir, "csv", "region.csv")):
        print(f"generating TPC-H SF{sf_name} into {data_dir} ...", flush=True)
        subprocess.run([GEN, "--sf", str(args.sf), "--out", data_dir], check=True)
    csv = {t: os.path.join(data_dir, "csv", f"{t}.csv") for t in TABLES}

    duck_load, duck = bench_duckdb(csv, queries)
    work = tempfile.mkdtemp(prefix="blueshift-tpch-")
    dev, port = start_cluster(os.path.join(work, "cluster"), args.nodes, args.slices)
    try:
        conn = psycopg.connect(f"host=127.0.0.1 port={port} user=admin dbname=dev", autocommit=True)
        tuned_load, tuned = bench_blueshift(conn, "tuned", csv, queries)
        even_load, even = bench_blueshift(conn, "even", csv, queries)
        conn.close()
    finally:
        dev.terminate()
        dev.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nTPC-H SF{sf_name}, median of {RUNS} after a warm-up, seconds; 2 cores; Blueshift "
          f"{args.nodes} nodes x {args.slices} slices; DuckDB {duckdb.__version__}, 2 threads")
    print(f"{'query':<6} | {'tuned':>8} {'even':>8} | {'DuckDB':>8} | {'tuned/DuckDB':>12} {'even/DuckDB':>11}")
    for q in queries:
        print(f"q{q:02}    | {tuned[q]:>8.3f} {even[q]:>8.3f} | {duck[q]:>8.3f} | "
              f"{tuned[q] / duck[q]:>12.2f} {even[q] / duck[q]:>11.2f}")
    t, e, d = sum(tuned.values()), sum(even.values()), sum(duck.values())
    print(f"{'total':<6} | {t:>8.3f} {e:>8.3f} | {d:>8.3f} | {t / d:>12.2f} {e / d:>11.2f}")
    print(f"load (COPY CSV) s: tuned {tuned_load:.1f}, even {even_load:.1f}, DuckDB {duck_load:.1f}")


if __name__ == "__main__":
    main()
