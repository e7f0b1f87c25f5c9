use blueshift_tests::{TestCluster, rows};

fn cell(r: &[Vec<Option<String>>], row: usize, col: usize) -> String {
    r[row][col].clone().unwrap_or_else(|| "NULL".into())
}

#[tokio::test]
async fn the_readme_session_works() {
    let cluster = TestCluster::start(2, 2).await;
    let c = cluster.client().await;
    c.simple_query(
        "CREATE TABLE sales (id BIGINT, region VARCHAR(16), day DATE, amount DECIMAL(12,2))
           DISTSTYLE KEY DISTKEY(id) COMPOUND SORTKEY(day)",
    )
    .await
    .unwrap();
    let n = c
        .execute("INSERT INTO sales VALUES (1,'eu','2026-01-02',10.50), (2,'us','2026-01-03',7.25), (3,'eu','2025-12-31',1.00)", &[])
        .await
        .unwrap();
    assert_eq!(n, 3);
    let r = rows(
        &c,
        "SELECT region, count(*), sum(amount) FROM sales WHERE day >= '2026-01-01' GROUP BY region ORDER BY region",
    )
    .await;
    assert_eq!(r.len(), 2);
    assert_eq!(
        (cell(&r, 0, 0), cell(&r, 0, 1), cell(&r, 0, 2)),
        ("eu".into(), "1".into(), "10.50".into())
    );
    assert_eq!(
        (cell(&r, 1, 0), cell(&r, 1, 1), cell(&r, 1, 2)),
        ("us".into(), "1".into(), "7.25".into())
    );

    // Columns are named as PostgreSQL names them, in both protocols.
    let sql = "SELECT region, count(*), sum(amount) AS total, amount * 2, CASE WHEN id > 1 THEN 1 END FROM sales GROUP BY region, amount, id";
    let names = |cols: &[tokio_postgres::Column]| {
        cols.iter()
            .map(|c| c.name().to_string())
            .collect::<Vec<_>>()
    };
    let expected = vec!["region", "count", "total", "?column?", "case"];
    assert_eq!(names(c.prepare(sql).await.unwrap().columns()), expected);
    let simple = c.simple_query(sql).await.unwrap();
    let tokio_postgres::SimpleQueryMessage::RowDescription(cols) = &simple[0] else {
        panic!("{simple:?}")
    };
    assert_eq!(
        cols.iter()
            .map(|c| c.name().to_string())
            .collect::<Vec<_>>(),
        expected
    );
}

#[tokio::test]
async fn writes_update_delete_truncate_drop_and_ctas() {
    let cluster = TestCluster::start(2, 2).await;
    let c = cluster.client().await;
    c.batch_execute(
        "CREATE TABLE t (id INTEGER NOT NULL, name VARCHAR(10), score DOUBLE PRECISION) DISTKEY(id) SORTKEY(id);
         INSERT INTO t SELECT CAST(value AS INTEGER), 'n' || CAST(value AS VARCHAR), value * 1.5 FROM generate_series(1, 1000);",
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&c, "SELECT count(*), sum(id) FROM t").await[0],
        vec![Some("1000".into()), Some("500500".into())]
    );

    let deleted = c
        .execute("DELETE FROM t WHERE id % 10 = 0", &[])
        .await
        .unwrap();
    assert_eq!(deleted, 100);
    assert_eq!(cell(&rows(&c, "SELECT count(*) FROM t").await, 0, 0), "900");

    let updated = c
        .execute(
            "UPDATE t SET name = 'big', score = score * 2 WHERE id > 990",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(updated, 9);
    let r = rows(
        &c,
        "SELECT count(*), min(score) = 2973 FROM t WHERE name = 'big'",
    )
    .await;
    assert_eq!((cell(&r, 0, 0), cell(&r, 0, 1)), ("9".into(), "t".into()));
    assert_eq!(cell(&rows(&c, "SELECT count(*) FROM t").await, 0, 0), "900");

    // Deleting again from blocks that already have delete vectors.
    assert_eq!(
        c.execute("DELETE FROM t WHERE id <= 5", &[]).await.unwrap(),
        5
    );
    assert_eq!(cell(&rows(&c, "SELECT count(*) FROM t").await, 0, 0), "895");

    let copied = c
        .execute(
            "CREATE TABLE t2 DISTSTYLE EVEN AS SELECT id, name FROM t WHERE id < 100",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(copied, 85);
    assert_eq!(cell(&rows(&c, "SELECT count(*) FROM t2").await, 0, 0), "85");
    let info = rows(
        &c,
        "SELECT diststyle FROM svv_table_info WHERE \"table\" = 't2'",
    )
    .await;
    assert_eq!(cell(&info, 0, 0), "EVEN");

    c.batch_execute("TRUNCATE t2").await.unwrap();
    assert_eq!(cell(&rows(&c, "SELECT count(*) FROM t2").await, 0, 0), "0");
    c.batch_execute("DROP TABLE t2; DROP TABLE IF EXISTS t2")
        .await
        .unwrap();
    c.batch_execute("CREATE TABLE IF NOT EXISTS t (x INT)")
        .await
        .unwrap();
    assert_eq!(cell(&rows(&c, "SELECT count(*) FROM t").await, 0, 0), "895");
}

#[tokio::test]
async fn extended_protocol_with_parameters_and_session_statements() {
    let cluster = TestCluster::start(2, 2).await;
    let c = cluster.client().await;
    c.batch_execute("CREATE TABLE p (id BIGINT, label VARCHAR(20), day DATE, ts TIMESTAMP, ok BOOLEAN, r REAL, s SMALLINT, ch CHAR(3)) DISTSTYLE EVEN")
        .await
        .unwrap();
    let n = c
        .execute(
            "INSERT INTO p (id, label) VALUES ($1, $2), ($3, $4)",
            &[&1i64, &"one", &2i64, &"two"],
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    c.batch_execute("INSERT INTO p VALUES (3, 'three', '2026-02-03', '2026-02-03 04:05:06', true, 1.5, 7, 'abc')")
        .await
        .unwrap();
    let got = c
        .query("SELECT label FROM p WHERE id = $1", &[&2i64])
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].get::<_, String>(0), "two");
    let typed = c
        .query_one("SELECT id, day, ok, r, s, ch FROM p WHERE id = 3", &[])
        .await
        .unwrap();
    assert_eq!(typed.get::<_, i64>(0), 3);
    assert!(typed.get::<_, bool>(2));
    assert_eq!(typed.get::<_, f32>(3), 1.5);
    assert_eq!(typed.get::<_, i16>(4), 7);

    c.batch_execute("BEGIN; INSERT INTO p (id) VALUES (9); COMMIT")
        .await
        .unwrap();
    assert_eq!(cell(&rows(&c, "SELECT count(*) FROM p").await, 0, 0), "4");
    c.batch_execute("SET search_path TO public").await.unwrap();
    assert_eq!(cell(&rows(&c, "SHOW search_path").await, 0, 0), "public");
    let slices = rows(&c, "SELECT node, slice FROM stv_slices ORDER BY slice").await;
    assert_eq!(slices.len(), 4);
    assert_eq!(cell(&slices, 3, 0), "1");

    let log = rows(&c, "SELECT querytxt, status, rows FROM stl_query WHERE querytxt LIKE 'SELECT count(*) FROM p%'").await;
    assert_eq!(cell(&log, 0, 1), "success");
    assert_eq!(cell(&log, 0, 2), "1");
}
