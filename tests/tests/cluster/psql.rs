use blueshift_tests::TestCluster;

fn psql(cluster: &TestCluster, command: &str) -> (bool, String, String) {
    let out = cluster
        .psql()
        .args(["-v", "ON_ERROR_STOP=1", "-c", command])
        .output()
        .expect("psql is installed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test]
async fn psql_runs_statements_and_describes_tables() {
    let cluster = TestCluster::start(2, 2).await;
    let (ok, out, err) = psql(
        &cluster,
        "CREATE TABLE sales (id BIGINT, region VARCHAR(16), day DATE, amount DECIMAL(12,2)) DISTSTYLE KEY DISTKEY(id) COMPOUND SORTKEY(day)",
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("CREATE TABLE"), "{out}");
    let (ok, out, err) = psql(
        &cluster,
        "INSERT INTO sales VALUES (1,'eu','2026-01-02',10.50), (2,'us','2026-01-03',7.25)",
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("INSERT 0 2"), "{out}");
    let (ok, out, err) = psql(
        &cluster,
        "SELECT region, count(*), sum(amount) FROM sales GROUP BY region ORDER BY region",
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("eu") && out.contains("10.50") && out.contains("(2 rows)"),
        "{out}"
    );

    let (ok, out, err) = psql(&cluster, "\\dt");
    assert!(ok, "{out}{err}");
    assert!(out.contains("sales"), "{out}");
    let (ok, out, err) = psql(&cluster, "\\d sales");
    assert!(ok, "{out}{err}");
    for col in ["id", "region", "day", "amount"] {
        assert!(out.contains(col), "{col} missing from:\n{out}");
    }
    let (ok, _, err) = psql(&cluster, "SELECT * FROM nope");
    assert!(!ok);
    assert!(err.contains("relation \"nope\" does not exist"), "{err}");
}

#[tokio::test]
async fn psql_copies_out_in_text_and_csv() {
    let cluster = TestCluster::start(1, 2).await;
    let (ok, _, err) = psql(
        &cluster,
        "CREATE TABLE co (id INT, s VARCHAR(10)); INSERT INTO co VALUES (1, 'a\tb'), (2, NULL), (3, 'x,\"y')",
    );
    assert!(ok, "{err}");
    let (ok, out, err) = psql(
        &cluster,
        "\\copy (SELECT id, s FROM co ORDER BY id) to stdout",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "1\ta\\tb\n2\t\\N\n3\tx,\"y\n");
    let (ok, out, err) = psql(
        &cluster,
        "\\copy (SELECT id, s FROM co ORDER BY id) to stdout with csv header",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "id,s\n1,a\tb\n2,\n3,\"x,\"\"y\"\n");
    let (ok, _, err) = psql(&cluster, "COPY co TO STDOUT (FORMAT binary)");
    assert!(!ok && err.contains("not supported"), "{err}");
}
