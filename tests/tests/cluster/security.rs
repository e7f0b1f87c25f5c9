//! Users, passwords and privileges against a real cluster: who may connect, with which
//! method, and what each user may do to each object (42501 otherwise).

use blueshift_tests::{TestCluster, rows};

fn code_of(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.code().code().to_string())
        .unwrap_or_else(|| format!("not a database error: {e}"))
}

/// Runs `sql`; `None` when it succeeds, else its SQLSTATE.
async fn outcome(c: &tokio_postgres::Client, sql: &str) -> Option<String> {
    c.simple_query(sql).await.err().map(|e| code_of(&e))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_are_checked_with_scram_md5_and_clear_text() {
    let cluster = TestCluster::start(1, 1).await;
    let admin = cluster.client().await;
    admin
        .batch_execute("CREATE USER alice PASSWORD 'Alice-Pw1'")
        .await
        .unwrap();
    // SCRAM-SHA-256 (tokio-postgres picks it when offered).
    let alice = cluster.connect_as("alice", "Alice-Pw1").await.unwrap();
    assert_eq!(
        rows(&alice, "SELECT current_user").await,
        vec![vec![Some("alice".to_string())]]
    );
    for (user, password) in [("alice", "wrong"), ("nobody", "Alice-Pw1"), ("alice", "")] {
        let e = cluster.connect_as(user, password).await.err().unwrap();
        assert_eq!(code_of(&e), "28P01", "{user}: {e}");
    }
    // The password rules, and the verifier stored (never the password).
    assert_eq!(
        outcome(&admin, "CREATE USER weak PASSWORD 'short'")
            .await
            .as_deref(),
        Some("22023")
    );
    assert_eq!(
        outcome(&admin, "CREATE USER alice PASSWORD 'Alice-Pw1'")
            .await
            .as_deref(),
        Some("42710")
    );
    let catalog = std::fs::read_dir(cluster.dir.join("leader").join("catalog"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect::<String>();
    assert!(catalog.contains("SCRAM-SHA-256$4096:"));
    assert!(!catalog.contains("Alice-Pw1"));
    // A user changes their own password; the old one stops working.
    alice
        .batch_execute("ALTER USER alice PASSWORD 'Alice-Pw2'")
        .await
        .unwrap();
    assert!(cluster.connect_as("alice", "Alice-Pw1").await.is_err());
    cluster.connect_as("alice", "Alice-Pw2").await.unwrap();
    // PASSWORD DISABLE: no password gets in.
    admin
        .batch_execute("ALTER USER alice PASSWORD DISABLE")
        .await
        .unwrap();
    assert!(cluster.connect_as("alice", "Alice-Pw2").await.is_err());
    // Users survive a crash of every process.
    admin
        .batch_execute("CREATE USER bob PASSWORD 'Bob-Pw123'")
        .await
        .unwrap();
    drop(admin);
    let mut cluster = cluster;
    cluster.restart_hard().await;
    cluster.connect_as("bob", "Bob-Pw123").await.unwrap();

    // md5, as psql (libpq) answers it.
    let md5 = TestCluster::start_full(1, 1, &[], &[("BLUESHIFT_LEADER_AUTH", "md5")]).await;
    let out = md5
        .psql()
        .args(["-tA", "-c", "SELECT current_user"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "admin");
    let out = md5
        .psql()
        .env("PGPASSWORD", "wrong")
        .args(["-c", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("password authentication failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Clear text, when configured.
    let clear = TestCluster::start_full(1, 1, &[], &[("BLUESHIFT_LEADER_AUTH", "password")]).await;
    clear.client().await;
    assert!(clear.connect_as("admin", "nope").await.is_err());
    // trust: any existing user without a password; unknown users still refused.
    let trust = TestCluster::start_full(1, 1, &[], &[("BLUESHIFT_LEADER_AUTH", "trust")]).await;
    trust.connect_as("admin", "anything").await.unwrap();
    let e = trust.connect_as("nobody", "").await.err().unwrap();
    assert_eq!(code_of(&e), "28000", "{e}");
}

/// Each user × statement × object: allowed, or refused with 42501 (and the few other
/// codes PostgreSQL gives).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_privilege_matrix_holds() {
    let cluster = TestCluster::start(2, 1).await;
    let admin = cluster.client().await;
    admin
        .batch_execute(
            "CREATE USER alice PASSWORD 'Alice-Pw1'; \
             CREATE USER bob PASSWORD 'Bob-Pw123'; \
             CREATE USER carol PASSWORD 'Carol-Pw1'; \
             CREATE GROUP readers WITH USER bob",
        )
        .await
        .unwrap();
    let alice = cluster.connect_as("alice", "Alice-Pw1").await.unwrap();
    let bob = cluster.connect_as("bob", "Bob-Pw123").await.unwrap();
    let carol = cluster.connect_as("carol", "Carol-Pw1").await.unwrap();
    alice
        .batch_execute(
            "CREATE TABLE t (a INT, b INT); INSERT INTO t VALUES (1, 2), (3, 4); \
             CREATE VIEW v AS SELECT a FROM t; CREATE TABLE u (a INT); \
             GRANT SELECT ON t TO GROUP readers; GRANT SELECT ON v TO carol; \
             GRANT INSERT ON TABLE u TO PUBLIC; GRANT UPDATE, DELETE ON u TO carol",
        )
        .await
        .unwrap();
    let denied = Some("42501");
    let cases: Vec<(&tokio_postgres::Client, &str, &str, Option<&str>)> = vec![
        (&bob, "bob", "SELECT * FROM t", None),
        (&bob, "bob", "INSERT INTO t VALUES (5, 6)", denied),
        (&bob, "bob", "UPDATE t SET a = 1", denied),
        (&bob, "bob", "DELETE FROM t", denied),
        (&bob, "bob", "SELECT * FROM v", denied),
        (&bob, "bob", "SELECT * FROM t JOIN u ON t.a = u.a", denied),
        (&bob, "bob", "CREATE TABLE c AS SELECT * FROM t", None),
        (&carol, "carol", "SELECT * FROM v", None),
        (&carol, "carol", "SELECT * FROM t", denied),
        (&carol, "carol", "SELECT * FROM (SELECT a FROM t) s", denied),
        (
            &carol,
            "carol",
            "SELECT a FROM v WHERE a IN (SELECT a FROM t)",
            denied,
        ),
        (&carol, "carol", "INSERT INTO u VALUES (1)", None),
        (&carol, "carol", "INSERT INTO u SELECT a FROM t", denied),
        (&carol, "carol", "SELECT * FROM u", denied),
        (&carol, "carol", "UPDATE u SET a = 5", None),
        (&carol, "carol", "UPDATE u SET a = a + 1", denied),
        (&carol, "carol", "DELETE FROM u WHERE a = 5", denied),
        (&carol, "carol", "DELETE FROM u", None),
        (&carol, "carol", "DROP TABLE t", denied),
        (&carol, "carol", "DROP VIEW v", denied),
        (&carol, "carol", "TRUNCATE u", denied),
        (
            &carol,
            "carol",
            "CREATE OR REPLACE VIEW v AS SELECT 1 AS a",
            denied,
        ),
        (&carol, "carol", "GRANT SELECT ON t TO carol", denied),
        (&carol, "carol", "ALTER TABLE t OWNER TO carol", denied),
        (&carol, "carol", "CREATE USER x PASSWORD 'Abcdefg1'", denied),
        (
            &carol,
            "carol",
            "ALTER USER bob PASSWORD 'Abcdefg1'",
            denied,
        ),
        (&carol, "carol", "DROP USER bob", denied),
        (&carol, "carol", "CREATE GROUP g", denied),
        (&carol, "carol", "COPY u FROM '/tmp/none.csv' CSV", denied),
        (
            &carol,
            "carol",
            "UNLOAD ('SELECT 1') TO '/tmp/none_'",
            denied,
        ),
        (&carol, "carol", "CHECKSUM TABLE t", denied),
        (&carol, "carol", "CREATE SNAPSHOT s1", denied),
        (&carol, "carol", "EXPLAIN SELECT * FROM t", denied),
        (&carol, "carol", "CREATE TABLE mine (a INT)", None),
        (&carol, "carol", "INSERT INTO mine VALUES (1)", None),
        (&carol, "carol", "DROP TABLE mine", None),
        (&alice, "alice", "SELECT * FROM t JOIN u ON t.a = u.a", None),
        (&alice, "alice", "DROP USER bob", denied),
        (&admin, "admin", "SELECT * FROM t", None),
        (&admin, "admin", "DELETE FROM t WHERE a = 100", None),
    ];
    let mut wrong = Vec::new();
    for (client, user, sql, want) in &cases {
        let got = outcome(client, sql).await;
        if got.as_deref() != *want {
            wrong.push(format!("{user}: {sql}: got {got:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Other users' queries are a superuser's to see.
    let seen = rows(
        &carol,
        "SELECT count(*) FROM stl_query WHERE username <> 'carol'",
    )
    .await;
    assert_eq!(seen, vec![vec![Some("0".to_string())]]);
    let seen = rows(
        &admin,
        "SELECT count(*) > 0 FROM stl_query WHERE username = 'carol'",
    )
    .await;
    assert_eq!(seen, vec![vec![Some("t".to_string())]]);

    // Revoking, and leaving a group, take effect at the next statement.
    admin
        .batch_execute("REVOKE SELECT ON t FROM GROUP readers")
        .await
        .unwrap();
    assert_eq!(outcome(&bob, "SELECT * FROM t").await.as_deref(), denied);
    alice
        .batch_execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO GROUP readers")
        .await
        .unwrap();
    assert_eq!(outcome(&bob, "DELETE FROM t WHERE a = 3").await, None);
    admin
        .batch_execute("ALTER GROUP readers DROP USER bob")
        .await
        .unwrap();
    assert_eq!(outcome(&bob, "SELECT * FROM t").await.as_deref(), denied);

    // Grants are not transactional statements here: refused inside a block.
    alice.batch_execute("BEGIN").await.unwrap();
    assert_eq!(
        outcome(&alice, "GRANT SELECT ON t TO bob").await.as_deref(),
        Some("25001")
    );
    alice.batch_execute("ROLLBACK").await.unwrap();

    // An owner cannot be dropped; a new owner can take the objects first.
    assert_eq!(
        outcome(&admin, "DROP USER alice").await.as_deref(),
        Some("2BP01")
    );
    admin
        .batch_execute(
            "ALTER TABLE t OWNER TO admin; ALTER TABLE u OWNER TO admin; ALTER VIEW v OWNER TO admin",
        )
        .await
        .unwrap();
    assert_eq!(outcome(&admin, "DROP USER alice").await, None);
    // carol's view grant stays, and the view now reads as its new owner.
    assert_eq!(outcome(&carol, "SELECT * FROM v").await, None);
    assert_eq!(
        outcome(&admin, "DROP USER IF EXISTS alice").await,
        None,
        "IF EXISTS skips a missing user"
    );
}

/// Runs psql with a libpq connection string; (success, stdout, stderr).
fn psql_conn(conninfo: &str, command: &str) -> (bool, String, String) {
    let out = std::process::Command::new("psql")
        .args(["-X", "-tA", conninfo, "-c", command])
        .env("PGPASSWORD", blueshift_tests::ADMIN_PASSWORD)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_offered_verified_and_can_be_required() {
    let cluster =
        TestCluster::start_full(1, 1, &[], &[("BLUESHIFT_LEADER_REQUIRE_TLS", "true")]).await;
    let port = cluster.port;
    // The self-signed certificate made at first start verifies as localhost.
    let cert = cluster.dir.join("leader").join("tls").join("server.crt");
    assert!(cert.exists());
    let (ok, out, err) = psql_conn(
        &format!(
            "host=localhost port={port} user=admin dbname=dev sslmode=verify-full sslrootcert={}",
            cert.display()
        ),
        "\\conninfo",
    );
    assert!(ok, "{err}");
    assert!(out.contains("SSL connection"), "{out}");
    let (ok, out, err) = psql_conn(
        &format!("host=127.0.0.1 port={port} user=admin dbname=dev sslmode=require"),
        "SELECT 40 + 2",
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "42");
    // Plain text is refused, and says why.
    let (ok, _, err) = psql_conn(
        &format!("host=127.0.0.1 port={port} user=admin dbname=dev sslmode=disable"),
        "SELECT 1",
    );
    assert!(!ok);
    assert!(err.contains("TLS"), "{err}");
    let e = tokio_postgres::connect(&cluster.conn_str(), tokio_postgres::NoTls)
        .await
        .err()
        .unwrap();
    assert_eq!(code_of(&e), "28000", "{e}");
    // A certificate for another host does not verify.
    let (ok, _, err) = psql_conn(
        &format!(
            "host=other.example hostaddr=127.0.0.1 port={port} user=admin dbname=dev sslmode=verify-full sslrootcert={}",
            cert.display()
        ),
        "SELECT 1",
    );
    assert!(!ok, "other.example is not a name of the certificate");
    assert!(
        err.contains("certificate") || err.contains("match"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_without_the_cluster_secret_can_neither_call_nor_serve() {
    use arrow_flight::flight_service_client::FlightServiceClient;
    let cluster = TestCluster::start(1, 1).await;
    let addr = format!("http://{}", cluster.compute_addrs[0]);
    // A call without the secret, or with another one, is refused.
    for secret in [None, Some("not-the-secret")] {
        let mut client = FlightServiceClient::new(
            tonic::transport::Endpoint::from_shared(addr.clone())
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
        let mut request = tonic::Request::new(arrow_flight::Empty {});
        if let Some(s) = secret {
            request
                .metadata_mut()
                .insert("x-blueshift-cluster-secret", s.parse().unwrap());
        }
        let status = client.list_actions(request).await.err().unwrap();
        assert!(
            status.message().contains("cluster's secret"),
            "{secret:?}: {status}"
        );
    }
    // With it, the node answers.
    let mut client = FlightServiceClient::new(
        tonic::transport::Endpoint::from_shared(addr.clone())
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    let mut request = tonic::Request::new(arrow_flight::Empty {});
    request.metadata_mut().insert(
        "x-blueshift-cluster-secret",
        cluster.secret().parse().unwrap(),
    );
    client.list_actions(request).await.unwrap();

    // A leader with another secret cannot use the node: it stops at start-up, saying so.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(blueshift_tests::blueshift_bin())
        .args([
            "leader",
            "--port",
            &blueshift_tests::free_port().to_string(),
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "--compute",
            &cluster.compute_addrs[0],
            "--slices-per-node",
            "1",
        ])
        .env("BLUESHIFT_CLUSTER_SECRET", "another-secret")
        .env("BLUESHIFT_LEADER_ADMIN_PASSWORD", "Other-Admin-1")
        .env("BLUESHIFT_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cluster's secret"), "{err}");
    // The cluster itself still answers.
    let c = cluster.client().await;
    assert_eq!(
        rows(&c, "SELECT 1").await,
        vec![vec![Some("1".to_string())]]
    );
}

/// Every user sees the catalog (pg_class, information_schema, psql's `\dt`) whatever they
/// may read, as in PostgreSQL; has_table_privilege and has_schema_privilege answer from
/// the grants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_is_everyones_and_privilege_functions_tell_the_truth() {
    let cluster = TestCluster::start(1, 1).await;
    let admin = cluster.client().await;
    admin
        .batch_execute(
            "CREATE USER carol PASSWORD 'Carol-Pass-1';
             CREATE TABLE secret (a INT);
             CREATE TABLE shared (a INT);
             GRANT SELECT ON shared TO carol;
             CREATE SCHEMA s",
        )
        .await
        .unwrap();
    let carol = cluster.connect_as("carol", "Carol-Pass-1").await.unwrap();
    assert_eq!(
        rows(
            &carol,
            "SELECT relname FROM pg_class WHERE relname IN ('secret', 'shared') ORDER BY 1"
        )
        .await,
        vec![
            vec![Some("secret".to_string())],
            vec![Some("shared".to_string())]
        ]
    );
    assert_eq!(
        rows(
            &carol,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'secret'"
        )
        .await,
        vec![vec![Some("1".to_string())]]
    );
    assert_eq!(
        outcome(&carol, "SELECT * FROM secret").await.as_deref(),
        Some("42501")
    );
    let answers = rows(
        &carol,
        "SELECT has_table_privilege('secret', 'select'), has_table_privilege('shared', 'SELECT'), \
         has_table_privilege('shared', 'insert'), has_table_privilege('admin', 'secret', 'select, insert'), \
         has_table_privilege('shared', 'select with grant option'), \
         has_schema_privilege('public', 'usage'), has_schema_privilege('s', 'usage'), \
         has_schema_privilege('admin', 's', 'create')",
    )
    .await;
    let want: Vec<Option<String>> = ["f", "t", "f", "t", "f", "t", "f", "t"]
        .iter()
        .map(|v| Some(v.to_string()))
        .collect();
    assert_eq!(answers, vec![want]);
    assert_eq!(
        outcome(&carol, "SELECT has_table_privilege('nosuch', 'select')")
            .await
            .as_deref(),
        Some("42P01")
    );
    // psql's \dt as carol lists both tables.
    let out = cluster
        .psql()
        .env("PGUSER", "carol")
        .env("PGPASSWORD", "Carol-Pass-1")
        .args(["-U", "carol", "-c", "\\dt"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("secret") && text.contains("shared"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
