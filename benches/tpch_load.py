#!/usr/bin/env python3
"""TPC-H load benchmark: COPY the eight TPC-H tables (CSV, then Parquet) into a
`blueshift dev` cluster (release build, 2 nodes x 2 slices), and load the same files into
DuckDB in the same run; then UNLOAD lineitem and let DuckDB export it the same way.

    pip install duckdb 'psycopg[binary]'
    cargo build --release -p blueshift -p tpch-gen
    python3 benches/tpch_load.py [--sf 1]

The data is generated once with the tpchgen crates (benches/tpch-gen) into
benches/.data/sf<N>/{csv,parquet}; each engine reads those same files from local disk.
Prints rows, input MB, seconds and MB/s per table and in total, side by side with the ratio
(ours / DuckDB's rate; above 1 means faster).
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import duckdb
import psycopg

# The benchmark cluster's admin password; psycopg and the blueshift command read PGPASSWORD.
PASSWORD = os.environ.setdefault("PGPASSWORD", "Bench-Admin-1")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "blueshift")
GEN = os.path.join(ROOT, "target", "release", "tpch-gen")

# Redshift-style DDL: distribution and sort keys as the TPC-H-on-Redshift guides pick them.
TABLES = {
    "region": ("(r_regionkey BIGINT NOT NULL, r_name VARCHAR(25), r_comment VARCHAR(152))", "DISTSTYLE ALL"),
    "nation": ("(n_nationkey BIGINT NOT NULL, n_name VARCHAR(25), n_regionkey BIGINT, n_comment VARCHAR(152))", "DISTSTYLE ALL"),
    "supplier": ("(s_suppkey BIGINT NOT NULL, s_name VARCHAR(25), s_address VARCHAR(40), s_nationkey BIGINT, "
                 "s_phone VARCHAR(15), s_acctbal DECIMAL(15,2), s_comment VARCHAR(101))", "DISTKEY(s_suppkey)"),
    "customer": ("(c_custkey BIGINT NOT NULL, c_name VARCHAR(25), c_address VARCHAR(40), c_nationkey BIGINT, "
                 "c_phone VARCHAR(15), c_acctbal DECIMAL(15,2), c_mktsegment VARCHAR(10), c_comment VARCHAR(117))",
                 "DISTKEY(c_custkey)"),
    "part": ("(p_partkey BIGINT NOT NULL, p_name VARCHAR(55), p_mfgr VARCHAR(25), p_brand VARCHAR(10), "
             "p_type VARCHAR(25), p_size INT, p_container VARCHAR(10), p_retailprice DECIMAL(15,2), "
             "p_comment VARCHAR(23))", "DISTKEY(p_partkey)"),
    "partsupp": ("(ps_partkey BIGINT NOT NULL, ps_suppkey BIGINT NOT NULL, ps_availqty INT, "
                 "ps_supplycost DECIMAL(15,2), ps_comment VARCHAR(199))", "DISTKEY(ps_partkey)"),
    "orders": ("(o_orderkey BIGINT NOT NULL, o_custkey BIGINT, o_orderstatus VARCHAR(1), o_totalprice DECIMAL(15,2), "
               "o_orderdate DATE, o_orderpriority VARCHAR(15), o_clerk VARCHAR(15), o_shippriority INT, "
               "o_comment VARCHAR(79))", "DISTKEY(o_orderkey) SORTKEY(o_orderdate)"),
    "lineitem": ("(l_orderkey BIGINT NOT NULL, l_partkey BIGINT, l_suppkey BIGINT, l_linenumber INT, "
                 "l_quantity DECIMAL(15,2), l_extendedprice DECIMAL(15,2), l_discount DECIMAL(15,2), "
                 "l_tax DECIMAL(15,2), l_returnflag VARCHAR(1), l_linestatus VARCHAR(1), l_shipdate DATE, "
                 "l_commitdate DATE, l_receiptdate DATE, l_shipinstruct VARCHAR(25), l_shipmode VARCHAR(10), "
                 "l_comment VARCHAR(44))", "DISTKEY(l_orderkey) SORTKEY(l_shipdate)"),
}
ORDER = ["lineitem", "orders", "partsupp", "part", "customer", "supplier", "nation", "region"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def folder_bytes(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(dirpath, f))
    return total


def start_cluster(data):
    port = free_port()
    dev = subprocess.Popen(
        [BIN, "dev", "--port", str(port), "--data-dir", data, "--nodes", "2", "--slices-per-node", "2"],
        stdout=subprocess.PIPE, env={**os.environ, "BLUESHIFT_LOG": "warn", "BLUESHIFT_LEADER_ADMIN_PASSWORD": PASSWORD}, text=True,
    )
    for line in dev.stdout:
        if line.startswith("Connect with"):
            break
    else:
        sys.exit("blueshift dev did not start")
    return dev, port


def load_blueshift(conn, files, kind):
    times = {}
    with conn.cursor() as cur:
        for t in ORDER:
            cur.execute(f"DROP TABLE IF EXISTS {t}")
            cols, attrs = TABLES[t]
            cur.execute(f"CREATE TABLE {t} {cols} {attrs}")
            option = "CSV IGNOREHEADER 1" if kind == "csv" else "FORMAT AS PARQUET"
            times[t] = timed(lambda: cur.execute(f"COPY {t} FROM '{files[t]}' {option}"))
            cur.execute(f"SELECT count(*) FROM {t}")
            times[t] = (times[t], cur.fetchone()[0])
    return times


def load_duckdb(db, files, kind):
    times = {}
    for t in ORDER:
        db.execute(f"DROP TABLE IF EXISTS {t}")
        db.execute(f"CREATE TABLE {t} {TABLES[t][0]}")
        if kind == "csv":
            sql = f"COPY {t} FROM '{files[t]}' (FORMAT csv, HEADER true)"
        else:
            sql = f"COPY {t} FROM '{files[t]}' (FORMAT parquet)"
        times[t] = timed(lambda: db.execute(sql))
        times[t] = (times[t], db.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
    return times


def report(title, files, ours, theirs):
    print(f"\n{title}")
    print(f"{'table':<10} {'rows':>10} {'input MB':>9} | {'Blueshift s':>11} {'MB/s':>7} | "
          f"{'DuckDB s':>9} {'MB/s':>7} | {'ratio':>5}")
    tot_mb = tot_ours = tot_theirs = 0.0
    tot_rows = 0
    for t in ORDER:
        mb = os.path.getsize(files[t]) / 1e6
        (s_ours, rows), (s_theirs, rows_duck) = ours[t], theirs[t]
        assert rows == rows_duck, f"{t}: {rows} rows in Blueshift, {rows_duck} in DuckDB"
        tot_mb += mb
        tot_ours += s_ours
        tot_theirs += s_theirs
        tot_rows += rows
        print(f"{t:<10} {rows:>10} {mb:>9.1f} | {s_ours:>11.2f} {mb / s_ours:>7.1f} | "
              f"{s_theirs:>9.2f} {mb / s_theirs:>7.1f} | {s_theirs / s_ours:>5.2f}")
    print(f"{'total':<10} {tot_rows:>10} {tot_mb:>9.1f} | {tot_ours:>11.2f} {tot_mb / tot_ours:>7.1f} | "
          f"{tot_theirs:>9.2f} {tot_mb / tot_theirs:>7.1f} | {tot_theirs / tot_ours:>5.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sf", type=float, default=1.0)
    args = ap.parse_args()
    for b in (BIN, GEN):
        if not os.path.exists(b):
            sys.exit(f"{b} is missing: cargo build --release -p blueshift -p tpch-gen")
    sf_name = f"{args.sf:g}"
    data_dir = os.path.join(ROOT, "benches", ".data", f"sf{sf_name}")
    if not os.path.exists(os.path.join(data_dir, "parquet", "region.parquet")):
        print(f"generating TPC-H SF{sf_name} into {data_dir} ...", flush=True)
        t = timed(lambda: subprocess.run([GEN, "--sf", str(args.sf), "--out", data_dir], check=True))
        print(f"  generated in {t:.1f} s")
    csv = {t: os.path.join(data_dir, "csv", f"{t}.csv") for t in ORDER}
    pq = {t: os.path.join(data_dir, "parquet", f"{t}.parquet") for t in ORDER}

    work = tempfile.mkdtemp(prefix="blueshift-tpch-")
    dev, port = start_cluster(os.path.join(work, "cluster"))
    try:
        conn = psycopg.connect(f"host=127.0.0.1 port={port} user=admin dbname=dev", autocommit=True)
        duck_path = os.path.join(work, "duck.db")
        duck = duckdb.connect(duck_path)
        duck.execute("SET threads = 2")

        ours_csv = load_blueshift(conn, csv, "csv")
        duck_csv = load_duckdb(duck, csv, "csv")
        report(f"COPY from CSV, TPC-H SF{sf_name} (2 cores; Blueshift 2 nodes x 2 slices)", csv, ours_csv, duck_csv)

        ours_pq = load_blueshift(conn, pq, "parquet")
        duck_pq = load_duckdb(duck, pq, "parquet")
        report(f"COPY from Parquet, TPC-H SF{sf_name}", pq, ours_pq, duck_pq)
        duck.execute("CHECKPOINT")
        with conn.cursor() as cur:
            cur.execute("SELECT sum(size) FROM svv_table_info")
            stored = cur.fetchone()[0]
        print(f"\nstored size: Blueshift {stored:.0f} MB, DuckDB file {os.path.getsize(duck_path) / 1e6:.0f} MB")

        print("\nUNLOAD lineitem (output MB/s)")
        print(f"{'format':<8} | {'Blueshift s':>11} {'MB':>7} {'MB/s':>7} | {'DuckDB s':>9} {'MB':>7} {'MB/s':>7}")
        for fmt, ours_opt, duck_opt in [("parquet", "FORMAT PARQUET", "(FORMAT parquet, COMPRESSION zstd)"),
                                        ("csv", "FORMAT CSV", "(FORMAT csv)")]:
            out = os.path.join(work, f"unload-{fmt}")
            os.makedirs(out)
            with conn.cursor() as cur:
                s_ours = timed(lambda: cur.execute(f"UNLOAD ('SELECT * FROM lineitem') TO '{out}/ours_' {ours_opt}"))
            mb_ours = folder_bytes(out) / 1e6
            duck_file = os.path.join(work, f"duck-lineitem.{fmt}")
            s_duck = timed(lambda: duck.execute(f"COPY lineitem TO '{duck_file}' {duck_opt}"))
            mb_duck = os.path.getsize(duck_file) / 1e6
            print(f"{fmt:<8} | {s_ours:>11.2f} {mb_ours:>7.0f} {mb_ours / s_ours:>7.1f} | "
                  f"{s_duck:>9.2f} {mb_duck:>7.0f} {mb_duck / s_duck:>7.1f}")
        conn.close()
        duck.close()
    finally:
        dev.terminate()
        dev.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
