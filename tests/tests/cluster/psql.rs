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

/// psql's `\d` shows declared types with their modifiers, `\du` lists users and their
/// groups, `pg_tables`/`pg_views` tell tables from views, and ALTER TABLE … RENAME moves a
/// table or view with its data, owner and grants.
#[tokio::test]
async fn psql_shows_types_roles_and_renamed_relations() {
    let cluster = TestCluster::start(1, 2).await;
    let (ok, out, err) = psql(
        &cluster,
        "CREATE TABLE t (id INT NOT NULL, name VARCHAR(20), amount NUMERIC(12,2), code CHAR(3)); \
         INSERT INTO t VALUES (1, 'a', 1.50, 'x'); CREATE VIEW v AS SELECT id, name FROM t; \
         CREATE USER bob PASSWORD 'Bob-Pw123'; CREATE GROUP readers WITH USER bob; \
         GRANT SELECT ON t TO bob",
    );
    assert!(ok, "{out}{err}");
    let (ok, out, err) = psql(&cluster, "\\d t");
    assert!(ok, "{err}");
    for want in [
        "character varying(20)",
        "numeric(12,2)",
        "character(3)",
        "not null",
    ] {
        assert!(out.contains(want), "{want} in:\n{out}");
    }
    // A view's columns are never NOT NULL.
    let (_, out, _) = psql(&cluster, "\\d v");
    assert!(!out.contains("not null"), "{out}");
    let (ok, out, err) = psql(&cluster, "\\du");
    assert!(ok, "{err}");
    assert!(out.contains("admin") && out.contains("Superuser"), "{out}");
    assert!(out.contains("bob"), "{out}");
    let (_, out, _) = psql(
        &cluster,
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' UNION ALL \
         SELECT 'view ' || viewname || ': ' || definition FROM pg_views",
    );
    assert!(out.contains(" t\n"), "{out}");
    assert!(out.contains("view v: SELECT id, name FROM t"), "{out}");
    assert!(!out.contains(" v\n"), "{out}");

    let (ok, out, err) = psql(
        &cluster,
        "ALTER TABLE t RENAME TO t2; ALTER TABLE v RENAME TO v2",
    );
    assert!(ok, "{out}{err}");
    let (ok, out, err) = psql(&cluster, "SELECT id, name, amount FROM t2");
    assert!(ok && out.contains("1.50"), "{out}{err}");
    let (ok, _, err) = psql(&cluster, "SELECT * FROM t");
    assert!(!ok && err.contains("does not exist"), "{err}");
    let (_, out, _) = psql(&cluster, "\\dv");
    assert!(out.contains("v2"), "{out}");
    // The grant moved with the table.
    let out = cluster
        .psql()
        .env("PGUSER", "bob")
        .env("PGPASSWORD", "Bob-Pw123")
        .args(["-U", "bob", "-tA", "-c", "SELECT count(*) FROM t2"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A temporary table lasts as long as its psql session.
    let out = cluster
        .psql()
        .args(["-tA", "-v", "ON_ERROR_STOP=1"])
        .args(["-c", "CREATE TEMP TABLE tt (a INT)"])
        .args(["-c", "INSERT INTO tt VALUES (1), (2)"])
        .args(["-c", "SELECT count(*) FROM tt"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.ends_with("2\n"), "{text}");
    let (ok, _, err) = psql(&cluster, "SELECT * FROM tt");
    assert!(!ok && err.contains("tt"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_describes_with_details_owners_and_redshift_catalog() {
    let cluster = TestCluster::start(1, 1).await;
    let (ok, _, err) = psql(
        &cluster,
        "CREATE USER bob PASSWORD 'Bob-Pass-12';
         CREATE TABLE pk (id INT PRIMARY KEY, v VARCHAR(5) ENCODE lzo, d DATE) DISTKEY(id) SORTKEY(d);
         CREATE TABLE owned (a INT);
         ALTER TABLE owned OWNER TO bob;
         CREATE VIEW pv AS SELECT id, v FROM pk",
    );
    assert!(ok, "{err}");
    // \d+ of a table and of a view; \dt+ with its Size column; owners by name.
    let out = cluster
        .psql()
        .args(["-v", "ON_ERROR_STOP=1"])
        .args([
            "-c", "\\d+ pk", "-c", "\\d+ pv", "-c", "\\dt+", "-c", "\\dt",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "Table \"public.pk\"",
        "character varying(5)",
        "not null",
        "Storage",
        "View \"public.pv\"",
        "View definition:",
        "Persistence",
    ] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
    let owners: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("| table |"))
        .map(|l| l.split('|').nth(3).unwrap_or_default().trim())
        .collect();
    assert!(
        owners.contains(&"admin") && owners.contains(&"bob"),
        "{text}"
    );
    assert!(!text.contains("postgres"), "{text}");
    // Redshift's pg_table_def; set_config as SET.
    let (ok, out, err) = psql(
        &cluster,
        "SELECT \"column\", type, encoding, distkey, sortkey, notnull FROM pg_table_def WHERE tablename = 'pk' ORDER BY 1",
    );
    assert!(ok, "{err}");
    for want in [
        "d      | date                 | none     | f       |       1 | f",
        "id     | integer              | none     | t       |       0 | t",
        "v      | character varying(5) | lzo      | f       |       0 | f",
    ] {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }
    let out = cluster
        .psql()
        .args(["-tA", "-v", "ON_ERROR_STOP=1"])
        .args([
            "-c",
            "SELECT set_config('search_path', 'nowhere, public', false)",
        ])
        .args(["-c", "SHOW search_path"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "nowhere, public\nnowhere, public\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An analyst's psql session from a script: the listing commands, expanded output,
/// timing, an error pointing at the name it is about; then Ctrl-C of a long query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_session_lists_expands_times_points_at_errors_and_cancels() {
    let cluster = TestCluster::start(1, 2).await;
    let script = cluster.dir.join("session.sql");
    std::fs::write(
        &script,
        "CREATE TABLE t (a INT, b VARCHAR(3));\n\
         INSERT INTO t VALUES (1, 'x');\n\
         CREATE VIEW v AS SELECT a FROM t;\n\
         \\l\n\\dn\n\\dt\n\\dv\n\\du\n\
         \\x\nSELECT a, b FROM t;\n\\x\n\
         \\timing on\nSELECT count(*) AS n FROM t;\n\\timing off\n\
         SELECT nope FROM t;\n\
         SELECT a FROM nosuch;\n",
    )
    .unwrap();
    let out = cluster.psql().arg("-f").arg(&script).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let errors = String::from_utf8_lossy(&out.stderr);
    for want in [
        "List of databases",
        " dev ",
        "List of schemas",
        " public ",
        "| t    | table | admin",
        "| v    | view | admin",
        "List of roles",
        "Superuser",
        "-[ RECORD 1 ]",
        "b | x",
        "Time: ",
    ] {
        assert!(text.contains(want), "no {want:?} in:\n{text}\n{errors}");
    }
    // The caret under the name the error is about, as PostgreSQL's psql shows it.
    for want in [
        "column \"nope\" does not exist",
        "LINE 1: SELECT nope FROM t;\n               ^",
        "relation \"nosuch\" does not exist",
        "LINE 1: SELECT a FROM nosuch;\n                      ^",
    ] {
        assert!(errors.contains(want), "no {want:?} in:\n{errors}");
    }

    // Ctrl-C: psql sends a CancelRequest for the running statement.
    let long = cluster
        .psql()
        .args([
            "-c",
            "SELECT sum(value % 7) FROM generate_series(1, 5000000000)",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let c = cluster.client().await;
    let running = "SELECT count(*) FROM stl_query \
                   WHERE status = 'running' AND querytxt LIKE '%5000000000%' AND querytxt NOT LIKE '%stl_query%'";
    while blueshift_tests::rows(&c, running).await[0][0].as_deref() != Some("1") {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let pid = long.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = long.wait_with_output().unwrap();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(
        errors.contains("canceling statement due to user request"),
        "{errors}"
    );
    assert_eq!(
        blueshift_tests::rows(&c, "SELECT count(*) FROM t").await[0][0].as_deref(),
        Some("1")
    );
}
