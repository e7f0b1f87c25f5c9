#!/usr/bin/env python3
"""Regenerates the TPC-H reference answers in tests/tpch/answers/ (and the two Redshift-style
schema variants schema_tuned.sql and schema_even.sql from schema.sql).

    cargo build -p tpch-gen
    python3 tests/tpch/regenerate.py [--sf 0.1] [--tpch-gen target/debug/tpch-gen]

The data comes from this repository's tpch-gen (the tpchgen crates: dbgen's data, row for
row), written as CSV into a temporary folder; DuckDB loads it into tables created from
schema.sql, runs queries/qNN.sql and each answer is written as answers/qNN.csv: a header
line with the column names, then one line per row (Python's csv module); NULL as an empty
field, decimals exactly as DuckDB returns them, floats with repr(), dates as YYYY-MM-DD.

    python3 tests/tpch/regenerate.py --schemas-only

only rewrites schema_tuned.sql and schema_even.sql.
"""
import argparse
import csv
import datetime
import decimal
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

TABLES = ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]

# Redshift table attributes for schema_tuned.sql.
TUNED = {
    "lineitem": "DISTKEY(l_orderkey) SORTKEY(l_shipdate)",
    "orders": "DISTKEY(o_orderkey) SORTKEY(o_orderdate)",
    "part": "DISTKEY(p_partkey)",
    "partsupp": "DISTKEY(ps_partkey)",
    "customer": "DISTKEY(c_custkey)",
    "nation": "DISTSTYLE ALL",
    "region": "DISTSTYLE ALL",
    "supplier": "DISTSTYLE ALL",
}


def read_schema():
    with open(os.path.join(HERE, "schema.sql")) as f:
        return f.read()


def statements(text):
    """The schema's CREATE TABLE statements as {table: statement without ';'}."""
    out = {}
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    for stmt in text.split(";"):
        stmt = stmt.strip()
        if not stmt:
            continue
        m = re.match(r"CREATE TABLE (\w+)", stmt, re.IGNORECASE)
        if not m:
            sys.exit(f"schema.sql: unexpected statement: {stmt[:60]}")
        out[m.group(1).lower()] = stmt
    if sorted(out) != sorted(TABLES):
        sys.exit(f"schema.sql: expected tables {TABLES}, found {sorted(out)}")
    return out


def write_schema_variants(stmts):
    tuned = [f"{stmts[t]} {TUNED[t]};\n" for t in TABLES]
    even = [f"{stmts[t]} DISTSTYLE EVEN;\n" for t in TABLES]
    for name, parts in (("schema_tuned.sql", tuned), ("schema_even.sql", even)):
        with open(os.path.join(HERE, name), "w") as f:
            f.write("\n".join(parts))


def cell(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    return str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sf", type=float, default=0.1, help="TPC-H scale factor (default 0.1)")
    ap.add_argument("--tpch-gen", default=os.path.join(ROOT, "target", "debug", "tpch-gen"),
                    help="path to the tpch-gen program (default target/debug/tpch-gen)")
    ap.add_argument("--schemas-only", action="store_true",
                    help="only rewrite schema_tuned.sql and schema_even.sql")
    ap.add_argument("--keep-data", metavar="DIR",
                    help="generate the data into DIR and keep it (default: a temporary folder)")
    args = ap.parse_args()

    schema = read_schema()
    stmts = statements(schema)
    write_schema_variants(stmts)
    if args.schemas_only:
        return

    import duckdb

    if not os.path.exists(args.tpch_gen):
        sys.exit(f"{args.tpch_gen} not found: run `cargo build -p tpch-gen` first")

    tmp = None
    if args.keep_data:
        data = args.keep_data
        os.makedirs(data, exist_ok=True)
    else:
        tmp = tempfile.mkdtemp(prefix="tpch-answers-")
        data = tmp
    try:
        subprocess.run([args.tpch_gen, "--sf", str(args.sf), "--out", data], check=True)

        con = duckdb.connect()
        con.execute("SET threads=2")
        for t in TABLES:
            con.execute(stmts[t])
            path = os.path.join(data, "csv", f"{t}.csv").replace("'", "''")
            con.execute(f"COPY {t} FROM '{path}' (HEADER, DELIMITER ',', QUOTE '\"')")
            n = con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            print(f"loaded {t}: {n} rows")

        qdir = os.path.join(HERE, "queries")
        adir = os.path.join(HERE, "answers")
        os.makedirs(adir, exist_ok=True)
        for i in range(1, 23):
            name = f"q{i:02d}"
            with open(os.path.join(qdir, f"{name}.sql")) as f:
                sql = f.read()
            cur = con.execute(sql)
            cols = [d[0] for d in cur.description]
            rows = cur.fetchall()
            with open(os.path.join(adir, f"{name}.csv"), "w", newline="") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(cols)
                for row in rows:
                    w.writerow([cell(v) for v in row])
            print(f"{name}: {len(rows)} rows")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
