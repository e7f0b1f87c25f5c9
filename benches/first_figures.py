#!/usr/bin/env python3
"""First figures: load and query speed of a `blueshift dev` cluster (release build), with
DuckDB measured on the same rows in the same run.

    pip install duckdb 'psycopg[binary]'
    cargo build --release --bin blueshift
    python3 benches/first_figures.py [--rows 10000000]

Prints rows/s of INSERT ... SELECT ... FROM generate_series into a KEY-distributed table,
of INSERT ... SELECT from that table into one distributed on another key, and of an UPDATE
of every row; seconds for a GROUP BY and for a selective sort-key range query (best of
3); beside DuckDB's figures for the same statements and the ratio. Also the leader's peak
memory (VmHWM), which the table-to-table writes should not raise: their rows move between
the compute nodes. `--bin PATH` measures another build.
"""
import argparse
import os
import shutil
import signal
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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def leader_pid(port):
    """The `blueshift leader` process serving `port` (a child of `dev`)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if b"leader" in args and str(port).encode() in args:
            return int(pid)
    sys.exit("leader process not found")


def peak_kib(pid):
    """Peak resident memory of a process so far (VmHWM), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def best_of(n, fn):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--bin", default=BIN)
    args = ap.parse_args()
    n = args.rows
    bin_path = args.bin
    if not os.path.exists(bin_path):
        sys.exit(f"{BIN} is missing: cargo build --release --bin blueshift")

    data = tempfile.mkdtemp(prefix="blueshift-bench-")
    port = free_port()
    dev = subprocess.Popen(
        [bin_path, "dev", "--port", str(port), "--data-dir", data, "--nodes", "2", "--slices-per-node", "2"],
        stdout=subprocess.PIPE, env={**os.environ, "BLUESHIFT_LOG": "warn", "BLUESHIFT_LEADER_ADMIN_PASSWORD": PASSWORD}, text=True,
    )
    try:
        for line in dev.stdout:
            if "psql" in line:
                break
        conn = psycopg.connect(host="127.0.0.1", port=port, user="admin", dbname="dev", autocommit=True)
        cur = conn.cursor()
        cur.execute("CREATE TABLE t (id BIGINT, g INTEGER, x BIGINT) DISTSTYLE KEY DISTKEY(id) SORTKEY(id)")
        load_sql = (
            "INSERT INTO t SELECT value, CAST(value % 1000 AS INTEGER), value * 7 % 10007 "
            f"FROM generate_series(1, {n})"
        )
        t0 = time.perf_counter()
        cur.execute(load_sql)
        load_s = time.perf_counter() - t0
        leader = leader_pid(port)
        hwm_after_load = peak_kib(leader)

        cur.execute("CREATE TABLE t2 (id BIGINT, g INTEGER, x BIGINT) DISTSTYLE KEY DISTKEY(x)")
        t0 = time.perf_counter()
        cur.execute("INSERT INTO t2 SELECT id, g, x FROM t")
        copy_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        cur.execute("UPDATE t2 SET g = g + 1")
        update_s = time.perf_counter() - t0
        hwm_after_writes = peak_kib(leader)
        cur.execute("SELECT count(*), sum(g) FROM t2")
        bs_t2 = cur.fetchone()

        group_sql = "SELECT g, count(*), sum(x) FROM t GROUP BY g"
        lo, hi = n // 2, n // 2 + n // 100
        range_sql = f"SELECT count(*), sum(x) FROM t WHERE id BETWEEN {lo} AND {hi}"

        def run(sql):
            cur.execute(sql)
            return cur.fetchall()

        bs_group = best_of(3, lambda: run(group_sql))
        bs_range = best_of(3, lambda: run(range_sql))
        bs_range_rows = run(range_sql)
        cur.execute("EXPLAIN ANALYZE " + range_sql)
        scan = [r[0].strip() for r in cur.fetchall() if "SliceScanExec" in r[0]]
        cur.execute("SELECT blocks, size FROM svv_table_info WHERE \"table\" = 't'")
        blocks, size_mb = cur.fetchone()
        conn.close()
    finally:
        dev.send_signal(signal.SIGTERM)
        dev.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)

    db = duckdb.connect()
    t0 = time.perf_counter()
    db.execute(f"CREATE TABLE t AS SELECT range AS id, CAST(range % 1000 AS INTEGER) AS g, range * 7 % 10007 AS x FROM range(1, {n + 1})")
    duck_load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    db.execute("CREATE TABLE t2 AS SELECT id, g, x FROM t")
    duck_copy_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    db.execute("UPDATE t2 SET g = g + 1")
    duck_update_s = time.perf_counter() - t0
    assert db.execute("SELECT count(*), sum(g) FROM t2").fetchone() == tuple(bs_t2), "t2 differs"
    duck_group = best_of(3, lambda: db.execute(group_sql).fetchall())
    duck_range = best_of(3, lambda: db.execute(range_sql).fetchall())
    assert db.execute(range_sql).fetchall() == [tuple(r) for r in bs_range_rows], "results differ"

    print(f"rows: {n:,}   cluster: 2 compute nodes x 2 slices (release build), DuckDB {duckdb.__version__}")
    print(f"table t: {blocks} blocks, {size_mb:.1f} MB compressed")
    print(f"{'measure':<44}{'Blueshift':>12}{'DuckDB':>12}{'ratio':>9}")
    print(f"{'INSERT ... generate_series (rows/s)':<44}{n / load_s:>12,.0f}{n / duck_load_s:>12,.0f}{(n / load_s) / (n / duck_load_s):>9.2f}")
    print(f"{'INSERT ... SELECT from a table (rows/s)':<44}{n / copy_s:>12,.0f}{n / duck_copy_s:>12,.0f}{(n / copy_s) / (n / duck_copy_s):>9.2f}")
    print(f"{'UPDATE of every row (rows/s)':<44}{n / update_s:>12,.0f}{n / duck_update_s:>12,.0f}{(n / update_s) / (n / duck_update_s):>9.2f}")
    print(f"leader peak memory: {hwm_after_load / 1024:,.0f} MiB after the generate_series load, "
          f"{hwm_after_writes / 1024:,.0f} MiB after the table-to-table INSERT and the UPDATE")
    print(f"{'GROUP BY g (s, best of 3)':<44}{bs_group:>12.3f}{duck_group:>12.3f}{bs_group / duck_group:>9.2f}")
    print(f"{'sort-key range, 1% of rows (s, best of 3)':<44}{bs_range:>12.3f}{duck_range:>12.3f}{bs_range / duck_range:>9.2f}")
    print("range scan: " + "; ".join(scan))
    print("(ratio: rows/s Blueshift/DuckDB; seconds Blueshift/DuckDB, lower is better for Blueshift)")


if __name__ == "__main__":
    main()
