//! Writes run where the rows are: INSERT ... SELECT, CREATE TABLE AS, UPDATE and DELETE
//! over slice-local input run as a write stage on the compute nodes (EXPLAIN shows it),
//! place rows exactly as a leader-side write would, keep their errors' SQLSTATEs, and
//! leave the table unchanged when they fail.

use blueshift_tests::{TestCluster, per_slice, rows, sqlstate};

async fn one(c: &tokio_postgres::Client, sql: &str) -> String {
    rows(c, sql).await[0][0].clone().unwrap_or_default()
}

#[tokio::test]
async fn table_to_table_writes_run_on_the_nodes() {
    let cluster = TestCluster::start_with(2, 2, &["--auto-all-max-rows", "500"]).await;
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE src (id BIGINT, g INT, s VARCHAR(8)) DISTKEY(id);
         INSERT INTO src SELECT value, CAST(value % 7 AS INT), CAST(value % 100 AS VARCHAR)
           FROM generate_series(1, 3000);
         CREATE TABLE by_g (id BIGINT, g INT, s VARCHAR(8)) DISTKEY(g);
         CREATE TABLE ev (id BIGINT, g INT, s VARCHAR(8)) DISTSTYLE EVEN;
         CREATE TABLE al (id BIGINT, g INT, s VARCHAR(8)) DISTSTYLE ALL;
         CREATE TABLE au (id BIGINT, g INT, s VARCHAR(8));",
    )
    .await
    .unwrap();

    // The plan: a write stage on the compute nodes, the leader gathering only outcomes.
    let plan: Vec<String> = rows(&c, "EXPLAIN INSERT INTO by_g SELECT * FROM src")
        .await
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    let text = plan.join("\n");
    let compute = text.find("(compute").expect(&text);
    let write = text
        .find("WriteExec: table=by_g, dist=KEY(g)")
        .expect(&text);
    assert!(write > compute, "{text}");

    let sum = "SELECT count(*), sum(id), sum(g), count(DISTINCT s)";
    let expected = rows(&c, &format!("{sum} FROM src")).await;
    for t in ["by_g", "ev", "al", "au"] {
        c.batch_execute(&format!("INSERT INTO {t} SELECT * FROM src"))
            .await
            .unwrap();
        assert_eq!(rows(&c, &format!("{sum} FROM {t}")).await, expected, "{t}");
    }
    // KEY on g: the nodes place rows exactly as the leader does. A sorted, limited input
    // is merged on the leader, so that copy is written from the leader.
    c.batch_execute(
        "CREATE TABLE by_g_leader (id BIGINT, g INT, s VARCHAR(8)) DISTKEY(g);
         INSERT INTO by_g_leader SELECT * FROM src ORDER BY id LIMIT 1000000;",
    )
    .await
    .unwrap();
    let leader_plan = rows(
        &c,
        "EXPLAIN INSERT INTO by_g_leader SELECT * FROM src ORDER BY id LIMIT 1000000",
    )
    .await;
    assert!(
        leader_plan
            .iter()
            .all(|r| !r[0].as_deref().unwrap_or("").contains("WriteExec")),
        "{leader_plan:?}"
    );
    let placed = per_slice(&c, "by_g").await;
    assert_eq!(placed, per_slice(&c, "by_g_leader").await);
    assert_eq!(placed.iter().sum::<i64>(), 3000);
    // 7 key values on 4 slices: each slice holds whole groups of about 430 rows.
    assert!(
        placed.iter().all(|n| n % 428 < 8 || n % 429 < 8),
        "{placed:?}"
    );
    // EVEN: slices within one batch's worth of each other; ALL: a full copy per node.
    let ev = per_slice(&c, "ev").await;
    assert_eq!(ev.iter().sum::<i64>(), 3000);
    assert!(ev.iter().all(|&n| n > 0), "{ev:?}");
    assert_eq!(per_slice(&c, "al").await, vec![3000, 0, 3000, 0]);
    // AUTO past its threshold becomes EVEN in the same write.
    assert_eq!(
        one(
            &c,
            "SELECT diststyle FROM svv_table_info WHERE \"table\" = 'au'"
        )
        .await,
        "AUTO(EVEN)"
    );
    assert!(per_slice(&c, "au").await.iter().all(|&n| n > 0));

    // UPDATE and DELETE as write stages: new row versions routed by the new key value.
    let plan = rows(&c, "EXPLAIN UPDATE by_g SET g = g + 1 WHERE id % 3 = 0").await;
    let text: Vec<String> = plan.into_iter().map(|r| r[0].clone().unwrap()).collect();
    assert!(
        text.iter()
            .any(|l| l.contains("WriteExec") && l.contains("replaces rows")),
        "{text:?}"
    );
    for t in ["by_g", "ev", "al"] {
        c.batch_execute(&format!("UPDATE {t} SET g = g + 1 WHERE id % 3 = 0"))
            .await
            .unwrap();
        c.batch_execute(&format!("DELETE FROM {t} WHERE id % 5 = 0"))
            .await
            .unwrap();
    }
    c.batch_execute("UPDATE src SET g = g + 1 WHERE id % 3 = 0; DELETE FROM src WHERE id % 5 = 0;")
        .await
        .unwrap();
    let expected = rows(&c, &format!("{sum} FROM src")).await;
    assert_eq!(expected[0][0].as_deref(), Some("2400"));
    for t in ["by_g", "ev", "al"] {
        assert_eq!(rows(&c, &format!("{sum} FROM {t}")).await, expected, "{t}");
    }
    // After the UPDATE moved rows between keys, placement still matches the leader's.
    c.batch_execute(
        "TRUNCATE by_g_leader;
         INSERT INTO by_g_leader SELECT * FROM by_g ORDER BY id LIMIT 1000000;",
    )
    .await
    .unwrap();
    assert_eq!(
        per_slice(&c, "by_g").await,
        per_slice(&c, "by_g_leader").await
    );
    assert_eq!(per_slice(&c, "al").await, vec![2400, 0, 2400, 0]);

    // CREATE TABLE AS from a table is a write stage too.
    c.batch_execute("CREATE TABLE copy_g DISTKEY(g) AS SELECT id, g FROM by_g WHERE g > 3")
        .await
        .unwrap();
    assert_eq!(
        one(&c, "SELECT count(*) FROM copy_g").await,
        one(&c, "SELECT count(*) FROM by_g WHERE g > 3").await
    );
}

