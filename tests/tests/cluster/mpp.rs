//! Joins and aggregations on the slices: placements, their EXPLAIN labels, and answers
//! that stay right however rows move (redistribute by the placement hash, broadcast, a
//! DISTSTYLE ALL table's local copy), and queries that fail or stop early on the nodes.

use blueshift_tests::{TestCluster, rows, sqlstate};

async fn explain(c: &tokio_postgres::Client, sql: &str) -> String {
    rows(c, &format!("EXPLAIN {sql}"))
        .await
        .into_iter()
        .map(|r| r.into_iter().flatten().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn one(c: &tokio_postgres::Client, sql: &str) -> String {
    rows(c, sql).await[0][0].clone().unwrap_or_default()
}

/// 200,000 rows on each side: too many to broadcast, so DataFusion plans a partitioned
/// join, the DISTKEY side declares its placement, and only the EVEN side moves. If the
/// redistribute hashed otherwise than the placement, keys would miss each other.
#[tokio::test]
async fn a_redistributed_side_lines_up_with_a_distkey_table() {
    let cluster = TestCluster::start(3, 2).await;
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE k (id BIGINT, v BIGINT) DISTKEY(id);
         CREATE TABLE e (id BIGINT, w BIGINT) DISTSTYLE EVEN;
         INSERT INTO k SELECT value, value % 7 FROM generate_series(1, 200000);
         INSERT INTO e SELECT value, value % 11 FROM generate_series(1, 200000);
         INSERT INTO e VALUES (NULL, 5), (NULL, 6);",
    )
    .await
    .unwrap();
    let join = "SELECT count(*), sum(v + w) FROM k JOIN e ON k.id = e.id";
    let plan = explain(&c, join).await;
    assert!(plan.contains("RedistributeExec"), "{plan}");
    assert!(
        plan.contains("[DS_DIST_INNER]") || plan.contains("[DS_DIST_OUTER]"),
        "{plan}"
    );
    assert!(!plan.contains("RepartitionExec"), "{plan}");
    let expected: i64 = (1..=200_000i64).map(|i| i % 7 + i % 11).sum();
    assert_eq!(
        rows(&c, join).await[0],
        vec![Some("200000".into()), Some(expected.to_string())]
    );
    // Grouped by the distribution key: final aggregates on the slices, no redistribute
    // of the groups, every key once.
    assert_eq!(
        one(
            &c,
            "SELECT count(*) FROM (SELECT k.id, count(*) AS n FROM k JOIN e ON k.id = e.id \
             GROUP BY k.id) t WHERE n = 1"
        )
        .await,
        "200000"
    );
    // Redshift's APPROXIMATE COUNT(DISTINCT): a HyperLogLog estimate merged across the
    // slices, within a few percent.
    let approx: f64 = one(
        &c,
        "SELECT APPROXIMATE COUNT(DISTINCT w * 1000000 + id) FROM e",
    )
    .await
    .parse()
    .unwrap();
    assert!((approx - 200_000.0).abs() < 200_000.0 * 0.03, "{approx}");
    assert_eq!(
        one(&c, "SELECT approximate count(distinct v) FROM k").await,
        "7"
    );
    // Outer joins keep every preserved row once, NULL keys included.
    assert_eq!(
        one(&c, "SELECT count(*) FROM e LEFT JOIN k ON e.id = k.id").await,
        "200002"
    );
    assert_eq!(
        one(
            &c,
            "SELECT count(*) FROM e FULL JOIN k ON e.id = k.id + 100000"
        )
        .await,
        "300002"
    );
    // NOT IN sees the NULL of the whole subquery side, not one slice's share.
    assert_eq!(
        one(
            &c,
            "SELECT count(*) FROM k WHERE id NOT IN (SELECT id FROM e)"
        )
        .await,
        "0"
    );
    assert_eq!(
        one(
            &c,
            "SELECT count(*) FROM k WHERE NOT EXISTS (SELECT 1 FROM e WHERE e.id = k.id + 199990)"
        )
        .await,
        "199990"
    );
}

#[tokio::test]
async fn small_sides_are_broadcast_or_read_from_every_nodes_copy() {
    let cluster = TestCluster::start(2, 2).await;
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE facts (id BIGINT, dim INT, amount DECIMAL(12,2)) DISTKEY(id);
         CREATE TABLE small (dim INT, name VARCHAR(10)) DISTSTYLE EVEN;
         CREATE TABLE everywhere (dim INT, name VARCHAR(10)) DISTSTYLE ALL;
         INSERT INTO facts SELECT value, CAST(value % 10 AS INT), CAST(value % 100 AS DECIMAL(12,2)) / 4
           FROM generate_series(1, 20000);
         INSERT INTO small SELECT CAST(value AS INT), 'd' || CAST(value AS VARCHAR) FROM generate_series(0, 4);
         INSERT INTO everywhere SELECT CAST(value AS INT), 'd' || CAST(value AS VARCHAR) FROM generate_series(0, 4);",
    )
    .await
    .unwrap();
    let bcast = "SELECT s.name, count(*), sum(f.amount) FROM facts f JOIN small s ON f.dim = s.dim \
                 GROUP BY s.name ORDER BY s.name";
    let plan = explain(&c, bcast).await;
    assert!(plan.contains("[DS_BCAST_INNER]"), "{plan}");
    assert!(plan.contains("BroadcastExec"), "{plan}");
    let all = bcast.replace("small", "everywhere");
    let plan = explain(&c, &all).await;
    assert!(plan.contains("[DS_DIST_ALL_NONE]"), "{plan}");
    assert!(!plan.contains("BroadcastExec"), "{plan}");
    // Each of ids 1..20000 with id % 10 < 5: 2000 per dim; amounts (id % 100) / 4.
    let expected: Vec<Vec<Option<String>>> = (0..5)
        .map(|d| {
            let sum: i64 = (1..=20_000i64)
                .filter(|i| i % 10 == d)
                .map(|i| i % 100)
                .sum();
            vec![
                Some(format!("d{d}")),
                Some("2000".into()),
                Some(format!("{:.2}", sum as f64 / 4.0)),
            ]
        })
        .collect();
    assert_eq!(rows(&c, bcast).await, expected);
    assert_eq!(rows(&c, &all).await, expected);
    // The small side preserved by an outer join is not broadcast (each of its rows once).
    assert_eq!(
        one(
            &c,
            "SELECT count(*) FROM small s LEFT JOIN facts f ON f.dim = s.dim + 8"
        )
        .await,
        "4003"
    );
    assert_eq!(
        one(
            &c,
            "SELECT count(*) FROM everywhere s LEFT JOIN facts f ON f.dim = s.dim + 8"
        )
        .await,
        "4003"
    );
    // An outer side that is a DISTSTYLE ALL table the join must read once (its rows
    // preserved or tested): the inner side goes whole to one slice to meet node 0's copy.
    c.batch_execute(
        "CREATE TABLE wide_all (k INT, name VARCHAR(10)) DISTSTYLE ALL;
         INSERT INTO wide_all SELECT CAST(value AS INT), 'w' FROM generate_series(1, 3000);",
    )
    .await
    .unwrap();
    let preserved =
        "SELECT count(*), count(s.dim) FROM wide_all w LEFT JOIN small s ON w.k = s.dim";
    let plan = explain(&c, preserved).await;
    assert!(plan.contains("[DS_DIST_ALL_INNER]"), "{plan}");
    assert!(plan.contains("Distribute to one slice"), "{plan}");
    assert_eq!(
        rows(&c, preserved).await[0],
        vec![Some("3000".into()), Some("4".into())]
    );
    let tested = "SELECT count(*) FROM wide_all w WHERE EXISTS \
                  (SELECT 1 FROM small s WHERE s.dim = w.k)";
    assert!(explain(&c, tested).await.contains("[DS_DIST_ALL_INNER]"));
    assert_eq!(one(&c, tested).await, "4");
    let missing = tested.replace("EXISTS", "NOT EXISTS");
    assert!(explain(&c, &missing).await.contains("[DS_DIST_ALL_INNER]"));
    assert_eq!(one(&c, &missing).await, "2996");
    // Aggregates over a redistribute: distinct counts, averages, deviations.
    assert_eq!(
        rows(
            &c,
            "SELECT count(DISTINCT dim), count(DISTINCT amount), min(amount), max(amount), \
             avg(dim), round(stddev_samp(dim), 6) FROM facts"
        )
        .await[0],
        vec![
            Some("10".into()),
            Some("100".into()),
            Some("0.00".into()),
            Some("24.75".into()),
            Some("4.5".into()),
            Some("2.872353".into()),
        ]
    );
}

