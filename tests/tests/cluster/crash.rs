use std::time::Duration;

use blueshift_tests::{TestCluster, block_files, rows, try_rows};

async fn count(c: &tokio_postgres::Client, t: &str) -> i64 {
    rows(c, &format!("SELECT count(*) FROM {t}")).await[0][0]
        .as_ref()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn restart_after_kill9_keeps_every_committed_row() {
    let mut cluster = TestCluster::start(2, 2).await;
    {
        let c = cluster.client().await;
        c.batch_execute(
            "CREATE TABLE r (id BIGINT, s VARCHAR(8)) DISTKEY(id) SORTKEY(id);
             INSERT INTO r SELECT value, 'x' FROM generate_series(1, 5000);
             DELETE FROM r WHERE id <= 1000;
             CREATE TABLE r2 (a INT) DISTSTYLE ALL;
             INSERT INTO r2 VALUES (1), (2);",
        )
        .await
        .unwrap();
    }
    cluster.restart_hard().await;
    let c = cluster.client().await;
    assert_eq!(count(&c, "r").await, 4000);
    assert_eq!(count(&c, "r2").await, 2);
    assert_eq!(
        rows(&c, "SELECT min(id) FROM r").await[0][0].as_deref(),
        Some("1001")
    );
}

#[tokio::test]
async fn kill9_of_a_compute_node_during_a_large_insert_leaves_the_previous_version() {
    let mut cluster = TestCluster::start_with(2, 2, &["--node-timeout-secs", "5"]).await;
    let c = cluster.client().await;
    c.batch_execute("CREATE TABLE big (id BIGINT, v BIGINT) DISTKEY(id); INSERT INTO big SELECT value, value + 0 FROM generate_series(1, 1000)")
        .await
        .unwrap();
    let c2 = cluster.client().await;
    let insert = tokio::spawn(async move {
        c2.simple_query("INSERT INTO big SELECT value, value * 2 FROM generate_series(1, 20000000)")
            .await
    });
    // Let the insert get going (blocks are being staged), then kill node 1.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !insert.is_finished(),
        "the insert finished before the node was killed; make it larger"
    );
    cluster.kill9_compute(1);
    let result = insert.await.unwrap();
    let err = result.expect_err("the insert must fail when a node dies");
    assert!(err.as_db_error().is_some(), "{err}");
    assert_node_1_back_with_the_previous_version(&mut cluster, &c, "big", ("1000", "500500")).await;
}

/// Restarts compute node 1 (killed during a write) and checks that `table` holds exactly
/// the `(count, sum(v))` it had before the write; then, after a restart of the whole
/// cluster, that the block files on disk are exactly the committed ones (the failed
/// write's staged blocks are collected).
async fn assert_node_1_back_with_the_previous_version(
    cluster: &mut TestCluster,
    c: &tokio_postgres::Client,
    table: &str,
    expected: (&str, &str),
) {
    cluster.spawn_compute(1);
    let sql = format!("SELECT count(*), sum(v) FROM {table}");
    let mut n = None;
    for _ in 0..100 {
        if let Ok(r) = try_rows(c, &sql).await {
            n = Some((r[0][0].clone().unwrap(), r[0][1].clone().unwrap()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(n, Some((expected.0.to_string(), expected.1.to_string())));
    cluster.restart_hard().await;
    let c = cluster.client().await;
    assert_eq!(count(&c, table).await.to_string(), expected.0);
    let committed = blueshift_tests::committed_blocks(&c).await;
    assert_eq!(block_files(&cluster.dir), committed);
}

#[tokio::test]
async fn kill9_of_the_leader_during_an_insert_exposes_old_or_new_never_a_mix() {
    let mut cluster = TestCluster::start(2, 2).await;
    let c = cluster.client().await;
    c.batch_execute("CREATE TABLE lk (id BIGINT) DISTSTYLE EVEN; INSERT INTO lk SELECT value FROM generate_series(1, 100)")
        .await
        .unwrap();
    let c2 = cluster.client().await;
    let insert = tokio::spawn(async move {
        c2.simple_query("INSERT INTO lk SELECT value FROM generate_series(1, 5000000)")
            .await
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    cluster.kill9_leader();
    let _ = insert.await;
    cluster.restart_hard().await;
    let c = cluster.client().await;
    let n = count(&c, "lk").await;
    assert!(
        n == 100 || n == 5_000_100,
        "partial write visible: {n} rows"
    );
}

#[tokio::test]
async fn drop_and_truncate_free_block_files_while_running() {
    let cluster = TestCluster::start(2, 2).await;
    let c = cluster.client().await;
    let other = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE g (id BIGINT) DISTKEY(id); INSERT INTO g SELECT value FROM generate_series(1, 10000);
         CREATE TABLE h (id BIGINT) DISTSTYLE ALL; INSERT INTO h SELECT value FROM generate_series(1, 100);",
    )
    .await
    .unwrap();
    // Another session has read both tables; being idle, it holds no version.
    assert_eq!(
        rows(&other, "SELECT count(*) FROM g, h WHERE g.id = h.id").await[0][0].as_deref(),
        Some("100")
    );
    assert_eq!(block_files(&cluster.dir), 4 + 2);
    c.batch_execute("DROP TABLE g").await.unwrap();
    assert_eq!(block_files(&cluster.dir), 2);
    c.batch_execute("TRUNCATE h").await.unwrap();
    assert_eq!(block_files(&cluster.dir), 0);
    assert_eq!(count(&other, "h").await, 0);
}

#[tokio::test]
async fn kill9_of_a_compute_node_during_a_write_stage_leaves_the_previous_version() {
    let mut cluster = TestCluster::start_with(2, 2, &["--node-timeout-secs", "5"]).await;
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE src (id BIGINT, v BIGINT) DISTKEY(id);
         INSERT INTO src SELECT value, value + 0 FROM generate_series(1, 6000000);
         CREATE TABLE dst (id BIGINT, v BIGINT) DISTKEY(v);
         INSERT INTO dst VALUES (1, 1), (2, 2);",
    )
    .await
    .unwrap();
    let c2 = cluster.client().await;
    // Rows move between the nodes: the write stage on node 0 sends node 1 its share.
    let write = tokio::spawn(async move {
        c2.simple_query("INSERT INTO dst SELECT id, v * 7 FROM src")
            .await
    });
    // The table-to-table write of 6M rows takes a few seconds in a debug build; the node
    // dies well inside it.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        !write.is_finished(),
        "the write finished before the node was killed; make the source larger"
    );
    cluster.kill9_compute(1);
    let err = write
        .await
        .unwrap()
        .expect_err("the write must fail when a node dies");
    assert!(err.as_db_error().is_some(), "{err}");
    assert_node_1_back_with_the_previous_version(&mut cluster, &c, "dst", ("2", "3")).await;
}