#[tokio::test]
async fn a_failed_write_stage_keeps_its_code_and_changes_nothing() {
    let cluster = TestCluster::start(2, 2).await;
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE src (id BIGINT, s VARCHAR(20), n INT) DISTKEY(id);
         INSERT INTO src SELECT value, CAST(value * 1000 AS VARCHAR), CAST(NULLIF(value % 500, 0) AS INT)
           FROM generate_series(1, 2000);
         CREATE TABLE narrow (id BIGINT, s VARCHAR(5)) DISTKEY(s);
         CREATE TABLE strict (id BIGINT, n INT NOT NULL) DISTSTYLE EVEN;
         INSERT INTO narrow VALUES (1, 'a');",
    )
    .await
    .unwrap();
    // Values of up to 7 characters into VARCHAR(5): the node's error, with its SQLSTATE.
    assert_eq!(
        sqlstate(&c, "INSERT INTO narrow SELECT id, s FROM src").await,
        "22001"
    );
    // NULL into NOT NULL (four rows of 2000 have n NULL).
    assert_eq!(
        sqlstate(&c, "INSERT INTO strict SELECT id, n FROM src").await,
        "23502"
    );
    assert_eq!(
        sqlstate(&c, "UPDATE narrow SET s = 'toolong' WHERE id = 1").await,
        "22001"
    );
    assert_eq!(one(&c, "SELECT count(*) FROM narrow").await, "1");
    assert_eq!(one(&c, "SELECT s FROM narrow").await, "a");
    assert_eq!(one(&c, "SELECT count(*) FROM strict").await, "0");
    // The rows that fit are written by the same path.
    c.batch_execute("INSERT INTO strict SELECT id, n FROM src WHERE n IS NOT NULL")
        .await
        .unwrap();
    assert_eq!(one(&c, "SELECT count(*) FROM strict").await, "1996");
}
