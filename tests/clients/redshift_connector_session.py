"""A redshift_connector (AWS's Python driver, unchanged) session against a Blueshift
leader: connect, typed parameters with NULLs, fetch_dataframe, metadata calls (get_tables,
get_columns, get_primary_keys, get_schemas), autocommit on and off, ssl=True. Exits non-zero, naming the step, on any difference.

    PGPASSWORD=... python3 redshift_connector_session.py PORT
"""
import datetime
import decimal
import os
import sys

import redshift_connector

port = int(sys.argv[1])
conn = redshift_connector.connect(host="127.0.0.1", port=port, database="dev", user="admin",
                                  password=os.environ["PGPASSWORD"], ssl=False)
cur = conn.cursor()


def check(step, got, want):
    if got != want:
        sys.exit(f"{step}: got {got!r}, want {want!r}")


cur.execute("select version()")
check("version()", "Redshift" in cur.fetchone()[0], True)
cur.execute("select current_user")
check("current_user", cur.fetchone()[0], "admin")

conn.autocommit = True
cur.execute("create table rc_t (id int, name varchar(20), amount numeric(12,2), d date)")
conn.autocommit = False
rows = [(1, "a", decimal.Decimal("1.50"), datetime.date(2024, 1, 2)),
        (2, None, None, None),
        (3, "c", 2.25, datetime.date(2024, 3, 4))]  # a float into NUMERIC, as the driver sends it
for r in rows:
    cur.execute("insert into rc_t values (%s, %s, %s, %s)", r)
conn.commit()
cur.execute("select id, name, amount, d from rc_t order by id")
check("rows", [tuple(r) for r in cur.fetchall()],
      [(1, "a", decimal.Decimal("1.50"), datetime.date(2024, 1, 2)), (2, None, None, None),
       (3, "c", decimal.Decimal("2.25"), datetime.date(2024, 3, 4))])
cur.execute("select count(*) from rc_t where name = %s or %s is null", ("a", None))
check("NULL parameter", cur.fetchone()[0], 3)
cur.execute("select id, amount from rc_t where id >= %s order by id", (2,))
frame = cur.fetch_dataframe()
check("fetch_dataframe", list(frame["id"]), [2, 3])
conn.rollback()

# autocommit off: a rolled-back insert is gone, a committed one stays.
cur.execute("insert into rc_t values (%s, %s, %s, %s)", (4, "d", None, None))
cur.execute("select count(*) from rc_t")
check("own uncommitted row", cur.fetchone()[0], 4)
conn.rollback()
cur.execute("select count(*) from rc_t")
check("after rollback", cur.fetchone()[0], 3)
cur.execute("insert into rc_t values (%s, %s, %s, %s)", (5, "e", None, None))
conn.commit()
cur.execute("select count(*) from rc_t")
check("after commit", cur.fetchone()[0], 4)
conn.rollback()

tables = [(r[1], r[2], r[3]) for r in cur.get_tables(schema_pattern="public", table_name_pattern="rc_t")]
check("get_tables", tables, [("public", "rc_t", "TABLE")])
check("get_tables, all", ("public", "rc_t", "TABLE") in [(r[1], r[2], r[3]) for r in cur.get_tables()], True)
columns = [(r[3], r[5], r[6]) for r in cur.get_columns(tablename_pattern="rc_t")]
check("get_columns", columns, [("id", "int4", 10), ("name", "varchar", 20), ("amount", "numeric", 12),
                               ("d", "date", 13)])
check("get_primary_keys", list(cur.get_primary_keys(table="rc_t")), [])
schemas = [s[0] for s in cur.get_schemas()]
check("get_schemas", "public" in schemas, True)
conn.autocommit = True
cur.execute("drop table rc_t")
conn.close()

# TLS (ssl=True): the driver verifies the chain against the default trust store, which
# SSL_CERT_FILE points at the cluster's own certificate.
if os.environ.get("SSL_CERT_FILE"):
    tls = redshift_connector.connect(host="127.0.0.1", port=port, database="dev", user="admin",
                                     password=os.environ["PGPASSWORD"], ssl=True, sslmode="verify-ca")
    tcur = tls.cursor()
    tcur.execute("select 40 + 2")
    check("ssl=True", tcur.fetchone()[0], 42)
    tls.close()
print("redshift_connector session: ok")
