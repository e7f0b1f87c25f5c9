"""A psycopg 3 session against a Blueshift leader: the extended protocol with typed
parameters (int, numeric, text, date, timestamp, bool, NULL), binary results, server-side
prepared statements reused, executemany, COPY FROM STDIN (CSV and PostgreSQL's text format) and TO STDOUT, transaction blocks with savepoints. Exits non-zero, naming the
step, on any difference.

    PGPASSWORD=... python3 psycopg_session.py PORT
"""
import datetime
import decimal
import os
import sys

import psycopg

port = int(sys.argv[1])
conn = psycopg.connect(host="127.0.0.1", port=port, user="admin", dbname="dev", autocommit=True)


def check(step, got, want):
    if got != want:
        sys.exit(f"{step}: got {got!r}, want {want!r}")


check("server_version", conn.info.server_version, 160006)
check("NULL typed by the plan", conn.execute("select %s::int is null", (None,)).fetchone(), (True,))
check("NULL in coalesce", conn.execute("select coalesce(%s, 7)", (None,)).fetchone(), (7,))
conn.execute("create table pg_t (i int, n numeric(12,2), s varchar(20), d date, ts timestamp, b boolean)")
row = (1, decimal.Decimal("12.34"), "x", datetime.date(2024, 5, 6),
       datetime.datetime(2024, 5, 6, 7, 8, 9), True)
conn.execute("insert into pg_t values (%s, %s, %s, %s, %s, %s)", row)
conn.execute("insert into pg_t values (%s, %s, %s, %s, %s, %s)", (2, None, None, None, None, None))
with conn.cursor() as cur:
    cur.executemany("insert into pg_t (i, n, s) values (%s, %s, %s)",
                    [(10 + k, decimal.Decimal(k) / 4, f"m{k}") for k in range(5)])
check("text results", conn.execute("select * from pg_t where i = %s", (1,)).fetchone(), row)
with conn.cursor(binary=True) as cur:
    check("binary results", cur.execute("select * from pg_t where i = %s", (1,)).fetchone(), row)
    check("binary NULLs", cur.execute("select n, s, d, ts, b from pg_t where i = 2").fetchone(),
          (None,) * 5)
for k in range(6):  # psycopg prepares on the server after a few runs, then reuses it
    got = conn.execute("select count(*) from pg_t where i >= %s", (10 + k,), prepare=True).fetchone()
    check(f"prepared run {k}", got, (max(5 - k, 0),))
with conn.cursor() as cur:
    with cur.copy("COPY pg_t (i, s) FROM STDIN WITH CSV") as copy:
        for k in range(3):
            copy.write(f"{100 + k},c{k}\n")
check("COPY FROM STDIN", conn.execute("select count(*), min(s) from pg_t where i >= 100").fetchone(),
      (3, "c0"))
# write_row sends PostgreSQL's text format: tabs, newlines and backslashes escaped, \\N NULL.
tricky = [(300, "tab\there"), (301, "two\nlines"), (302, "back\\slash \\N"), (303, None),
          (304, "ünï")]
with conn.cursor() as cur:
    with cur.copy("COPY pg_t (i, s) FROM STDIN") as copy:
        for row in tricky:
            copy.write_row(row)
check("COPY FROM STDIN text", conn.execute(
    "select i, s from pg_t where i >= 300 order by i").fetchall(), tricky)
with conn.cursor() as cur:
    with cur.copy("COPY (SELECT i, s FROM pg_t WHERE i >= 300 ORDER BY i) TO STDOUT") as copy:
        check("COPY TO STDOUT text round trip", list(copy.rows()),
              [(str(i), s) for i, s in tricky])
conn.execute("delete from pg_t where i >= 300")
with conn.cursor() as cur, cur.copy(
        "COPY (SELECT i, s, n FROM pg_t WHERE i IN (1, 2, 100) ORDER BY i) TO STDOUT") as copy:
    text = b"".join(bytes(block) for block in copy).decode()
check("COPY TO STDOUT", text, "1\tx\t12.34\n2\t\\N\t\\N\n100\tc0\t\\N\n")
with conn.cursor() as cur, cur.copy("COPY pg_t (i, s) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
    lines = b"".join(bytes(block) for block in copy).decode().splitlines()
check("COPY TO STDOUT csv", (lines[0], len(lines), "100,c0" in lines), ("i,s", 11, True))
# A transaction block: rolled back by an exception, committed otherwise.
with conn.transaction():
    conn.execute("insert into pg_t (i) values (%s)", (200,))
    with conn.transaction():  # a savepoint
        conn.execute("insert into pg_t (i) values (%s)", (201,))
        try:
            with conn.transaction():
                conn.execute("insert into pg_t (i) values (%s)", (202,))
                raise psycopg.Rollback()
        except psycopg.Rollback:
            pass
try:
    with conn.transaction():
        conn.execute("insert into pg_t (i) values (%s)", (203,))
        conn.execute("select 1 / 0")
except psycopg.errors.DivisionByZero:
    pass
check("transactions", conn.execute("select i from pg_t where i >= 200 order by i").fetchall(),
      [(200,), (201,)])
conn.execute("drop table pg_t")
conn.close()

# TLS with the certificate verified against the cluster's own (libpq's verify-full).
if os.environ.get("SSL_CERT_FILE"):
    tls = psycopg.connect(host="localhost", port=port, user="admin", dbname="dev", sslmode="verify-full",
                          sslrootcert=os.environ["SSL_CERT_FILE"])
    check("sslmode=verify-full", tls.execute("select 40 + 2").fetchone(), (42,))
    check("ssl in use", tls.pgconn.ssl_in_use, True)
    tls.close()
print("psycopg session: ok")
