"""A SQLAlchemy 2 session (psycopg dialect, unchanged) against a Blueshift leader: connect,
inspect schemas, tables, views (and their definitions), columns with their declared types,
keys, indexes and constraints, reflect a MetaData, run a query and roll back a transaction. Exits non-zero, naming the step, on
any difference.

    PGPASSWORD=... python3 sqlalchemy_session.py PORT
"""
import decimal
import os
import sys

import sqlalchemy as sa

port = int(sys.argv[1])
url = sa.engine.URL.create("postgresql+psycopg", username="admin", password=os.environ["PGPASSWORD"],
                           host="127.0.0.1", port=port, database="dev")
engine = sa.create_engine(url)


def check(step, got, want):
    if got != want:
        sys.exit(f"{step}: got {got!r}, want {want!r}")


with engine.begin() as c:
    c.execute(sa.text("create table sa_t (id int not null, name varchar(20), amount numeric(12,2))"))
    c.execute(sa.text("create view sa_v as select id, name from sa_t"))
    c.execute(sa.text("insert into sa_t values (:i, :n, :a)"),
              [{"i": 1, "n": "a", "a": decimal.Decimal("1.50")}, {"i": 2, "n": "b", "a": decimal.Decimal("0.05")}])

inspector = sa.inspect(engine)
check("get_schema_names", "public" in inspector.get_schema_names(), True)
check("get_table_names", "sa_t" in inspector.get_table_names(), True)
check("get_view_names", "sa_v" in inspector.get_view_names(), True)
columns = [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns("sa_t")]
check("get_columns", columns, [("id", "INTEGER", False), ("name", "VARCHAR(20)", True),
                               ("amount", "NUMERIC(12, 2)", True)])
check("get_columns of a view", [c["name"] for c in inspector.get_columns("sa_v")], ["id", "name"])
check("get_pk_constraint", inspector.get_pk_constraint("sa_t")["constrained_columns"], [])
check("get_foreign_keys", inspector.get_foreign_keys("sa_t"), [])
check("get_indexes", inspector.get_indexes("sa_t"), [])
check("get_unique_constraints", inspector.get_unique_constraints("sa_t"), [])
check("get_view_definition", inspector.get_view_definition("sa_v"), "SELECT id, name FROM sa_t")
metadata = sa.MetaData()
metadata.reflect(engine, views=True, only=["sa_t", "sa_v"])
check("reflect", {n: [(c.name, str(c.type)) for c in t.columns] for n, t in metadata.tables.items()},
      {"sa_t": [("id", "INTEGER"), ("name", "VARCHAR(20)"), ("amount", "NUMERIC(12, 2)")],
       "sa_v": [("id", "INTEGER"), ("name", "TEXT")]})

with engine.connect() as c:
    rows = c.execute(sa.text("select id, name, amount from sa_t order by id")).fetchall()
    check("query", [tuple(r) for r in rows], [(1, "a", decimal.Decimal("1.50")), (2, "b", decimal.Decimal("0.05"))])
    t = sa.Table("sa_t", sa.MetaData(), sa.Column("id", sa.Integer), sa.Column("name", sa.String(20)))
    check("core select", c.execute(sa.select(t.c.name).where(t.c.id == 2)).scalar_one(), "b")

try:
    with engine.begin() as c:
        c.execute(sa.text("insert into sa_t (id) values (3)"))
        raise RuntimeError("roll back")
except RuntimeError:
    pass
with engine.connect() as c:
    check("transaction rolled back", c.execute(sa.text("select count(*) from sa_t")).scalar_one(), 2)

with engine.begin() as c:
    c.execute(sa.text("drop view sa_v"))
    c.execute(sa.text("drop table sa_t"))
print("sqlalchemy session: ok")