#[tokio::test]
async fn failing_and_stopped_queries_end_on_every_node() {
    let cluster = TestCluster::start(2, 2).await;
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE a (id BIGINT, v BIGINT) DISTKEY(id);
         CREATE TABLE b (id BIGINT, w BIGINT) DISTSTYLE EVEN;
         INSERT INTO a SELECT value, value FROM generate_series(1, 150000);
         INSERT INTO b SELECT value, 0 FROM generate_series(1, 150000);",
    )
    .await
    .unwrap();
    let running = "SELECT count(*) FROM stv_exec_state";
    assert_eq!(
        sqlstate(&c, "SELECT sum(a.v / b.w) FROM a JOIN b ON a.id = b.id").await,
        "22012"
    );
    // The failed query's stages stopped on every node (the leader cancels its run).
    assert_eq!(one(&c, running).await, "0");
    // A limit stops reading early; the producers behind it stop too.
    let few = rows(&c, "SELECT a.id FROM a JOIN b ON a.id = b.id LIMIT 5").await;
    assert_eq!(few.len(), 5);
    assert_eq!(one(&c, running).await, "0");

    // A query cancelled while its stages run on the nodes: they all stop.
    let other = cluster.client().await;
    let token = other.cancel_token();
    let long = tokio::spawn(async move {
        other
            .simple_query("SELECT count(*) FROM a JOIN b ON a.id % 500 = b.id % 500")
            .await
            .map(|_| ())
    });
    loop {
        let streams = rows(&c, "SELECT query, segment, label FROM stv_exec_state").await;
        if !streams.is_empty() {
            break;
        }
        assert!(
            !long.is_finished(),
            "the long query ended before it was seen running"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let err = long.await.unwrap().expect_err("the query was cancelled");
    assert_eq!(err.as_db_error().unwrap().code().code(), "57014", "{err:?}");
    assert_eq!(one(&c, running).await, "0");
    for _ in 0..3 {
        assert_eq!(
            one(&c, "SELECT count(*) FROM a JOIN b ON a.id = b.id").await,
            "150000"
        );
    }
}

/// An UPDATE or DELETE whose subquery becomes a join (its target rows can move to other
/// nodes to meet the subquery's) still replaces each row once; and a join on the leader whose
/// sides were hashed by different functions (a DISTKEY scan, DataFusion's repartition of
/// a union) still finds every match.
#[tokio::test]
async fn joined_writes_and_leader_joins_stay_exact() {
    let cluster = TestCluster::start(2, 2).await;
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE t (id BIGINT, a BIGINT, v INT) DISTKEY(id);
         CREATE TABLE s (a BIGINT) DISTSTYLE EVEN;
         INSERT INTO t SELECT value, value % 100, 0 FROM generate_series(1, 200000);
         INSERT INTO s SELECT value % 50 FROM generate_series(1, 150000);",
    )
    .await
    .unwrap();
    // Correlated, so a semi join on the slices (an uncorrelated IN would go in as values).
    let plan = explain(
        &c,
        "SELECT id FROM t WHERE EXISTS (SELECT 1 FROM s WHERE s.a = t.a)",
    )
    .await;
    assert!(plan.contains("Semi") && plan.contains("[DS_"), "{plan}");
    let updated = c
        .execute(
            "UPDATE t SET v = 1 WHERE EXISTS (SELECT 1 FROM s WHERE s.a = t.a)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(updated, 100_000);
    assert_eq!(
        rows(&c, "SELECT count(*), sum(v) FROM t").await[0],
        vec![Some("200000".into()), Some("100000".into())]
    );
    let deleted = c
        .execute(
            "DELETE FROM t WHERE EXISTS (SELECT 1 FROM s WHERE s.a = t.a)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(deleted, 100_000);
    assert_eq!(one(&c, "SELECT count(*) FROM t").await, "100000");

    c.batch_execute(
        "CREATE TABLE o (k BIGINT) DISTKEY(k);
         CREATE TABLE l1 (k BIGINT) DISTSTYLE EVEN;
         CREATE TABLE l2 (k BIGINT) DISTSTYLE EVEN;
         INSERT INTO o SELECT value FROM generate_series(1, 200000);
         INSERT INTO l1 SELECT value FROM generate_series(1, 200000);
         INSERT INTO l2 SELECT value FROM generate_series(1, 200000);",
    )
    .await
    .unwrap();
    assert_eq!(
        one(
            &c,
            "SELECT count(*) FROM o JOIN (SELECT k FROM l1 UNION ALL SELECT k FROM l2) u ON o.k = u.k"
        )
        .await,
        "400000"
    );

    // A join whose condition needs the leader gathers its redistributed sides there: the
    // stages the leader asks for end in an exchange, and their filters (two ranges each)
    // are sent on to the producers as written.
    let leader_join = "SELECT count(*) FROM l1 JOIN l2 ON l1.k = l2.k \
         AND pg_size_pretty(l1.k + l2.k) <> 'x' \
         WHERE l1.k > 10 AND l1.k <= 190000 AND l2.k > 5 AND l2.k <= 195000";
    let plan = explain(&c, leader_join).await;
    assert!(
        plan.contains("On the leader") && plan.contains("Distribute by k"),
        "{plan}"
    );
    assert_eq!(one(&c, leader_join).await, "189990");
}

/// EXPLAIN ANALYZE and svl_query_summary show what the nodes measured: the rows and bytes
/// each stream sent, per slice to the leader and per node for an exchange.
#[tokio::test]
async fn explain_analyze_and_svl_query_summary_show_what_moved() {
    let cluster = TestCluster::start(2, 2).await;
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE k (id BIGINT, v BIGINT) DISTKEY(id);
         CREATE TABLE e (id BIGINT, w BIGINT) DISTSTYLE EVEN;
         INSERT INTO k SELECT value, value % 7 FROM generate_series(1, 200000);
         INSERT INTO e SELECT value, value % 11 FROM generate_series(1, 200000);",
    )
    .await
    .unwrap();
    let join = "SELECT count(*) FROM k JOIN e ON k.id = e.id";
    let plan = explain(&c, &format!("ANALYZE {join}")).await;
    let figure = |line: &str, name: &str| -> u64 {
        let at = line.find(&format!("{name}=")).unwrap() + name.len() + 1;
        line[at..].split(' ').next().unwrap().parse().unwrap()
    };
    // Every slice sends the leader its partial count: one row each.
    for slice in 0..4 {
        let line = plan
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("slice {slice}: ")))
            .unwrap_or_else(|| panic!("no slice {slice} in {plan}"));
        assert_eq!(figure(line, "rows"), 1, "{line}");
        assert!(figure(line, "bytes") > 0, "{line}");
    }
    // The EVEN side is redistributed: the two nodes send its 200,000 rows between them.
    let sent: Vec<&str> = plan.lines().filter(|l| l.contains(" sent: ")).collect();
    assert_eq!(sent.len(), 2, "{plan}");
    assert_eq!(sent.iter().map(|l| figure(l, "rows")).sum::<u64>(), 200_000);
    // Each operator on the slices shows what the nodes counted: the join matched all rows.
    let join_line = plan
        .lines()
        .find(|l| l.contains("HashJoinExec"))
        .unwrap_or_else(|| panic!("{plan}"));
    assert_eq!(figure(join_line, "rows"), 200_000, "{join_line}");
    // And each scan the rows it read: both tables whole, over all slices.
    let scans: Vec<&str> = plan
        .lines()
        .filter(|l| l.contains("SliceScanExec"))
        .collect();
    assert_eq!(scans.len(), 2, "{plan}");
    for scan in scans {
        assert_eq!(figure(scan, "rows"), 200_000, "{scan}");
    }
    // Bytes are what crossed the network: a node hands the rows for its own slices over
    // in the process, so about half of them (those bound for the other node) count.
    let bytes = sent.iter().map(|l| figure(l, "bytes")).sum::<u64>();
    assert!(bytes > 80_000 * 8 && bytes < 200_000 * 8, "{plan}");

    assert_eq!(one(&c, join).await, "200000");
    let query = one(
        &c,
        "SELECT max(query) FROM stl_query WHERE querytxt = 'SELECT count(*) FROM k JOIN e ON k.id = e.id'",
    )
    .await;
    let summary = rows(
        &c,
        &format!(
            "SELECT label, sum(rows), sum(streams), max(is_diskbased) FROM svl_query_summary \
             WHERE query = {query} GROUP BY label ORDER BY label"
        ),
    )
    .await;
    assert_eq!(
        summary,
        vec![
            vec![
                Some("dist".into()),
                Some("200000".into()),
                Some("8".into()),
                Some("f".into())
            ],
            vec![
                Some("return".into()),
                Some("4".into()),
                Some("4".into()),
                Some("f".into())
            ],
        ]
    );
    // A partial aggregate whose groups are most of its rows (two in three here, every
    // group on one slice) stops grouping and passes its rows on: grouping them cost
    // more than redistributing them. DataFusion's own bar (4 in 5) would keep grouping.
    c.batch_execute(
        "CREATE TABLE g (d BIGINT, g BIGINT) DISTKEY(d);
         INSERT INTO g SELECT value * 2 / 3, value * 2 / 3 FROM generate_series(1, 1200000);",
    )
    .await
    .unwrap();
    let grouped = "SELECT count(*) FROM (SELECT g, count(*) FROM g GROUP BY g) t";
    let plan = explain(&c, &format!("ANALYZE {grouped}")).await;
    let partial = plan
        .lines()
        .find(|l| l.contains("AggregateExec: mode=Partial, gby=[g@"))
        .unwrap_or_else(|| panic!("{plan}"));
    assert!(figure(partial, "rows") > 960_000, "{partial}");
    assert_eq!(one(&c, grouped).await, "800001");
}

