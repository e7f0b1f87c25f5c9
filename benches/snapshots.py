#!/usr/bin/env python3
"""Snapshot, cross-region copy and restore figures on TPC-H, against two S3-compatible
servers on loopback (two regions; the same server the integration tests use), beside
(1) a plain parallel boto3 upload of the same bytes to the same server: the ceiling, and
(2) DuckDB's EXPORT DATABASE + IMPORT DATABASE of the same data: the peer.

    pip install duckdb 'psycopg[binary]' boto3
    cargo build --release -p blueshift -p tpch-gen && cargo build -p blueshift-tests --bin s3serve
    python3 benches/snapshots.py [--sf 1]

Steps: COPY the eight TPC-H tables (Parquet) into a `blueshift dev` cluster (release build,
2 nodes x 2 slices); `blueshift snapshot create` twice (full, then unchanged); wait for the
automatic cross-region copy; `blueshift restore` from the second region and start the
restored cluster (time to its first answered query); every table's count is checked;
then `blueshift restore --lazy` (time to a first query, to TPC-H Q6, to every file fetched).
Goals from the issue: first snapshot >= 0.8x the plain upload; an unchanged snapshot
uploads < 1 MB; SF1 restore <= 30 s.
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import boto3
import duckdb
import psycopg

from tpch_load import BIN, GEN, ORDER, ROOT, TABLES, folder_bytes, free_port

# The benchmark cluster's admin password; psycopg and the blueshift command read PGPASSWORD.
PASSWORD = os.environ.setdefault("PGPASSWORD", "Bench-Admin-1")

S3SERVE = os.path.join(ROOT, "target", "debug", "s3serve")
# TPC-H Q6: reads the largest table's four columns.
Q6 = ("SELECT sum(l_extendedprice * l_discount) FROM lineitem WHERE l_shipdate >= DATE '1994-01-01' "
      "AND l_shipdate < DATE '1995-01-01' AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24")
KEY, SECRET, BUCKET = "blueshift-test", "blueshift-test-secret", "warehouse"


def start_s3(root):
    proc = subprocess.Popen([S3SERVE, "--root", root], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    return proc, line.split()[2]  # "listening on http://127.0.0.1:PORT ..."


def region(name, endpoint):
    return (f'[regions.{name}]\nendpoint = "{endpoint}"\nregion = "us-east-1"\n'
            f'access_key_id = "{KEY}"\nsecret_access_key = "{SECRET}"\nallow_http = true\n')


def dev(config, data, port, extra=()):
    t0 = time.perf_counter()
    proc = subprocess.Popen([BIN, "--config", config, "dev", "--port", str(port), "--data-dir", data,
                             *extra], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "BLUESHIFT_LOG": "warn", "BLUESHIFT_LEADER_ADMIN_PASSWORD": PASSWORD})
    for line in proc.stdout:
        if "psql" in line:
            break
    conn = psycopg.connect(host="127.0.0.1", port=port, user="admin", dbname="dev", autocommit=True)
    conn.execute("SELECT 1").fetchall()
    return proc, conn, time.perf_counter() - t0


def cli(config, *args):
    t0 = time.perf_counter()
    out = subprocess.run([BIN, "--config", config, *args], capture_output=True, text=True,
                         env={**os.environ, "BLUESHIFT_LOG": "warn", "BLUESHIFT_LEADER_ADMIN_PASSWORD": PASSWORD})
    if out.returncode != 0:
        sys.exit(f"blueshift {' '.join(args)}: {out.stderr}")
    return time.perf_counter() - t0, out.stdout


def counts(conn):
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ORDER}


def plain_upload(endpoint, folder, prefix):
    """Every file under `folder` PUT once, 8 at a time, with boto3."""
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY,
                      aws_secret_access_key=SECRET, region_name="us-east-1")
    files = [os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs]
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: s3.upload_file(p, BUCKET, f"{prefix}/{os.path.basename(p)}"), files))
    return time.perf_counter() - t0, sum(os.path.getsize(p) for p in files)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sf", type=float, default=1.0)
    args = ap.parse_args()
    for b in (BIN, GEN, S3SERVE):
        if not os.path.exists(b):
            sys.exit(f"{b} is missing (see the build line at the top of this file)")
    sf = f"{args.sf:g}"
    data_dir = os.path.join(ROOT, "benches", ".data", f"sf{sf}")
    if not os.path.exists(os.path.join(data_dir, "parquet", "region.parquet")):
        subprocess.run([GEN, "--sf", str(args.sf), "--out", data_dir], check=True)
    pq = {t: os.path.join(data_dir, "parquet", f"{t}.parquet") for t in ORDER}

    work = tempfile.mkdtemp(prefix="blueshift-snapbench-")
    procs = []
    fig = {}
    try:
        east, east_url = start_s3(os.path.join(work, "east"))
        west, west_url = start_s3(os.path.join(work, "west"))
        procs += [east, west]
        config = os.path.join(work, "blueshift.toml")
        with open(config, "w") as f:
            f.write(region("east", east_url) + region("west", west_url))
            f.write(f'[snapshots]\nlocation = "s3://{BUCKET}/east"\nregion = "east"\nautomated = false\n'
                    f'check_seconds = 0.5\ncopy_to_region = "west"\ncopy_location = "s3://{BUCKET}/west"\n')
        port = free_port()
        src, conn, _ = dev(config, os.path.join(work, "src"), port, ["--nodes", "2", "--slices-per-node", "2"])
        procs.append(src)
        for t in ORDER:
            cols, attrs = TABLES[t]
            conn.execute(f"CREATE TABLE {t} {cols} {attrs}")
            conn.execute(f"COPY {t} FROM '{pq[t]}' FORMAT AS PARQUET")
        source_counts = counts(conn)
        stored = conn.execute("SELECT sum(size) FROM svv_table_info").fetchone()[0]

        t, out = cli(config, "snapshot", "create", "full", "--json", "--port", str(port))
        full = json.loads(out)
        fig["full"] = (t, full["bytes_uploaded"])
        t, out = cli(config, "snapshot", "create", "again", "--json", "--port", str(port))
        fig["again"] = (t, json.loads(out)["bytes_uploaded"])
        def logged(action, name):
            while True:
                row = conn.execute("SELECT starttime, endtime, bytes FROM stl_snapshot_log WHERE action = "
                                   f"'{action}' AND snapshot_name = '{name}' AND status = 'ok'").fetchone()
                if row:
                    return (row[1] - row[0]).total_seconds(), int(row[2])
                time.sleep(0.2)
        fig["copy"] = logged("copy", "full")
        # The leader's own times (the command's also include connecting, and the second
        # snapshot waited for the first one's copy to finish: one operation at a time).
        fig["full leader"] = logged("create", "full")
        fig["again leader"] = logged("create", "again")
        # The ceiling: the same files, PUT by boto3 to the same server.
        fig["plain"] = plain_upload(east_url, os.path.join(work, "east", BUCKET, "east", "files"), "plain")
        conn.close()
        src.terminate()
        src.wait(timeout=60)

        dest = os.path.join(work, "restored")
        t0 = time.perf_counter()
        t, out = cli(config, "restore", "--snapshot", "full", "--region", "west", "--data-dir", dest, "--json")
        fig["restore"] = (t, json.loads(out)["bytes_downloaded"])
        restored, conn, started = dev(config, dest, free_port())
        procs.append(restored)
        fig["first query"] = time.perf_counter() - t0
        got = counts(conn)
        if got != source_counts:
            sys.exit(f"restored counts {got} differ from {source_counts}")
        q6_answer = conn.execute(Q6).fetchall()
        conn.close()
        restored.terminate()
        restored.wait(timeout=60)

        # Lazy: the catalog only; the nodes fetch their files when read and meanwhile.
        dest = os.path.join(work, "lazy")
        t0 = time.perf_counter()
        t, out = cli(config, "restore", "--snapshot", "full", "--region", "west", "--data-dir", dest,
                     "--lazy", "--json")
        fig["lazy restore"] = (t, json.loads(out)["bytes_to_fetch"])
        lazy, conn, _ = dev(config, dest, free_port())
        procs.append(lazy)
        conn.execute("SELECT * FROM nation WHERE n_nationkey = 3").fetchall()
        fig["lazy first query"] = time.perf_counter() - t0
        if conn.execute(Q6).fetchall() != q6_answer:
            sys.exit("the lazily restored cluster answers Q6 differently")
        fig["lazy q6"] = time.perf_counter() - t0
        plans = [os.path.join(dest, d, "lazy.json") for d in os.listdir(dest) if d.startswith("compute-")]
        while any(os.path.exists(p) for p in plans):
            time.sleep(0.05)
        fig["lazy complete"] = time.perf_counter() - t0
        got = counts(conn)
        if got != source_counts:
            sys.exit(f"lazily restored counts {got} differ from {source_counts}")
        conn.close()

        # DuckDB: the same Parquet files, exported and imported.
        db_path = os.path.join(work, "duck.db")
        db = duckdb.connect(db_path)
        db.execute("SET threads = 2")
        for t in ORDER:
            db.execute(f"CREATE TABLE {t} AS SELECT * FROM '{pq[t]}'")
        exp = os.path.join(work, "duck-export")
        t0 = time.perf_counter()
        db.execute(f"EXPORT DATABASE '{exp}' (FORMAT parquet)")
        fig["duck export"] = (time.perf_counter() - t0, folder_bytes(exp))
        db.close()
        new = duckdb.connect(os.path.join(work, "duck2.db"))
        t0 = time.perf_counter()
        new.execute(f"IMPORT DATABASE '{exp}'")
        new.execute("SELECT count(*) FROM lineitem").fetchall()
        fig["duck import"] = time.perf_counter() - t0
        new.close()
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)

    mb = lambda b: b / 1e6
    rate = lambda pair: mb(pair[1]) / pair[0]
    print(f"TPC-H SF{sf}: {sum(source_counts.values()):,} rows, {stored:.0f} MB stored; cluster 2 nodes x 2 "
          f"slices (release build); S3 servers on loopback; DuckDB {duckdb.__version__}")
    print(f"{'step':<44}{'seconds':>9}{'MB':>9}{'MB/s':>9}")
    rows = [
        ("snapshot, first (full), command", fig["full"]),
        ("snapshot, first (full), leader", fig["full leader"]),
        ("snapshot, unchanged, command", fig["again"]),
        ("snapshot, unchanged, leader", fig["again leader"]),
        ("cross-region copy of the first", fig["copy"]),
        ("plain boto3 upload of the same files (ceiling)", fig["plain"]),
        ("restore from the second region", fig["restore"]),
        ("DuckDB EXPORT DATABASE (Parquet)", fig["duck export"]),
    ]
    for label, (s, b) in rows:
        print(f"{label:<44}{s:>9.2f}{mb(b):>9.1f}{mb(b) / s if s else 0:>9.1f}")
    print(f"{'restore to first answered query':<44}{fig['first query']:>9.2f}")
    print(f"{'restore --lazy (catalog only), command':<44}{fig['lazy restore'][0]:>9.2f}")
    print(f"{'restore --lazy to first answered query':<44}{fig['lazy first query']:>9.2f}")
    print(f"{'restore --lazy to TPC-H Q6 answered':<44}{fig['lazy q6']:>9.2f}")
    print(f"{'restore --lazy to every file fetched':<44}{fig['lazy complete']:>9.2f}"
          f"{mb(fig['lazy restore'][1]):>9.1f}")
    print(f"{'DuckDB IMPORT DATABASE':<44}{fig['duck import']:>9.2f}")
    print(f"goals: first snapshot {rate(fig['full']) / rate(fig['plain']):.2f}x the plain upload "
          f"(leader's time: {rate(fig['full leader']) / rate(fig['plain']):.2f}x) "
          f"(>= 0.8); unchanged snapshot {mb(fig['again'][1]):.3f} MB (< 1); restore "
          f"{fig['restore'][0]:.1f} s (<= 30)")


if __name__ == "__main__":
    main()
