//! Views: created, replaced, read (also nested and joined), dropped; kept across a
//! restart; visible to psql's `\dv`, `information_schema` and `pg_class`; part of
//! transaction blocks like any catalog change.

use blueshift_tests::{TestCluster, error_of, rows};

fn cells(v: &[&[Option<&str>]]) -> Vec<Vec<Option<String>>> {
    v.iter()
        .map(|r| r.iter().map(|c| c.map(str::to_string)).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_are_read_replaced_dropped_and_listed() {
    let mut cluster = TestCluster::start(2, 1).await;
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE t (a INT, b VARCHAR(10)) DISTSTYLE EVEN;
         INSERT INTO t VALUES (1, 'x'), (2, 'y'), (3, NULL);
         CREATE VIEW v AS SELECT a, upper(b) AS ub FROM t WHERE a > 1;
         CREATE VIEW v2 (x, y) AS SELECT a, ub FROM v",
    )
    .await
    .unwrap();
    let want = cells(&[&[Some("2"), Some("Y")], &[Some("3"), None]]);
    assert_eq!(rows(&c, "SELECT * FROM v ORDER BY a").await, want);
    assert_eq!(rows(&c, "SELECT x, y FROM v2 ORDER BY x").await, want);
    assert_eq!(
        rows(&c, "SELECT count(*) FROM v JOIN t USING (a)").await,
        cells(&[&[Some("2")]])
    );
    // A view shows current data.
    c.batch_execute("INSERT INTO t VALUES (4, 'z')")
        .await
        .unwrap();
    assert_eq!(
        rows(&c, "SELECT count(*) FROM v2").await,
        cells(&[&[Some("3")]])
    );

    // Errors: the wrong kind of object, writes, duplicates.
    let (code, _, hint) = error_of(&c, "DROP TABLE v").await;
    assert_eq!((code.as_str(), hint.contains("DROP VIEW")), ("42809", true));
    let (code, _, _) = error_of(&c, "DROP VIEW t").await;
    assert_eq!(code, "42809");
    let (code, _, _) = error_of(&c, "INSERT INTO v VALUES (9, 'q')").await;
    assert_eq!(code, "0A000");
    let (code, _, _) = error_of(&c, "CREATE VIEW v AS SELECT 1").await;
    assert_eq!(code, "42P07");
    let (code, _, _) = error_of(&c, "CREATE VIEW t AS SELECT 1").await;
    assert_eq!(code, "42P07");
    let (code, _, _) = error_of(&c, "CREATE TABLE v (a INT)").await;
    assert_eq!(code, "42P07");
    let (code, _, _) = error_of(&c, "CREATE VIEW bad AS SELECT nope FROM t").await;
    assert_eq!(code, "42703");
    c.batch_execute("CREATE VIEW IF NOT EXISTS v AS SELECT 1; DROP VIEW IF EXISTS nope")
        .await
        .unwrap();

    // Catalog views.
    assert_eq!(
        rows(
            &c,
            "SELECT table_name, view_definition FROM information_schema.views \
             WHERE table_schema = 'public' ORDER BY 1"
        )
        .await,
        cells(&[
            &[
                Some("v"),
                Some("SELECT a, upper(b) AS ub FROM t WHERE a > 1")
            ],
            &[Some("v2"), Some("SELECT a, ub FROM v")],
        ])
    );
    assert_eq!(
        rows(
            &c,
            "SELECT table_name, table_type FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY 1"
        )
        .await,
        cells(&[
            &[Some("t"), Some("BASE TABLE")],
            &[Some("v"), Some("VIEW")],
            &[Some("v2"), Some("VIEW")],
        ])
    );
    assert_eq!(
        rows(
            &c,
            "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n \
             ON c.relnamespace = n.oid WHERE c.relkind = 'v' AND n.nspname = 'public' ORDER BY 1"
        )
        .await,
        cells(&[&[Some("v")], &[Some("v2")]])
    );
    let out = cluster
        .psql()
        .args(["-c", "\\dv", "-c", "\\d v2"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("| v    | view") && text.contains("| v2   | view"),
        "{text}"
    );
    assert!(
        text.contains("View \"public.v2\"") && text.contains(" x "),
        "{text}"
    );

    // OR REPLACE; in a block, a view comes and goes with the block.
    c.batch_execute("CREATE OR REPLACE VIEW v AS SELECT a, b AS ub FROM t")
        .await
        .unwrap();
    assert_eq!(
        rows(&c, "SELECT count(*) FROM v2").await,
        cells(&[&[Some("4")]])
    );
    c.batch_execute("BEGIN; DROP VIEW v2; CREATE VIEW w AS SELECT 1 AS one")
        .await
        .unwrap();
    let (code, _, _) = error_of(&c, "SELECT * FROM v2").await;
    assert_eq!(code, "42P01");
    c.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        rows(&c, "SELECT count(*) FROM v2").await,
        cells(&[&[Some("4")]])
    );
    let (code, _, _) = error_of(&c, "SELECT * FROM w").await;
    assert_eq!(code, "42P01");

    // Views are in the catalog: they outlive a restart.
    cluster.restart_hard().await;
    let c = cluster.client().await;
    assert_eq!(
        rows(&c, "SELECT count(*) FROM v2").await,
        cells(&[&[Some("4")]])
    );
    // A view over a dropped table stays listed; reading it says why it cannot be read.
    c.batch_execute(
        "CREATE TABLE gone (g INT); CREATE VIEW over_gone AS SELECT g FROM gone; DROP TABLE gone",
    )
    .await
    .unwrap();
    let (code, msg, _) = error_of(&c, "SELECT * FROM over_gone").await;
    assert_eq!(code, "42P01", "{msg}");
    assert!(msg.contains("over_gone"), "{msg}");
    assert_eq!(
        rows(
            &c,
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        .await,
        cells(&[&[Some("4")]])
    );
    c.batch_execute("DROP VIEW v2, v, over_gone").await.unwrap();
    assert_eq!(
        rows(
            &c,
            "SELECT count(*) FROM information_schema.views WHERE table_schema = 'public'"
        )
        .await,
        cells(&[&[Some("0")]])
    );
}
