use std::io::Write;
use std::time::Duration;

use blueshift_tests::{TestCluster, rows, sqlstate};

#[tokio::test]
async fn errors_carry_sqlstates_and_the_session_survives() {
    let cluster = TestCluster::start(2, 2).await;
    let c = cluster.client().await;
    c.batch_execute("CREATE TABLE e (id INT, name VARCHAR(5), n INT) DISTKEY(id); INSERT INTO e VALUES (1, 'a', 0)")
        .await
        .unwrap();

    // Syntax error, with the position of the offending token.
    let err = c.simple_query("SELECT id FROM e WHERE").await.unwrap_err();
    let db = err.as_db_error().expect("db error");
    assert_eq!(db.code().code(), "42601");
    assert!(
        matches!(db.position(), Some(tokio_postgres::error::ErrorPosition::Original(p)) if *p > 0),
        "{db:?}"
    );
    let err = c.simple_query("SELEC 1").await.unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code().code(), "42601");

    assert_eq!(sqlstate(&c, "SELECT * FROM missing_table").await, "42P01");
    assert_eq!(
        sqlstate(&c, "INSERT INTO missing_table VALUES (1)").await,
        "42P01"
    );
    assert_eq!(sqlstate(&c, "SELECT no_such_column FROM e").await, "42703");
    assert_eq!(
        sqlstate(&c, "INSERT INTO e VALUES ('abc', 'x', 1)").await,
        "22P02"
    );
    assert_eq!(
        sqlstate(&c, "SELECT CAST('2026-13-45' AS DATE)").await,
        "22P02"
    );
    assert_eq!(
        sqlstate(&c, "INSERT INTO e VALUES (2, 'toolong', 1)").await,
        "22001"
    );
    assert_eq!(sqlstate(&c, "SELECT id / n FROM e").await, "22012");
    assert_eq!(sqlstate(&c, "CREATE TABLE e (x INT)").await, "42P07");

    // The failed statements changed nothing and the session still works.
    assert_eq!(
        rows(&c, "SELECT count(*) FROM e").await[0][0].as_deref(),
        Some("1")
    );
    let err = c.simple_query("SELECT 1/0").await.unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code().code(), "22012");
    assert!(
        err.as_db_error()
            .unwrap()
            .message()
            .to_lowercase()
            .contains("divide by zero"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_down_compute_node_fails_the_query_naming_it() {
    let mut cluster = TestCluster::start_with(2, 2, &["--node-timeout-secs", "5"]).await;
    let c = cluster.client().await;
    c.batch_execute("CREATE TABLE d (id BIGINT) DISTSTYLE EVEN; INSERT INTO d SELECT value FROM generate_series(1, 100)")
        .await
        .unwrap();
    cluster.kill9_compute(1);
    let err = c.simple_query("SELECT count(*) FROM d").await.unwrap_err();
    assert_names_node_1(&err);
    // The session is still usable, and the query works again once the node is back.
    assert_eq!(rows(&c, "SELECT 1").await[0][0].as_deref(), Some("1"));
    cluster.spawn_compute(1);
    let mut ok = false;
    for _ in 0..100 {
        if let Ok(r) = blueshift_tests::try_rows(&c, "SELECT count(*) FROM d").await {
            assert_eq!(r[0][0].as_deref(), Some("100"));
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ok, "the query did not succeed after the node came back");
}

#[tokio::test]
async fn a_malformed_message_closes_only_its_connection() {
    let cluster = TestCluster::start(1, 1).await;
    let c = cluster.client().await;
    // A startup packet that claims to be 2 GB long, then garbage.
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", cluster.port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(&[0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0, 1, 2, 3])
        .unwrap();
    let mut buf = [0u8; 256];
    let _ = std::io::Read::read(&mut raw, &mut buf);
    // A well-formed startup followed by a message with an absurd length.
    let mut raw2 = std::net::TcpStream::connect(("127.0.0.1", cluster.port)).unwrap();
    raw2.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let params = b"user\0admin\0database\0dev\0\0";
    let len = (8 + params.len()) as u32;
    let mut startup = len.to_be_bytes().to_vec();
    startup.extend_from_slice(&196608u32.to_be_bytes());
    startup.extend_from_slice(params);
    raw2.write_all(&startup).unwrap();
    let _ = std::io::Read::read(&mut raw2, &mut buf);
    raw2.write_all(&[b'Q', 0x7f, 0xff, 0xff, 0xff, b'x'])
        .unwrap();
    let _ = std::io::Read::read(&mut raw2, &mut buf);
    // Other sessions are unaffected.
    assert_eq!(rows(&c, "SELECT 41 + 1").await[0][0].as_deref(), Some("42"));
    let c2 = cluster.client().await;
    assert_eq!(rows(&c2, "SELECT 1").await[0][0].as_deref(), Some("1"));
}

#[tokio::test]
async fn a_hung_compute_node_fails_the_query_within_the_timeout() {
    // The config file says 600 s; the environment overrides it with 3 s.
    let conf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(conf.path(), "[leader]\nnode_timeout_secs = 600\n").unwrap();
    let path = conf.path().to_str().unwrap().to_string();
    let cluster = TestCluster::start_full(
        2,
        2,
        &["--config", &path],
        &[("BLUESHIFT_LEADER_NODE_TIMEOUT_SECS", "3")],
    )
    .await;
    let c = cluster.client().await;
    c.batch_execute("CREATE TABLE h (id BIGINT) DISTSTYLE EVEN; INSERT INTO h SELECT value FROM generate_series(1, 100)")
        .await
        .unwrap();
    let pid = cluster.computes[1].as_ref().unwrap().id().to_string();
    // SIGSTOP: the node's sockets stay open but it never answers.
    assert!(
        std::process::Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let err = c.simple_query("SELECT count(*) FROM h").await.unwrap_err();
    std::process::Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap();
    assert_names_node_1(&err);
}

#[tokio::test]
async fn a_cancel_request_stops_the_running_statement() {
    let cluster = TestCluster::start(2, 2).await;
    let c = cluster.client().await;
    let token = c.cancel_token();
    let running = tokio::spawn(async move {
        let r = c
            .simple_query("SELECT sum(value % 7) FROM generate_series(1, 5000000000)")
            .await;
        (r.map(|_| ()), c)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let (result, c) = running.await.unwrap();
    let err = result.expect_err("the statement was cancelled");
    assert_eq!(err.as_db_error().unwrap().code().code(), "57014", "{err:?}");
    assert_eq!(rows(&c, "SELECT 7").await[0][0].as_deref(), Some("7"));
}

/// The error a lost or hung node causes: SQLSTATE 58030, naming the node.
fn assert_names_node_1(err: &tokio_postgres::Error) {
    let db = err.as_db_error().expect("db error");
    assert_eq!(db.code().code(), "58030", "{db:?}");
    assert!(db.message().contains("compute node 1"), "{}", db.message());
}
