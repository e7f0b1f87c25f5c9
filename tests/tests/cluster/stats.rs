//! Table statistics: ANALYZE, the figures COPY and INSERT take when they fill an empty
//! table, `pg_stats` and `svv_table_info.stats_off`, and the planner choosing a broadcast
//! from them.

use blueshift_tests::{TestCluster, error_of, rows};

async fn one(c: &tokio_postgres::Client, sql: &str) -> String {
    rows(c, sql).await[0][0].clone().unwrap_or_default()
}

async fn stats_off(c: &tokio_postgres::Client, table: &str) -> f64 {
    one(
        c,
        &format!("SELECT stats_off FROM svv_table_info WHERE \"table\" = '{table}'"),
    )
    .await
    .parse()
    .unwrap()
}

async fn join_label(c: &tokio_postgres::Client, sql: &str) -> String {
    rows(c, &format!("EXPLAIN {sql}"))
        .await
        .into_iter()
        .filter_map(|r| r[0].clone())
        .find(|l| l.contains("HashJoinExec"))
        .and_then(|l| Some(l[l.rfind('[')?..].to_string()))
        .unwrap_or_default()
}

/// The row estimate on EXPLAIN's `XN` line that starts with `step`.
async fn estimate(c: &tokio_postgres::Client, sql: &str, step: &str) -> u64 {
    let lines: Vec<String> = rows(c, &format!("EXPLAIN {sql}"))
        .await
        .into_iter()
        .filter_map(|r| r[0].clone())
        .collect();
    let line = lines
        .iter()
        .find(|l| l.trim_start().trim_start_matches("->  ").starts_with(step))
        .unwrap_or_else(|| panic!("no {step} in {lines:#?}"));
    let rows = line.split("rows=").nth(1).unwrap();
    rows[..rows.find(' ').unwrap()].parse().unwrap()
}

