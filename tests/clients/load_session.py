"""A psycopg 3 load test against a Blueshift leader: many clients, each on its own
connection and thread, run a mixed workload for a bounded time (point reads by id, GROUP BY
aggregates, joins, single-row INSERTs, UPDATEs and DELETEs by id, and BEGIN ... COMMIT
blocks), then the tables are checked for consistency. A block that gets 40001
(serialization_failure: another writer of its tables committed first) is retried, as a
real client does; those retries are counted, not errors. Every other exception, and every
wrong answer, is an error.

Prints one line per figure (clients, seconds, statements, throughput, p50 and p99 latency,
retries, errors, and with --leader-pid the leader's peak resident memory), and exits
non-zero, naming the first errors, if there was any error or a consistency check failed.
Every statement counts (BEGIN, COMMIT and ROLLBACK too), timed client-side; a client that is
in a block when time is up finishes it, so the run can last a little longer than asked.

    PGPASSWORD=... python3 load_session.py PORT [--clients 32] [--seconds 10] [--leader-pid PID]

Tables (dropped and created again at the start):
    load_kv     seeded ids 1..SEED_ROWS: read, aggregated, joined and updated (amount + 1)
                by every client; each client also inserts and deletes ids of its own range
    load_log    appends (single-row INSERTs); joined with load_kv on kv_id
    load_tx     appends made only inside blocks, with the matching UPDATE of load_acct
    load_acct   one row per client: the count and sum of its committed blocks
The blocks write tables that single statements do not, so that they conflict only with
each other: a block writing load_kv would lose to almost every concurrent statement.
"""
import argparse
import decimal
import random
import sys
import threading
import time

import psycopg

SEED_ROWS = 5000
GROUPS = 16
ID_RANGE = 1_000_000  # client c inserts load_kv ids (c + 1) * ID_RANGE + 1, + 2, ...
MAX_ATTEMPTS = 100  # of one block, before the client gives up (an error)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("port", type=int)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--leader-pid", type=int)
    return p.parse_args()


def connect(port):
    # The password comes from PGPASSWORD, as libpq reads it.
    return psycopg.connect(host="127.0.0.1", port=port, user="admin", dbname="dev", autocommit=True)


