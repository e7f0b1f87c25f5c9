//! Real client drivers against a real cluster: each session script in `tests/clients/`
//! runs with its driver, unchanged (`.ci/run` installs them), and exits non-zero naming
//! the step that differed.

use blueshift_tests::{TestCluster, rows};
use tokio_postgres::types::Type;

/// Runs `tests/clients/<script>` against the cluster's leader.
fn session(cluster: &TestCluster, script: &str) {
    session_with(cluster, script, &[]);
}

/// Runs `tests/clients/<script> PORT <args>`; returns what it printed.
fn session_with(cluster: &TestCluster, script: &str, args: &[&str]) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("clients")
        .join(script);
    let out = std::process::Command::new("python3")
        .arg(&path)
        .arg(cluster.port.to_string())
        .args(args)
        .env("PGPASSWORD", blueshift_tests::ADMIN_PASSWORD)
        .env(
            "SSL_CERT_FILE",
            cluster.dir.join("leader").join("tls").join("server.crt"),
        )
        .output()
        .expect(
            "python3 runs (pip install redshift_connector 'psycopg[binary]' pandas sqlalchemy)",
        );
    assert!(
        out.status.success(),
        "{script}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// 32 psycopg clients run mixed reads, writes and transaction blocks for a bounded time:
/// no errors (40001 is retried, as clients do), every row where it belongs afterwards.
/// Prints throughput, p50/p99 latency and the leader's peak memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_clients_run_mixed_work_without_errors() {
    let cluster = TestCluster::start(2, 1).await;
    let pid = cluster.leader.as_ref().unwrap().id().to_string();
    let out = session_with(
        &cluster,
        "load_session.py",
        &["--clients", "32", "--seconds", "10", "--leader-pid", &pid],
    );
    println!("{out}");
    assert!(out.contains("errors: 0"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redshift_connector_and_psycopg_sessions_run_unchanged() {
    let cluster = TestCluster::start(1, 2).await;
    session(&cluster, "redshift_connector_session.py");
    session(&cluster, "psycopg_session.py");
    session(&cluster, "sqlalchemy_session.py");
}

#[tokio::test]
async fn parameters_bind_as_the_client_typed_them() {
    let cluster = TestCluster::start(1, 1).await;
    let c = cluster.client().await;
    c.batch_execute("CREATE TABLE p (i INT, n NUMERIC(12,2), s VARCHAR(10))")
        .await
        .unwrap();
    // A NULL the client typed as text, before a value: each lands in its own column.
    let insert = c
        .prepare_typed(
            "INSERT INTO p VALUES ($1, $2, $3)",
            &[Type::INT4, Type::FLOAT8, Type::TEXT],
        )
        .await
        .unwrap();
    c.execute(&insert, &[&1i32, &2.25f64, &None::<String>])
        .await
        .unwrap();
    c.execute(&insert, &[&2i32, &None::<f64>, &"x"])
        .await
        .unwrap();
    assert_eq!(
        rows(&c, "SELECT i, n, s FROM p ORDER BY i").await,
        vec![
            vec![Some("1".into()), Some("2.25".into()), None],
            vec![Some("2".into()), None, Some("x".into())],
        ]
    );
    let is_null = c
        .prepare_typed(
            "SELECT $1::int IS NULL, $2::int",
            &[Type::UNKNOWN, Type::INT4],
        )
        .await
        .unwrap();
    let row = c
        .query_one(&is_null, &[&None::<String>, &5i32])
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, i32>(1), 5);
    assert_eq!(
        rows(
            &c,
            "SELECT current_user, version() LIKE 'PostgreSQL 16.6 on %Redshift%'"
        )
        .await,
        vec![vec![Some("admin".into()), Some("t".into())]]
    );
}

/// dbt (dbt-postgres, unchanged) builds a small project twice in a row: a seed, a table,
/// a view and an incremental model (a temporary table, DELETE … IN and INSERT in one
/// block) in a schema dbt makes, and the incremental model's tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbt_builds_a_project_twice() {
    let cluster = TestCluster::start(2, 1).await;
    let project = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("clients")
        .join("dbt_project");
    // dbt writes its target/ and logs/ next to the project: it runs on a copy.
    let work = tempfile::tempdir().unwrap();
    for sub in ["", "models", "seeds"] {
        std::fs::create_dir_all(work.path().join(sub)).unwrap();
        for entry in std::fs::read_dir(project.join(sub)).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), work.path().join(sub).join(entry.file_name())).unwrap();
            }
        }
    }
    // `.ci/run` installs dbt into its own environment under target/.
    let dbt = std::env::var("BLUESHIFT_DBT").unwrap_or_else(|_| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join("dbt-venv")
            .join("bin")
            .join("dbt")
            .display()
            .to_string()
    });
    for run in 1..=2 {
        let out = std::process::Command::new(&dbt)
            .arg("build")
            .current_dir(work.path())
            .env("DBT_PROFILES_DIR", work.path())
            .env("BLUESHIFT_PORT", cluster.port.to_string())
            .env("BLUESHIFT_PASSWORD", blueshift_tests::ADMIN_PASSWORD)
            .output()
            .unwrap_or_else(|e| panic!("{dbt} runs (.ci/run installs dbt-postgres): {e}"));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("PASS=6 WARN=0 ERROR=0 SKIP=0"),
            "dbt build, run {run}:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let c = cluster.client().await;
    let ids = rows(&c, "SELECT id FROM analytics.orders_incr ORDER BY id").await;
    let want: Vec<Vec<Option<String>>> = (1..=4).map(|i| vec![Some(i.to_string())]).collect();
    assert_eq!(ids, want, "the incremental model replaced its newest row");
    assert_eq!(
        rows(&c, "SELECT count(*) FROM analytics.orders_view").await,
        vec![vec![Some("4".to_string())]]
    );
    // The incremental runs' temporary tables went with their sessions.
    let temp = "SELECT count(*) FROM svv_tables WHERE table_schema LIKE 'pg\\_temp%'";
    let mut left = rows(&c, temp).await;
    for _ in 0..600 {
        if left == vec![vec![Some("0".to_string())]] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = rows(&c, temp).await;
    }
    assert_eq!(left, vec![vec![Some("0".to_string())]]);
}

/// pgjdbc (Debian's driver, unchanged) runs what DBeaver does on connect and browse:
/// prepared statements past the server-prepare threshold, commit and rollback, and the
/// DatabaseMetaData calls (getTables, getColumns, getPrimaryKeys, getSchemas, …). The
/// program names the steps still known to differ from PostgreSQL and fails when one of
/// them starts to pass, so the list stays true.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_browses_like_dbeaver() {
    let cluster = TestCluster::start(2, 1).await;
    let program = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("clients")
        .join("JdbcSession.java");
    let jar = std::env::var("BLUESHIFT_PGJDBC")
        .unwrap_or_else(|_| "/usr/share/java/postgresql.jar".to_string());
    let out = std::process::Command::new("java")
        .arg("-cp")
        .arg(&jar)
        .arg(&program)
        .arg(format!("jdbc:postgresql://127.0.0.1:{}/dev", cluster.port))
        .arg("admin")
        .arg(blueshift_tests::ADMIN_PASSWORD)
        .output()
        .expect("java runs (.ci/run installs openjdk-17-jdk-headless and libpostgresql-jdbc-java)");
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "getTables",
        "getColumns",
        "getPrimaryKeys",
        "getSchemas",
        "prepared query",
    ] {
        assert!(
            text.contains(&format!("ok    {step}")),
            "{step} did not pass:\n{text}"
        );
    }
}
