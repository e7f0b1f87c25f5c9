#!/usr/bin/env python3
"""Subquery figures: how fast a `blueshift dev` cluster (release build) answers the subquery
shapes it runs itself (uncorrelated ones run first and go into the query as values;
correlated ones DataFusion cannot decorrelate correctly run in ApplyExec, once per distinct
outer binding) and the ones it leaves to DataFusion's decorrelation (joins), with DuckDB
measured on the same rows in the same run. Every answer is checked against DuckDB's.

    pip install duckdb 'psycopg[binary]'
    cargo build --release --bin blueshift
    python3 benches/subqueries.py [--rows 2000000] [--bin PATH]

Tables: o (--rows rows: id, g = id % 1000, x) and s (10,000 rows, g with NULLs).
"""
import argparse
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

# The benchmark cluster's admin password; psycopg and the blueshift command read PGPASSWORD.
PASSWORD = os.environ.setdefault("PGPASSWORD", "Bench-Admin-1")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "blueshift")

# (label, how Blueshift runs it, SQL)
QUERIES = [
    ("NOT IN, uncorrelated, in WHERE", "run first, inlined",
     "SELECT count(*) FROM o WHERE g NOT IN (SELECT g FROM s WHERE g % 7 = 0 AND g IS NOT NULL)"),
    ("NOT IN with a NULL in the subquery", "run first, inlined",
     "SELECT count(*) FROM o WHERE g NOT IN (SELECT g FROM s)"),
    ("IN in a select list", "run first, inlined",
     "SELECT sum(CASE WHEN g IN (SELECT g FROM s WHERE g < 100) THEN 1 ELSE 0 END) FROM o"),
    ("scalar subquery, uncorrelated", "run first, inlined",
     "SELECT count(*) FROM o WHERE x > (SELECT avg(x) FROM o)"),
    ("EXISTS, correlated by equality", "semi join",
     "SELECT count(*) FROM s WHERE EXISTS (SELECT 1 FROM o WHERE o.g = s.g AND o.x < 100)"),
    ("scalar aggregate, correlated by equality", "left join",
     "SELECT count(*) FROM s WHERE s.x > (SELECT avg(o.x) FROM o WHERE o.g = s.g)"),
    ("scalar count, correlated by <, 100 outer rows", "ApplyExec per binding",
     "SELECT sum((SELECT count(*) FROM s AS s2 WHERE s2.x < s.x)) FROM s WHERE s.id <= 100"),
]


def best_of(n, fn):
    best, result = None, None
    for _ in range(n):
        t0 = time.perf_counter()
        result = fn()
        t = time.perf_counter() - t0
        best = t if best is None else min(best, t)
    return best, result


def norm(rows):
    return [tuple(float(v) if v is not None else None for v in r) for r in rows]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--bin", default=BIN)
    args = ap.parse_args()
    n = args.rows
    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} is missing: cargo build --release --bin blueshift")
    setup = [
        "CREATE TABLE o (id BIGINT, g INTEGER, x BIGINT)",
        f"INSERT INTO o SELECT value, CAST(value % 1000 AS INTEGER), value * 7 % 10007 "
        f"FROM generate_series(1, {n}) AS v(value)",
        "CREATE TABLE s (id BIGINT, g INTEGER, x BIGINT)",
        "INSERT INTO s SELECT value, CASE WHEN value % 97 = 0 THEN NULL "
        "ELSE CAST(value * 13 % 2000 AS INTEGER) END, value * 31 % 10007 "
        "FROM generate_series(1, 10000) AS v(value)",
    ]
    dist = {"o": " DISTSTYLE KEY DISTKEY(id)", "s": " DISTSTYLE EVEN"}

    data = tempfile.mkdtemp(prefix="blueshift-bench-")
    port = free_port()
    dev = subprocess.Popen(
        [args.bin, "dev", "--port", str(port), "--data-dir", data, "--nodes", "2",
         "--slices-per-node", "2"],
        stdout=subprocess.PIPE, env={**os.environ, "BLUESHIFT_LOG": "warn", "BLUESHIFT_LEADER_ADMIN_PASSWORD": PASSWORD}, text=True,
    )
    blueshift = {}
    try:
        for line in dev.stdout:
            if "psql" in line:
                break
        conn = psycopg.connect(host="127.0.0.1", port=port, user="admin", dbname="dev",
                               autocommit=True)
        cur = conn.cursor()
        for sql in setup:
            if sql.startswith("CREATE TABLE"):
                sql += dist[sql.split()[2]]
            cur.execute(sql.replace(" AS v(value)", ""))

        def run(sql):
            cur.execute(sql)
            return cur.fetchall()

        for label, _, sql in QUERIES:
            blueshift[label] = best_of(3, lambda: run(sql))
        conn.close()
    finally:
        dev.send_signal(signal.SIGTERM)
        dev.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)

    db = duckdb.connect()
    for sql in setup:
        db.execute(sql)
    print(f"rows in o: {n:,}   cluster: 2 compute nodes x 2 slices (release build), "
          f"DuckDB {duckdb.__version__}")
    print(f"{'query':<48}{'Blueshift runs it as':<24}{'Blueshift s':>12}{'DuckDB s':>10}{'ratio':>8}")
    for label, how, sql in QUERIES:
        duck_s, duck_rows = best_of(3, lambda: db.execute(sql).fetchall())
        bs_s, bs_rows = blueshift[label]
        if norm(bs_rows) != norm(duck_rows):
            sys.exit(f"answers differ for {label}: Blueshift {bs_rows}, DuckDB {duck_rows}")
        print(f"{label:<48}{how:<24}{bs_s:>12.3f}{duck_s:>10.3f}{bs_s / duck_s:>8.1f}")
    print("(best of 3; ratio: seconds Blueshift/DuckDB, lower is better for Blueshift; "
          "answers checked equal)")


if __name__ == "__main__":
    main()