/// A grouped side of a join reads only rows whose key the other side can match (the key
/// set of a filtered table, semi-joined below the aggregate); sides whose unmatched groups
/// show keep all of them.
#[tokio::test]
async fn grouped_sides_read_only_keys_that_can_match() {
    let cluster = TestCluster::start(2, 2).await;
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE f (k INT, v INT) DISTSTYLE EVEN;
         CREATE TABLE d (k INT, tag VARCHAR(5)) DISTSTYLE EVEN;
         INSERT INTO f SELECT value % 100, value FROM generate_series(1, 10000);
         INSERT INTO f VALUES (NULL, 5);
         INSERT INTO d SELECT value, CASE WHEN value % 10 = 0 THEN 'a' ELSE 'b' END
           FROM generate_series(0, 99);
         INSERT INTO d VALUES (NULL, 'a');",
    )
    .await
    .unwrap();
    // TPC-H Q17's shape: rows under their group's average, for the tagged keys only.
    let q17 = "SELECT count(*), sum(f.v) FROM f JOIN d ON f.k = d.k \
               WHERE d.tag = 'a' AND f.v < (SELECT avg(f2.v) FROM f f2 WHERE f2.k = d.k)";
    // The partial aggregate by key reads the keys' semi join, not the whole table.
    let plan = explain(&c, q17).await;
    let lines: Vec<&str> = plan.lines().collect();
    let partial = lines
        .iter()
        .position(|l| l.contains("AggregateExec: mode=Partial, gby=[k@"))
        .unwrap_or_else(|| panic!("{plan}"));
    // The semi join on an integer key runs as a key filter.
    assert!(lines[partial + 1].contains("KeyFilterExec: k@"), "{plan}");
    let (mut count, mut sum) = (0i64, 0i64);
    for k in (0..100).step_by(10) {
        let vs: Vec<i64> = (1..=10000).filter(|v| v % 100 == k).collect();
        let avg = vs.iter().sum::<i64>() as f64 / vs.len() as f64;
        for v in vs.iter().filter(|v| (**v as f64) < avg) {
            count += 1;
            sum += v;
        }
    }
    assert_eq!(
        rows(&c, q17).await[0],
        vec![Some(count.to_string()), Some(sum.to_string())]
    );
    // A derived grouped table with HAVING, joined to the tagged keys.
    let groups = rows(
        &c,
        "SELECT d.k, g.n FROM d JOIN (SELECT k, count(*) AS n FROM f GROUP BY k \
         HAVING count(*) > 0) g ON g.k = d.k WHERE d.tag = 'a' ORDER BY 1",
    )
    .await;
    let expected: Vec<Vec<Option<String>>> = (0..100)
        .step_by(10)
        .map(|k| vec![Some(k.to_string()), Some("100".into())])
        .collect();
    assert_eq!(groups, expected);
    // The grouped side preserved: every group stays, the NULL one too.
    assert_eq!(
        rows(
            &c,
            "SELECT count(*), count(d.k) FROM (SELECT k, count(*) AS n FROM f GROUP BY k) g \
             LEFT JOIN d ON g.k = d.k AND d.tag = 'a'"
        )
        .await[0],
        vec![Some("101".into()), Some("10".into())]
    );
    assert_eq!(
        one(
            &c,
            "SELECT count(*) FROM (SELECT k, count(*) AS n FROM f GROUP BY k) g \
             WHERE NOT EXISTS (SELECT 1 FROM d WHERE d.k = g.k AND d.tag = 'a')"
        )
        .await,
        "91"
    );
}