#[tokio::test]
async fn analyze_records_figures_that_choose_the_join_placement() {
    let cluster = TestCluster::start(2, 2).await;
    let c = cluster.client().await;
    let n = 700_000;
    c.batch_execute(&format!(
        "CREATE TABLE k (id BIGINT, v BIGINT) DISTKEY(id);
         CREATE TABLE e (id BIGINT, x BIGINT, s VARCHAR(20)) DISTSTYLE EVEN;
         INSERT INTO k SELECT value, value % 7 FROM generate_series(1, 750000);
         INSERT INTO e SELECT value, value, CASE WHEN value % 10 = 0 THEN NULL ELSE 'v' || (value % 50)::text END
           FROM generate_series(1, {n});"
    ))
    .await
    .unwrap();
    // An INSERT into an empty table takes the figures of what it wrote.
    assert_eq!(stats_off(&c, "e").await, 0.0);
    let figures = rows(
        &c,
        "SELECT attname, null_frac, avg_width, n_distinct, histogram_bounds FROM pg_stats \
         WHERE tablename = 'e' ORDER BY attname",
    )
    .await;
    assert_eq!(figures.len(), 3, "{figures:?}");
    let (id, s, x) = (&figures[0], &figures[1], &figures[2]);
    let distinct = |r: &Vec<Option<String>>| r[3].as_ref().unwrap().parse::<f64>().unwrap();
    assert!((distinct(x) - n as f64).abs() < n as f64 * 0.05, "{x:?}");
    assert_eq!(x[4].as_deref(), Some("{1,700000}"));
    let float = |v: &Option<String>| v.as_ref().unwrap().parse::<f64>().unwrap();
    assert_eq!(float(&id[1]), 0.0);
    // 'v0'..'v49' but the multiples of 10 (their rows hold NULL): 45 values.
    assert!((distinct(s) - 45.0).abs() <= 2.0, "{s:?}");
    assert_eq!(float(&s[1]), 0.1);
    assert_eq!(float(&s[2]), 3.0);

    // Rewritten since: the figures are stale, and the planner no longer trusts them.
    c.batch_execute(&format!(
        "DELETE FROM e WHERE id > 1;
         INSERT INTO e SELECT value, value, NULL FROM generate_series(2, {n});"
    ))
    .await
    .unwrap();
    assert_eq!(stats_off(&c, "e").await, 100.0);
    let join = "SELECT count(*) FROM k JOIN e ON k.id = e.id WHERE e.x <= 100";
    // Without a range, the filter is thought to keep every row of `e` (1.4M stored, the
    // deleted ones among them): too many to broadcast, and sending all of `k` to both
    // nodes (1.5M rows) moves more than redistributing `e` onto the DISTKEY side.
    assert_eq!(join_label(&c, join).await, "[DS_DIST_OUTER]");
    assert!(estimate(&c, join, "XN Seq Scan on e").await > 128 * 1024);
    assert_eq!(estimate(&c, join, "XN Seq Scan on k").await, 750_000);
    assert_eq!(one(&c, join).await, "100");

    c.batch_execute("ANALYZE e").await.unwrap();
    assert_eq!(stats_off(&c, "e").await, 0.0);
    // With the range, the filter keeps about 100 rows: broadcast them.
    assert_eq!(join_label(&c, join).await, "[DS_BCAST_INNER]");
    let filtered = estimate(&c, join, "XN Seq Scan on e").await;
    assert!((50..=200).contains(&filtered), "{filtered}");
    assert!(estimate(&c, join, "XN Hash Join DS_BCAST_INNER").await <= 200);
    assert_eq!(one(&c, join).await, "100");

    // Deleting a tenth or less keeps the figures in use; stats_off says how much changed.
    c.batch_execute("DELETE FROM e WHERE id <= 35000")
        .await
        .unwrap();
    assert_eq!(stats_off(&c, "e").await, 5.0);
    assert_eq!(join_label(&c, join).await, "[DS_BCAST_INNER]");
    assert_eq!(one(&c, join).await, "0");

    // A column list re-takes those columns only; ANALYZE with no table takes them all.
    c.batch_execute("ANALYZE e (s) PREDICATE COLUMNS")
        .await
        .unwrap();
    c.batch_execute("ANALYZE VERBOSE").await.unwrap();
    assert_eq!(stats_off(&c, "e").await, 0.0);
    assert_eq!(stats_off(&c, "k").await, 0.0);

    // Two EVEN sides, 200K and 665K rows: DataFusion would hash both (its build side is
    // over 128K rows), moving 865K rows; sending the small side to both nodes moves 400K
    // and leaves the large one where it is.
    c.batch_execute(
        "CREATE TABLE m (id BIGINT) DISTSTYLE EVEN;
         INSERT INTO m SELECT value FROM generate_series(1, 200000);",
    )
    .await
    .unwrap();
    let both_even = "SELECT count(*) FROM m JOIN e ON m.id = e.id";
    assert_eq!(join_label(&c, both_even).await, "[DS_BCAST_INNER]");
    assert_eq!(one(&c, both_even).await, "165000");
    // A left join keeps every row of `e`, so `e` cannot be the broadcast side; `m` can,
    // once the sides are swapped (a right join with `m` as its build side).
    let left_join = "SELECT count(*), count(m.id) FROM e LEFT JOIN m ON e.id = m.id";
    assert_eq!(join_label(&c, left_join).await, "[DS_BCAST_INNER]");
    assert_eq!(
        rows(&c, left_join).await[0],
        [Some("665000".to_string()), Some("165000".to_string())]
    );

    // EXISTS and NOT EXISTS against the large side: the few keys of the small side go to
    // every node first, and only the rows of `e` that have one of them are redistributed.
    c.batch_execute(
        "CREATE TABLE g (id BIGINT, g INT) DISTSTYLE EVEN;
         INSERT INTO g SELECT value, value % 100 FROM generate_series(1, 200000);",
    )
    .await
    .unwrap();
    let exists = |not: &str| {
        format!(
            "SELECT count(*) FROM g WHERE g.g = 0 AND {not} EXISTS \
             (SELECT 1 FROM e WHERE e.id = g.id AND e.x > 0)"
        )
    };
    for (not, count) in [("", "1650"), ("NOT", "350")] {
        let sql = exists(not);
        let plan: Vec<String> = rows(&c, &format!("EXPLAIN {sql}"))
            .await
            .into_iter()
            .filter_map(|r| r[0].clone())
            .collect();
        assert!(
            plan.iter().any(|l| l.contains("KeyFilterExec: id@")
                && l.contains("in keys [__reduction_key_0]")
                && l.ends_with("[DS_BCAST_INNER]")),
            "{plan:#?}"
        );
        assert_eq!(one(&c, &sql).await, count, "{sql}");
    }

    // When the small side is itself redistributed (a join's output here) and costs more
    // to run again than `e` has rows, its producers also send its keys to every node (a
    // key tap), and `e` is filtered by them before it is redistributed.
    c.batch_execute(
        "CREATE TABLE m2 (id BIGINT) DISTSTYLE EVEN;
         INSERT INTO m2 SELECT value FROM generate_series(1, 900000);",
    )
    .await
    .unwrap();
    let tapped = |not: &str| {
        format!(
            "SELECT count(*) FROM (SELECT g.id, g.g FROM g JOIN m2 ON g.id = m2.id WHERE g.g = 1) b \
             WHERE {not} EXISTS (SELECT 1 FROM e WHERE e.id = b.id AND e.x <> b.g)"
        )
    };
    for (not, count) in [("", "1650"), ("NOT", "350")] {
        let sql = tapped(not);
        let plan: Vec<String> = rows(&c, &format!("EXPLAIN {sql}"))
            .await
            .into_iter()
            .filter_map(|r| r[0].clone())
            .collect();
        let at = plan
            .iter()
            .position(|l| l.contains("KeyFilterExec: id@") && l.ends_with("[DS_BCAST_INNER]"))
            .unwrap_or_else(|| panic!("{plan:#?}"));
        assert!(
            plan[at + 1].contains("BroadcastKeysExec: keys=[id]"),
            "{plan:#?}"
        );
        assert!(plan[at + 2].contains("table=e"), "{plan:#?}");
        assert!(
            plan.iter().any(|l| l.contains("Broadcast keys id")),
            "{plan:#?}"
        );
        assert_eq!(one(&c, &sql).await, count, "{sql}");
    }
    // The tap carries the build side's 2,000 keys to each of the 2 nodes, measured apart
    // from the rows its exchange redistributes.
    let analyzed: Vec<String> = rows(&c, &format!("EXPLAIN ANALYZE {}", tapped("")))
        .await
        .into_iter()
        .filter_map(|r| r[0].clone())
        .collect();
    let sent_keys: u64 = analyzed
        .iter()
        .filter(|l| l.contains(" sent keys: "))
        .map(|l| {
            let at = l.find("rows=").unwrap() + 5;
            l[at..].split(' ').next().unwrap().parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(sent_keys, 4000, "{analyzed:#?}");

    // Clear errors for what cannot be analyzed.
    c.batch_execute("CREATE VIEW ev AS SELECT * FROM e; CREATE USER bob PASSWORD 'Bob-Pw123'")
        .await
        .unwrap();
    assert_eq!(error_of(&c, "ANALYZE ev").await.0, "42809");
    assert_eq!(error_of(&c, "ANALYZE e (nope)").await.0, "42703");
    assert_eq!(error_of(&c, "ANALYZE nope").await.0, "42P01");
    assert_eq!(error_of(&c, "ANALYZE COMPRESSION e").await.0, "0A000");
    assert_eq!(error_of(&c, "ANALYZE e junk junk").await.0, "42601");
    let bob = cluster.connect_as("bob", "Bob-Pw123").await.unwrap();
    assert_eq!(error_of(&bob, "ANALYZE e").await.0, "42501");
    // With no table, ANALYZE takes the tables the user owns: none of these.
    bob.batch_execute("ANALYZE").await.unwrap();
}

#[tokio::test]
async fn copy_into_an_empty_table_takes_figures_unless_statupdate_off() {
    let cluster = TestCluster::start(1, 2).await;
    let c = cluster.client().await;
    let file = cluster.dir.join("rows.csv");
    let text: String = (1..=1000)
        .map(|i| format!("{i},name{}\n", i % 10))
        .collect();
    std::fs::write(&file, text).unwrap();
    c.batch_execute(
        "CREATE TABLE a (id INT, name VARCHAR(10)); CREATE TABLE b (id INT, name VARCHAR(10));",
    )
    .await
    .unwrap();
    c.batch_execute(&format!("COPY a FROM '{}' CSV", file.display()))
        .await
        .unwrap();
    c.batch_execute(&format!(
        "COPY b FROM '{}' CSV STATUPDATE OFF",
        file.display()
    ))
    .await
    .unwrap();
    assert_eq!(stats_off(&c, "a").await, 0.0);
    assert_eq!(stats_off(&c, "b").await, 100.0);
    assert_eq!(
        one(&c, "SELECT count(*) FROM pg_stats WHERE tablename = 'b'").await,
        "0"
    );
    let id = rows(
        &c,
        "SELECT n_distinct, histogram_bounds FROM pg_stats WHERE tablename = 'a' AND attname = 'id'",
    )
    .await;
    let distinct: f64 = id[0][0].as_ref().unwrap().parse().unwrap();
    assert!((distinct - 1000.0).abs() <= 20.0, "{id:?}");
    assert_eq!(id[0][1].as_deref(), Some("{1,1000}"));
    // A second COPY into a table that holds rows leaves the figures as they were: 50%
    // of the rows are new.
    c.batch_execute(&format!("COPY a FROM '{}' CSV", file.display()))
        .await
        .unwrap();
    assert_eq!(stats_off(&c, "a").await, 100.0);
    c.batch_execute(&format!(
        "COPY a FROM '{}' CSV STATUPDATE ON",
        file.display()
    ))
    .await
    .unwrap();
    assert_eq!(stats_off(&c, "a").await, 0.0);
}

/// Inner joins written in a poor order run in the order the statistics favour (the
/// filtered small table first), with the written columns and the same answers; a good
/// written order is kept.
#[tokio::test]
async fn inner_joins_run_in_the_order_the_statistics_favour() {
    let cluster = TestCluster::start(2, 2).await;
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE f (id BIGINT, a INT, b INT, v INT) DISTKEY(id);
         CREATE TABLE d1 (a INT, tag VARCHAR(5)) DISTSTYLE EVEN;
         CREATE TABLE d2 (b INT, name VARCHAR(10)) DISTSTYLE EVEN;
         CREATE TABLE d3 (a INT, tag VARCHAR(5)) DISTSTYLE EVEN;
         CREATE TABLE s (sk INT, sn INT) DISTSTYLE EVEN;
         CREATE TABLE n (nk INT, nname VARCHAR(5)) DISTSTYLE EVEN;
         INSERT INTO f SELECT value, value % 1000, value % 997, value % 13 FROM generate_series(1, 100000);
         INSERT INTO d1 SELECT value, CASE WHEN value % 100 = 0 THEN 'x' ELSE 'y' END FROM generate_series(0, 999);
         INSERT INTO d2 SELECT value, 'n' || value::text FROM generate_series(0, 999);
         INSERT INTO d3 SELECT value, 't' || (value % 100)::text FROM generate_series(0, 999);
         INSERT INTO s SELECT value, value % 25 FROM generate_series(0, 999);
         INSERT INTO n SELECT value, 'n' || value::text FROM generate_series(0, 24);
         ANALYZE f; ANALYZE d1; ANALYZE d2; ANALYZE d3; ANALYZE s; ANALYZE n;",
    )
    .await
    .unwrap();
    let explain = |sql: String| {
        let c = &c;
        async move {
            let lines: Vec<String> = rows(c, &format!("EXPLAIN {sql}"))
                .await
                .into_iter()
                .filter_map(|r| r[0].clone())
                .collect();
            lines
        }
    };
    // Which of two dimensions the plan joins first (the deeper join is listed later, but
    // its inner scan comes before the other join's).
    let first = |sql: String, x: &'static str, y: &'static str| {
        let explain = &explain;
        async move {
            let lines = explain(sql).await;
            let at = |t: &str| {
                lines
                    .iter()
                    .position(|l| l.contains(&format!("Seq Scan on {t} ")))
                    .unwrap_or_else(|| panic!("no scan of {t} in {lines:#?}"))
            };
            if at(x) < at(y) { x } else { y }
        }
    };
    let poor = "FROM f JOIN d2 ON f.b = d2.b JOIN d1 ON f.a = d1.a WHERE d1.tag = 'x'";
    let good = "FROM f JOIN d1 ON f.a = d1.a JOIN d2 ON f.b = d2.b WHERE d1.tag = 'x'";
    assert_eq!(
        first(format!("SELECT count(*) {poor}"), "d1", "d2").await,
        "d1"
    );
    assert_eq!(
        first(format!("SELECT count(*) {good}"), "d1", "d2").await,
        "d1"
    );

    // A string equality keeps 1 row in ndv (here 1 in 100), not DataFusion's default
    // 1 in 5, which would make `d3` look as big as `d2` (filtered to 20% by its range).
    let by_name =
        "FROM f JOIN d2 ON f.b = d2.b JOIN d3 ON f.a = d3.a WHERE d3.tag = 't7' AND d2.b < 200";
    let by_name_good =
        "FROM f JOIN d3 ON f.a = d3.a JOIN d2 ON f.b = d2.b WHERE d3.tag = 't7' AND d2.b < 200";
    assert_eq!(
        first(format!("SELECT count(*) {by_name}"), "d3", "d2").await,
        "d3"
    );
    assert_eq!(
        one(&c, &format!("SELECT count(*) {by_name}")).await,
        one(&c, &format!("SELECT count(*) {by_name_good}")).await
    );

    // A chain whose small end is not the fact table: the filtered `n` joins `s` first,
    // and only the few suppliers left meet `f` (the top join is then f's).
    let chain = "FROM f JOIN s ON f.b = s.sk JOIN n ON s.sn = n.nk WHERE n.nname = 'n7'";
    let top = explain(format!("SELECT count(*) {chain}"))
        .await
        .into_iter()
        .find(|l| l.contains("Hash Cond"))
        .expect("a hash join");
    assert!(top.contains("\"outer\".b = \"inner\".sk"), "{top}");
    let written = one(&c, &format!("SELECT count(*) {chain}")).await;
    assert_eq!(
        written,
        one(
            &c,
            "SELECT count(*) FROM f WHERE b IN (SELECT sk FROM s WHERE sn = 7)"
        )
        .await
    );
    assert_eq!(written, "4012");
    // Two joins only: nothing to choose but the build sides.
    assert_eq!(
        one(&c, "SELECT count(*) FROM f JOIN d2 ON f.b = d2.b").await,
        "100000"
    );

    // The same answers, in the written column order.
    let count = format!("SELECT count(*), sum(v), sum(length(name)) {poor}");
    let expected = vec![vec![
        Some("1000".to_string()),
        Some(one(&c, &format!("SELECT sum(v) {good}")).await),
        Some(one(&c, &format!("SELECT sum(length(name)) {good}")).await),
    ]];
    assert_eq!(rows(&c, &count).await, expected);
    assert_eq!(expected[0][1].as_deref(), Some("6006"));
    let star = c
        .prepare(&format!("SELECT * {poor} ORDER BY f.id LIMIT 2"))
        .await
        .unwrap();
    let names: Vec<&str> = star.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["id", "a", "b", "v", "b", "name", "a", "tag"]);
    assert_eq!(
        rows(&c, &format!("SELECT * {poor} ORDER BY f.id LIMIT 2")).await,
        vec![
            ["100", "100", "100", "9", "100", "n100", "100", "x"]
                .map(|s| Some(s.to_string()))
                .to_vec(),
            ["200", "200", "200", "5", "200", "n200", "200", "x"]
                .map(|s| Some(s.to_string()))
                .to_vec(),
        ]
    );
}