def setup(port, clients):
    with connect(port) as conn:
        for table in ("load_kv", "load_log", "load_tx", "load_acct"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute("CREATE TABLE load_kv (id BIGINT, grp INT, val VARCHAR(32), amount DECIMAL(12,2))"
                     " DISTKEY(id)")
        conn.execute("CREATE TABLE load_log (client INT, seq BIGINT, kv_id BIGINT, note VARCHAR(32))"
                     " DISTKEY(kv_id)")
        conn.execute("CREATE TABLE load_tx (client INT, seq BIGINT, amount DECIMAL(12,2)) DISTKEY(client)")
        conn.execute("CREATE TABLE load_acct (client INT, n BIGINT, total DECIMAL(18,2)) DISTKEY(client)")
        conn.execute(f"INSERT INTO load_kv SELECT value, value % {GROUPS}, 'seed-' || value, value * 0.25"
                     f" FROM generate_series(1, {SEED_ROWS})")
        conn.execute(f"INSERT INTO load_acct SELECT value, 0, 0 FROM generate_series(0, {clients - 1})")
        got = conn.execute("SELECT count(*), sum(amount) FROM load_kv").fetchone()
        want = (SEED_ROWS, seed_sum())
        if got != want:
            sys.exit(f"setup: load_kv holds {got!r}, want {want!r}")


def seed_sum():
    """The sum of the seeded amounts, value * 0.25 for value 1..SEED_ROWS."""
    return decimal.Decimal(SEED_ROWS * (SEED_ROWS + 1) // 2) / 4


class Failure(Exception):
    """A wrong answer, or a block that never committed."""


class Client:
    """One connection running the mixed workload until the deadline; everything it
    committed is recorded for the consistency checks."""

    def __init__(self, number, conn, deadline):
        self.number, self.conn, self.deadline = number, conn, deadline
        self.rng = random.Random(number)
        self.latencies = []  # seconds, one per statement
        self.retries = 0
        self.errors = []  # (time, operation, exception)
        self.live = {}  # load_kv id -> amount, of the rows this client inserted and has not deleted
        self.next_id = (number + 1) * ID_RANGE + 1
        self.log_seq = 0  # load_log rows inserted
        self.updates = 0  # load_kv seeded rows given amount + 1
        self.blocks = []  # (seq, amount) of each committed block
        self.last_sql = None  # the statement run last
        self.failed_sql = None  # the one an error is about, named with it

    def run_sql(self, sql, params=None):
        self.last_sql = sql
        start = time.perf_counter()
        try:
            cur = self.conn.execute(sql, params)
            rows = cur.fetchall() if cur.description else None
            return cur, rows
        except psycopg.Error:
            self.failed_sql = sql
            raise
        finally:
            self.latencies.append(time.perf_counter() - start)

    def cents(self):
        """An amount from 0.00 to 99.99 with two places after the point; one in ten is
        under 0.10 (Decimal('0.05') has fewer digits than places)."""
        cents = self.rng.randint(0, 9) if self.rng.random() < 0.1 else self.rng.randint(10, 9999)
        return decimal.Decimal(cents).scaleb(-2)

    def expect(self, what, got, want):
        if got != want:
            self.failed_sql = self.last_sql
            raise Failure(f"{what}: got {got!r}, want {want!r}")

    # The operations, each one statement except `block`.

    def point_read(self):
        if self.live and self.rng.random() < 0.3:  # one of its own rows: read your writes
            kv_id = self.rng.choice(tuple(self.live))
            _, rows = self.run_sql("SELECT id, grp, val, amount FROM load_kv WHERE id = %s", (kv_id,))
            self.expect(f"id {kv_id}", rows,
                        [(kv_id, kv_id % GROUPS, f"c{self.number}-{kv_id}", self.live[kv_id])])
        else:  # a seeded row, whose amount other clients update
            kv_id = self.rng.randint(1, SEED_ROWS)
            _, rows = self.run_sql("SELECT id, grp, val FROM load_kv WHERE id = %s", (kv_id,))
            self.expect(f"id {kv_id}", rows, [(kv_id, kv_id % GROUPS, f"seed-{kv_id}")])

    def aggregate(self):
        _, rows = self.run_sql("SELECT grp, count(*), sum(amount) FROM load_kv GROUP BY grp ORDER BY grp")
        self.expect("groups", [r[0] for r in rows], list(range(GROUPS)))

    def join(self):
        _, rows = self.run_sql(
            "SELECT count(*), count(k.id) FROM load_log l JOIN load_kv k ON k.id = l.kv_id"
            " WHERE l.client = %s", (self.number,))
        # Every kv_id it logged is a seeded row, and seeded rows are never deleted.
        self.expect("joined rows", rows, [(self.log_seq, self.log_seq)])

    def insert_kv(self):
        kv_id = self.next_id
        self.next_id += 1
        amount = self.cents()
        cur, _ = self.run_sql("INSERT INTO load_kv VALUES (%s, %s, %s, %s)",
                              (kv_id, kv_id % GROUPS, f"c{self.number}-{kv_id}", amount))
        self.expect("inserted", cur.rowcount, 1)
        self.live[kv_id] = amount

    def update(self):
        kv_id = self.rng.randint(1, SEED_ROWS)
        cur, _ = self.run_sql("UPDATE load_kv SET amount = amount + 1 WHERE id = %s", (kv_id,))
        self.expect(f"updated id {kv_id}", cur.rowcount, 1)
        self.updates += 1

    def delete(self):
        if not self.live:
            return self.insert_kv()
        kv_id = self.rng.choice(tuple(self.live))
        cur, _ = self.run_sql("DELETE FROM load_kv WHERE id = %s", (kv_id,))
        self.expect(f"deleted id {kv_id}", cur.rowcount, 1)
        del self.live[kv_id]

    def append(self):
        seq = self.log_seq + 1
        cur, _ = self.run_sql("INSERT INTO load_log VALUES (%s, %s, %s, %s)",
                              (self.number, seq, self.rng.randint(1, SEED_ROWS), f"log {seq}"))
        self.expect("appended", cur.rowcount, 1)
        self.log_seq = seq

    def block(self):
        """BEGIN; INSERT; UPDATE; COMMIT, retried from BEGIN on 40001."""
        seq = len(self.blocks) + 1
        amount = self.cents()
        for attempt in range(MAX_ATTEMPTS):
            try:
                self.run_sql("BEGIN")
                cur, _ = self.run_sql("INSERT INTO load_tx VALUES (%s, %s, %s)", (self.number, seq, amount))
                self.expect("block insert", cur.rowcount, 1)
                cur, _ = self.run_sql("UPDATE load_acct SET n = n + 1, total = total + %s WHERE client = %s",
                                      (amount, self.number))
                self.expect("block update", cur.rowcount, 1)
                self.run_sql("COMMIT")
                self.blocks.append((seq, amount))
                return
            except psycopg.errors.SerializationFailure:
                self.retries += 1
                self.rollback_if_open()
                time.sleep(self.rng.random() * min(0.01 * 2 ** attempt, 0.5))  # backoff, with jitter
            except BaseException:
                self.rollback_if_open()
                raise
        raise Failure(f"block {seq} still failed with 40001 after {MAX_ATTEMPTS} attempts")

    def rollback_if_open(self):
        # A failed COMMIT ends the block; a failed statement inside it leaves it open.
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.run_sql("ROLLBACK")

    def run(self):
        # Blocks are few: all of them write load_tx and load_acct, so one commits at a time.
        operations = [(self.point_read, 30), (self.aggregate, 6), (self.join, 6), (self.insert_kv, 14),
                      (self.update, 10), (self.delete, 8), (self.append, 16), (self.block, 3)]
        functions = [f for f, _ in operations]
        weights = [w for _, w in operations]
        while time.monotonic() < self.deadline:
            op = self.rng.choices(functions, weights)[0]
            self.failed_sql = None
            try:
                op()
            except Exception as e:  # noqa: BLE001 - every exception is an error
                self.errors.append((time.monotonic(), f"{op.__name__} ({self.failed_sql})", e))
                if self.conn.closed or self.conn.broken:
                    return
                try:
                    self.rollback_if_open()
                except psycopg.Error as e:
                    self.errors.append((time.monotonic(), "rollback", e))
                    return


def consistency(port, clients):
    """What the tables hold against what the clients committed: a list of failures."""
    failures = []

    def check(what, got, want):
        if got != want:
            failures.append(f"{what}: got {got!r}, want {want!r}")

    with connect(port) as conn:
        q = lambda sql, params=None: conn.execute(sql, params).fetchall()  # noqa: E731
        # Seeded rows: each still there once, with every committed UPDATE's + 1.
        updates = sum(c.updates for c in clients)
        check("seeded rows (count, distinct ids, sum of amount)",
              q("SELECT count(*), count(DISTINCT id), sum(amount) FROM load_kv WHERE id <= %s", (SEED_ROWS,)),
              [(SEED_ROWS, SEED_ROWS, seed_sum() + updates)])
        # Clients' rows: those inserted and not deleted, each exactly once, and no others.
        got = dict(q("SELECT id, count(*) FROM load_kv WHERE id > %s GROUP BY id", (SEED_ROWS,)))
        want = {kv_id: 1 for c in clients for kv_id in c.live}
        duplicated = sorted(i for i, n in got.items() if n != 1)
        missing = sorted(want.keys() - got.keys())
        extra = sorted(got.keys() - want.keys())
        check("client rows of load_kv (duplicated, missing, left after DELETE)",
              (duplicated[:5], missing[:5], extra[:5]), ([], [], []))
        check("client rows of load_kv (count)", sum(got.values()), len(want))
        # Appends: as many as succeeded, each (client, seq) once.
        appended = sum(c.log_seq for c in clients)
        check("load_log (count, distinct (client, seq))",
              q("SELECT count(*), count(DISTINCT client * %s + seq) FROM load_log", (ID_RANGE,)),
              [(appended, appended)])
        check("load_log per client (client, count, max seq)",
              q("SELECT client, count(*), max(seq) FROM load_log GROUP BY client ORDER BY client"),
              [(c.number, c.log_seq, c.log_seq) for c in clients if c.log_seq])
        # Blocks: every committed one's row and its UPDATE, no rolled-back one's.
        check("load_tx per client (client, count, distinct seq, sum)",
              q("SELECT client, count(*), count(DISTINCT seq), sum(amount) FROM load_tx"
                " GROUP BY client ORDER BY client"),
              [(c.number, len(c.blocks), len(c.blocks), sum(a for _, a in c.blocks))
               for c in clients if c.blocks])
        check("load_acct (client, n, total)",
              q("SELECT client, n, total FROM load_acct ORDER BY client"),
              [(c.number, len(c.blocks), sum((a for _, a in c.blocks), decimal.Decimal("0.00")))
               for c in clients])
    return failures


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


def peak_memory_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


def main():
    args = parse_args()
    setup(args.port, args.clients)
    conns = [connect(args.port) for _ in range(args.clients)]
    start = time.monotonic()
    clients = [Client(n, conn, start + args.seconds) for n, conn in enumerate(conns)]
    threads = [threading.Thread(target=c.run, name=f"client-{c.number}") for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    for conn in conns:
        conn.close()

    latencies = sorted(x for c in clients for x in c.latencies)
    errors = sorted(((t, c.number, op, e) for c in clients for t, op, e in c.errors), key=lambda x: x[0])
    failures = consistency(args.port, clients)
    print(f"clients: {args.clients}")
    print(f"seconds: {elapsed:.1f}")
    print(f"statements: {len(latencies)}")
    print(f"throughput: {len(latencies) / elapsed:.0f} statements/s")
    print(f"p50 latency: {percentile(latencies, 50) * 1000:.2f} ms")
    print(f"p99 latency: {percentile(latencies, 99) * 1000:.2f} ms")
    print(f"retries (40001): {sum(c.retries for c in clients)}")
    print(f"errors: {len(errors)}")
    if args.leader_pid:
        print(f"leader peak memory: {peak_memory_mib(args.leader_pid):.1f} MiB")
    problems = [f"client {n} {op}: {type(e).__name__}: {e}" for _, n, op, e in errors[:5]]
    problems += [f"consistency: {f}" for f in failures]
    if problems:
        sys.exit("load session failed:\n  " + "\n  ".join(problems))
    print("load session: ok")


if __name__ == "__main__":
    main()
