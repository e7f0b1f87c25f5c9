//! Schemas: CREATE/DROP SCHEMA, names looked up along `search_path`, USAGE and CREATE
//! grants, schemas in transaction blocks and across a kill -9, and what psql and the
//! catalog views show of them.

use blueshift_tests::{TestCluster, error_of, rows};

fn one(v: &[Vec<Option<String>>]) -> Vec<String> {
    v.iter()
        .map(|r| {
            r.iter()
                .map(|c| c.clone().unwrap_or_else(|| "NULL".into()))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_hold_their_own_tables_and_follow_the_search_path() {
    let mut cluster = TestCluster::start(2, 1).await;
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE SCHEMA analytics;
         CREATE TABLE analytics.t (a INT, b VARCHAR(10)) DISTKEY(a);
         INSERT INTO analytics.t VALUES (1, 'x'), (2, 'y');
         CREATE TABLE t (a INT);
         INSERT INTO t VALUES (100);",
    )
    .await
    .unwrap();
    // The same name in two schemas: two tables.
    assert_eq!(
        one(&rows(&c, "SELECT a, b FROM analytics.t ORDER BY a").await),
        ["1|x", "2|y"]
    );
    assert_eq!(one(&rows(&c, "SELECT a FROM dev.public.t").await), ["100"]);
    assert_eq!(one(&rows(&c, "SELECT a FROM t").await), ["100"]);

    // search_path: unqualified names are found, and created, in its first schema.
    c.batch_execute(
        "SET search_path TO analytics, public;
         INSERT INTO t VALUES (3, 'z');
         UPDATE t SET b = 'w' WHERE a = 1;
         DELETE FROM t WHERE a = 2;
         CREATE TABLE only_here (c INT);
         INSERT INTO only_here SELECT a FROM t;
         CREATE VIEW v AS SELECT a, b FROM t WHERE a < 3",
    )
    .await
    .unwrap();
    assert_eq!(
        one(&rows(&c, "SELECT a, b FROM t ORDER BY a").await),
        ["1|w", "3|z"]
    );
    assert_eq!(
        one(&rows(&c, "SELECT count(*) FROM analytics.only_here").await),
        ["2"]
    );
    // A CTE's name hides a table of the same name; a public table is still found.
    assert_eq!(
        one(&rows(&c, "WITH t AS (SELECT 42 AS a) SELECT a FROM t").await),
        ["42"]
    );
    assert_eq!(
        one(&rows(&c, "SELECT count(*) FROM public.t JOIN t USING (a)").await),
        ["0"]
    );
    // The view keeps the table its creator's path found, whatever the reader's path.
    c.batch_execute("SET search_path TO public").await.unwrap();
    assert_eq!(one(&rows(&c, "SELECT a FROM analytics.v").await), ["1"]);
    assert_eq!(error_of(&c, "SELECT * FROM v").await.0, "42P01");
    assert_eq!(one(&rows(&c, "SELECT a FROM t").await), ["100"]);
    assert_eq!(one(&rows(&c, "SHOW search_path").await), ["public"]);
    c.batch_execute("RESET search_path").await.ok();

    // Errors: an unknown schema is 3F000, a second one of a name 42P06, reserved names.
    assert_eq!(
        error_of(&c, "CREATE TABLE nosuch.x (a INT)").await.0,
        "3F000"
    );
    assert_eq!(error_of(&c, "CREATE SCHEMA analytics").await.0, "42P06");
    assert_eq!(error_of(&c, "CREATE SCHEMA public").await.0, "42P06");
    assert_eq!(error_of(&c, "CREATE SCHEMA pg_mine").await.0, "42939");
    c.batch_execute("CREATE SCHEMA IF NOT EXISTS analytics; DROP SCHEMA IF EXISTS nosuch")
        .await
        .unwrap();

    // The catalog: pg_namespace, information_schema, pg_tables/pg_views, svv_tables, psql.
    assert_eq!(
        one(&rows(
            &c,
            "SELECT nspname FROM pg_namespace WHERE nspname IN ('analytics', 'public') ORDER BY 1"
        )
        .await),
        ["analytics", "public"]
    );
    assert_eq!(
        one(&rows(
            &c,
            "SELECT table_schema, table_name, table_type FROM information_schema.tables \
             WHERE table_schema IN ('analytics', 'public') ORDER BY 1, 2"
        )
        .await),
        [
            "analytics|only_here|BASE TABLE",
            "analytics|t|BASE TABLE",
            "analytics|v|VIEW",
            "public|t|BASE TABLE"
        ]
    );
    assert_eq!(
        one(&rows(
            &c,
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = 'analytics' ORDER BY 2"
        )
        .await),
        ["analytics|only_here", "analytics|t"]
    );
    assert_eq!(
        one(&rows(&c, "SELECT schemaname, viewname FROM pg_views").await),
        ["analytics|v"]
    );
    assert_eq!(
        one(&rows(
            &c,
            "SELECT table_schema, table_name FROM svv_tables ORDER BY 1, 2"
        )
        .await),
        [
            "analytics|only_here",
            "analytics|t",
            "analytics|v",
            "public|t"
        ]
    );
    let out = cluster
        .psql()
        .args(["-c", "\\dn", "-c", "\\d analytics.t"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("analytics"), "{text}");
    assert!(text.contains("Table \"analytics.t\""), "{text}");
    assert!(text.contains("character varying(10)"), "{text}");

    // RENAME keeps a relation in its schema; COPY and UNLOAD name it qualified.
    c.batch_execute("ALTER TABLE analytics.only_here RENAME TO kept")
        .await
        .unwrap();
    assert_eq!(
        one(&rows(&c, "SELECT count(*) FROM analytics.kept").await),
        ["2"]
    );

    // Transaction blocks: a schema made in a rolled-back block is gone; one made in a
    // committed block is there with its tables.
    c.batch_execute("BEGIN; CREATE SCHEMA gone; CREATE TABLE gone.x (a INT); ROLLBACK")
        .await
        .unwrap();
    assert_eq!(error_of(&c, "CREATE TABLE gone.y (a INT)").await.0, "3F000");
    c.batch_execute(
        "BEGIN; CREATE SCHEMA kept; CREATE TABLE kept.x (a INT); INSERT INTO kept.x VALUES (7); COMMIT",
    )
    .await
    .unwrap();

    // Schemas, their tables and grants survive kill -9 of every process.
    cluster.restart_hard().await;
    let c = cluster.client().await;
    assert_eq!(one(&rows(&c, "SELECT a FROM kept.x").await), ["7"]);
    assert_eq!(
        one(&rows(&c, "SELECT a, b FROM analytics.t ORDER BY a").await),
        ["1|w", "3|z"]
    );

    // DROP SCHEMA: RESTRICT refuses a schema with relations (2BP01); CASCADE drops them.
    assert_eq!(error_of(&c, "DROP SCHEMA kept").await.0, "2BP01");
    c.batch_execute("DROP SCHEMA kept CASCADE").await.unwrap();
    assert_eq!(error_of(&c, "SELECT * FROM kept.x").await.0, "42P01");
    assert_eq!(error_of(&c, "DROP SCHEMA kept").await.0, "3F000");
    assert_eq!(error_of(&c, "DROP SCHEMA public").await.0, "0A000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_privileges_are_usage_and_create() {
    let cluster = TestCluster::start(1, 1).await;
    let admin = cluster.client().await;
    admin
        .batch_execute(
            "CREATE USER bob PASSWORD 'Bob-Pass-12';
             CREATE USER maker PASSWORD 'Maker-Pass-1' CREATEDB;
             CREATE SCHEMA s;
             CREATE TABLE s.t (a INT);
             INSERT INTO s.t VALUES (1);
             GRANT SELECT ON s.t TO bob",
        )
        .await
        .unwrap();
    let bob = cluster.connect_as("bob", "Bob-Pass-12").await.unwrap();
    // A grant on the table is not enough without USAGE on its schema.
    assert_eq!(error_of(&bob, "SELECT * FROM s.t").await.0, "42501");
    admin
        .batch_execute("GRANT USAGE ON SCHEMA s TO bob")
        .await
        .unwrap();
    assert_eq!(one(&rows(&bob, "SELECT a FROM s.t").await), ["1"]);
    // Creating in a schema needs CREATE on it; making schemas needs CREATEDB.
    assert_eq!(
        error_of(&bob, "CREATE TABLE s.mine (a INT)").await.0,
        "42501"
    );
    assert_eq!(error_of(&bob, "CREATE SCHEMA bobs").await.0, "42501");
    admin
        .batch_execute("GRANT CREATE ON SCHEMA s TO bob")
        .await
        .unwrap();
    bob.batch_execute("CREATE TABLE s.mine (a INT); INSERT INTO s.mine VALUES (5)")
        .await
        .unwrap();
    // GRANT … ON ALL TABLES IN SCHEMA, and REVOKE USAGE taking effect at once.
    admin
        .batch_execute(
            "CREATE TABLE s.other (a INT); GRANT SELECT ON ALL TABLES IN SCHEMA s TO bob",
        )
        .await
        .unwrap();
    assert_eq!(
        one(&rows(&bob, "SELECT count(*) FROM s.other").await),
        ["0"]
    );
    admin
        .batch_execute("REVOKE USAGE ON SCHEMA s FROM bob")
        .await
        .unwrap();
    assert_eq!(error_of(&bob, "SELECT * FROM s.other").await.0, "42501");
    assert_eq!(error_of(&bob, "SELECT * FROM s.mine").await.0, "42501");
    // A table privilege on a schema (or the reverse) is refused.
    assert_eq!(
        error_of(&admin, "GRANT USAGE ON s.t TO bob").await.0,
        "0LP01"
    );
    assert_eq!(
        error_of(&admin, "GRANT SELECT ON SCHEMA s TO bob").await.0,
        "0LP01"
    );

    // A CREATEDB user makes and owns a schema; others may not drop it.
    let maker = cluster.connect_as("maker", "Maker-Pass-1").await.unwrap();
    maker
        .batch_execute("CREATE SCHEMA made; CREATE TABLE made.t (a INT)")
        .await
        .unwrap();
    assert_eq!(error_of(&bob, "DROP SCHEMA made CASCADE").await.0, "42501");
    // Its owner cannot be dropped while it owns the schema.
    assert_eq!(error_of(&admin, "DROP USER maker").await.0, "2BP01");
    maker
        .batch_execute("DROP SCHEMA made CASCADE")
        .await
        .unwrap();
}

/// Waits (polling) until no session's temporary schema is left in the catalog.
async fn no_temporary_schemas(c: &tokio_postgres::Client) -> bool {
    for _ in 0..600 {
        let left = rows(
            c,
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pg\\_temp\\_%'",
        )
        .await;
        if one(&left) == ["0"] {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_tables_belong_to_their_session() {
    let mut cluster = TestCluster::start(2, 1).await;
    let a = cluster.client().await;
    let b = cluster.client().await;
    a.batch_execute(
        "CREATE TABLE shadow (a INT);
         INSERT INTO shadow VALUES (1);
         CREATE TEMP TABLE shadow (a INT);
         INSERT INTO shadow VALUES (2), (3);
         CREATE TEMPORARY TABLE mine AS SELECT a * 10 AS x FROM public.shadow",
    )
    .await
    .unwrap();
    // The temporary table hides the permanent one of its name, for its session only.
    assert_eq!(one(&rows(&a, "SELECT count(*) FROM shadow").await), ["2"]);
    assert_eq!(
        one(&rows(&a, "SELECT count(*) FROM public.shadow").await),
        ["1"]
    );
    assert_eq!(one(&rows(&b, "SELECT count(*) FROM shadow").await), ["1"]);
    assert_eq!(one(&rows(&a, "SELECT x FROM mine").await), ["10"]);
    assert_eq!(error_of(&b, "SELECT * FROM mine").await.0, "42P01");

    // What dbt's incremental models do: a temporary table made inside a block, read by
    // a DELETE and an INSERT into the target, described through information_schema.
    a.batch_execute(
        "CREATE TABLE target (id INT, v VARCHAR(5));
         INSERT INTO target VALUES (1, 'old'), (2, 'old')",
    )
    .await
    .unwrap();
    a.batch_execute(
        "BEGIN;
         CREATE TEMPORARY TABLE \"target__dbt_tmp\" AS (SELECT id, 'new' AS v FROM target WHERE id >= 2 UNION ALL SELECT 3, 'new');
         DELETE FROM \"dev\".\"public\".\"target\" AS t WHERE (id) IN (SELECT DISTINCT id FROM \"target__dbt_tmp\" AS s);
         INSERT INTO \"dev\".\"public\".\"target\" (\"id\", \"v\") (SELECT \"id\", \"v\" FROM \"target__dbt_tmp\");
         COMMIT",
    )
    .await
    .unwrap();
    assert_eq!(
        one(&rows(&b, "SELECT id, v FROM target ORDER BY id").await),
        ["1|old", "2|new", "3|new"]
    );
    assert_eq!(
        one(&rows(
            &a,
            "SELECT column_name FROM INFORMATION_SCHEMA.columns \
             WHERE table_name = 'target__dbt_tmp' ORDER BY ordinal_position"
        )
        .await),
        ["id", "v"]
    );
    // A temporary table in a rolled-back block is gone; DROP TABLE drops one.
    a.batch_execute("BEGIN; CREATE TEMP TABLE rolled (a INT); ROLLBACK")
        .await
        .unwrap();
    assert_eq!(error_of(&a, "SELECT * FROM rolled").await.0, "42P01");
    a.batch_execute("DROP TABLE mine").await.unwrap();
    assert_eq!(error_of(&a, "SELECT * FROM mine").await.0, "42P01");
    // Refused: a schema for a temporary table, a view over one, ON COMMIT DROP.
    assert_eq!(
        error_of(&a, "CREATE TEMP TABLE public.x (a INT)").await.0,
        "22P02"
    );
    assert_eq!(
        error_of(&a, "CREATE VIEW over_temp AS SELECT * FROM shadow")
            .await
            .0,
        "0A000"
    );
    assert_eq!(
        error_of(&a, "CREATE TEMP TABLE x (a INT) ON COMMIT DROP")
            .await
            .0,
        "0A000"
    );

    // The session's end drops its temporary tables (and their files).
    drop(a);
    assert!(
        no_temporary_schemas(&b).await,
        "the temporary schema stayed"
    );
    assert_eq!(one(&rows(&b, "SELECT count(*) FROM shadow").await), ["1"]);
    assert_eq!(
        one(&rows(
            &b,
            "SELECT count(*) FROM svv_tables WHERE table_schema LIKE 'pg\\_temp%'"
        )
        .await),
        ["0"]
    );

    // A crash ends sessions too: the leader drops their temporary tables at start-up.
    let c = cluster.client().await;
    c.batch_execute("CREATE TEMP TABLE lost (a INT); INSERT INTO lost VALUES (1)")
        .await
        .unwrap();
    cluster.restart_hard().await;
    let d = cluster.client().await;
    assert!(
        no_temporary_schemas(&d).await,
        "a crashed session's schema stayed"
    );
    assert_eq!(one(&rows(&d, "SELECT count(*) FROM shadow").await), ["1"]);
}
