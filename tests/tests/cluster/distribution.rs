use blueshift_tests::{TestCluster, per_slice, rows};

#[tokio::test]
async fn every_diststyle_places_rows_as_stated() {
    let cluster = TestCluster::start_with(2, 2, &["--auto-all-max-rows", "500"]).await;
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE k (id BIGINT, v INT) DISTSTYLE KEY DISTKEY(id);
         CREATE TABLE one_key (id BIGINT, v INT) DISTKEY(id);
         CREATE TABLE e (id BIGINT, v INT) DISTSTYLE EVEN;
         CREATE TABLE a (id BIGINT, v INT) DISTSTYLE ALL;
         CREATE TABLE auto_t (id BIGINT, v INT);
         INSERT INTO k SELECT value, 1 FROM generate_series(1, 1000);
         INSERT INTO one_key SELECT 42, CAST(value AS INT) FROM generate_series(1, 100);
         INSERT INTO e SELECT value, 1 FROM generate_series(1, 1001);
         INSERT INTO a SELECT value, 1 FROM generate_series(1, 300);
         INSERT INTO auto_t SELECT value, 1 FROM generate_series(1, 300);",
    )
    .await
    .unwrap();

    // KEY: every slice gets some of 1000 distinct keys; one key value lands on one slice.
    let k = per_slice(&c, "k").await;
    assert_eq!(k.len(), 4);
    assert_eq!(k.iter().sum::<i64>(), 1000);
    assert!(k.iter().all(|&n| n > 150), "{k:?}");
    let one = per_slice(&c, "one_key").await;
    assert_eq!(one.iter().filter(|&&n| n > 0).count(), 1, "{one:?}");
    assert_eq!(one.iter().sum::<i64>(), 100);

    // EVEN: round-robin, so slices differ by at most one row.
    let e = per_slice(&c, "e").await;
    assert_eq!(e.iter().sum::<i64>(), 1001);
    assert!(
        e.iter().max().unwrap() - e.iter().min().unwrap() <= 1,
        "{e:?}"
    );

    // ALL: a full copy on the first slice of every node.
    assert_eq!(per_slice(&c, "a").await, vec![300, 0, 300, 0]);
    assert_eq!(
        rows(&c, "SELECT count(*) FROM a").await[0][0].as_deref(),
        Some("300")
    );

    // AUTO: ALL while small, then EVEN once past the threshold (500 rows here).
    assert_eq!(per_slice(&c, "auto_t").await, vec![300, 0, 300, 0]);
    let style = |t: &'static str| {
        let c = &c;
        async move {
            rows(
                c,
                &format!("SELECT diststyle FROM svv_table_info WHERE \"table\" = '{t}'"),
            )
            .await[0][0]
                .clone()
                .unwrap()
        }
    };
    assert_eq!(style("auto_t").await, "AUTO(ALL)");
    c.batch_execute("INSERT INTO auto_t SELECT value, 2 FROM generate_series(301, 700)")
        .await
        .unwrap();
    assert_eq!(style("auto_t").await, "AUTO(EVEN)");
    let auto_even = per_slice(&c, "auto_t").await;
    assert_eq!(auto_even.iter().sum::<i64>(), 700);
    assert!(
        auto_even.iter().max().unwrap() - auto_even.iter().min().unwrap() <= 1,
        "{auto_even:?}"
    );
    assert_eq!(style("k").await, "KEY(id)");
    assert_eq!(style("a").await, "ALL");

    // A DELETE on an ALL table removes the rows from every copy.
    c.batch_execute("DELETE FROM a WHERE id <= 100")
        .await
        .unwrap();
    assert_eq!(per_slice(&c, "a").await, vec![200, 0, 200, 0]);
}

#[tokio::test]
async fn sort_key_range_predicate_skips_blocks() {
    let cluster = TestCluster::start(2, 2).await;
    let c = cluster.client().await;
    c.batch_execute("CREATE TABLE ev (id BIGINT, day DATE, v INT) DISTSTYLE EVEN SORTKEY(day)")
        .await
        .unwrap();
    // Ten loads, each one month: every load writes one block per slice with a narrow zone map.
    for m in 1..=10 {
        c.batch_execute(&format!(
            "INSERT INTO ev SELECT value, to_date('2026-{m:02}-' || lpad(CAST(value % 28 + 1 AS VARCHAR), 2, '0')), 1 FROM generate_series(1, 400)"
        ))
        .await
        .unwrap();
    }
    let plan: Vec<String> = rows(
        &c,
        "EXPLAIN ANALYZE SELECT count(*) FROM ev WHERE day BETWEEN '2026-03-05' AND '2026-03-09'",
    )
    .await
    .into_iter()
    .map(|r| r[0].clone().unwrap())
    .collect();
    let text = plan.join("\n");
    assert!(text.contains("Stage 1 (compute"), "{text}");
    assert!(text.contains("GatherExec"), "{text}");
    assert!(
        text.contains("blocks_scanned=4, blocks_skipped=36"),
        "{text}"
    );
    // Each slice's stream, as its node measured it.
    assert!(text.contains("  slice 0: rows="), "{text}");
    assert_eq!(
        rows(
            &c,
            "SELECT count(*) FROM ev WHERE day BETWEEN '2026-03-05' AND '2026-03-09'"
        )
        .await[0][0]
            .as_deref(),
        Some("75")
    );
}

/// Blocks of more than one Parquet row group: a range predicate skips row groups inside a
/// block, and delete vectors still hit the right rows in every row group.
#[tokio::test]
async fn row_groups_inside_blocks_keep_deletes_exact() {
    let cluster = TestCluster::start(2, 2).await;
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE big (id BIGINT, v BIGINT) DISTKEY(id) SORTKEY(id);
         INSERT INTO big SELECT value, value * 2 FROM generate_series(1, 1000000);
         DELETE FROM big WHERE id % 1000 = 0;
         UPDATE big SET v = -1 WHERE id BETWEEN 900001 AND 900010;",
    )
    .await
    .unwrap();
    let one = |sql: &'static str| {
        let c = &c;
        async move { rows(c, sql).await[0][0].clone().unwrap() }
    };
    assert_eq!(one("SELECT count(*) FROM big").await, "999000");
    assert_eq!(
        one("SELECT count(*) FROM big WHERE id BETWEEN 900000 AND 999999").await,
        "99900"
    );
    assert_eq!(one("SELECT count(*) FROM big WHERE id < 1000").await, "999");
    assert_eq!(
        one("SELECT sum(v) FROM big WHERE id BETWEEN 900001 AND 900010").await,
        "-10"
    );
    assert_eq!(one("SELECT count(*) FROM big WHERE v = -1").await, "10");
    assert_eq!(
        one("SELECT max(id) FROM big WHERE id < 500000").await,
        "499999"
    );
}
