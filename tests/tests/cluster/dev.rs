use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use blueshift_tests::{blueshift_bin, free_port};

async fn connect(port: u16, password: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=admin password={password} dbname=dev"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect");
    tokio::spawn(conn);
    client
}

/// `blueshift dev` starts a leader and compute processes, prints how to connect, stops its
/// children on SIGTERM, and brings every committed row back when started again.
#[tokio::test]
async fn dev_starts_stops_and_restarts_with_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let start = || {
        let mut child = Command::new(blueshift_bin())
            .args([
                "dev",
                "--port",
                &port.to_string(),
                "--nodes",
                "2",
                "--slices-per-node",
                "2",
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .env("BLUESHIFT_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut printed = String::new();
        while !printed.contains("psql") {
            let mut line = String::new();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "dev exited early: {printed}"
            );
            printed.push_str(&line);
        }
        assert!(
            printed.contains(&format!("psql -h 127.0.0.1 -p {port} -U admin dev")),
            "{printed}"
        );
        assert!(printed.contains("admin_password"), "{printed}");
        (child, out)
    };
    let stop = |mut child: std::process::Child| stop_dev(&mut child, "");

    let (child, _out) = start();
    // No admin_password configured: dev made one, kept it owner-readable only, and said
    // where it is.
    let file = dir.path().join("leader").join("admin_password");
    let password = std::fs::read_to_string(&file).unwrap().trim().to_string();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let refused = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=admin password=wrong dbname=dev"),
        tokio_postgres::NoTls,
    )
    .await
    .err()
    .expect("a wrong password is refused");
    assert_eq!(
        refused.as_db_error().map(|e| e.code().code()),
        Some("28P01"),
        "{refused}"
    );
    let c = connect(port, &password).await;
    c.batch_execute("CREATE TABLE d (id BIGINT, s VARCHAR(4)) DISTKEY(id); INSERT INTO d SELECT value, 'x' FROM generate_series(1, 2500)")
        .await
        .unwrap();
    drop(c);
    stop(child);
    // Every child is gone: the port is free again.
    std::thread::sleep(Duration::from_millis(200));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());

    let (child, _out) = start();
    // The password made at the first start stays.
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), password);
    let c = connect(port, &password).await;
    let r = c.simple_query("SELECT count(*) FROM d").await.unwrap();
    let n = match &r[1] {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).unwrap().to_string(),
        other => panic!("{other:?}"),
    };
    assert_eq!(n, "2500");
    drop(c);
    stop(child);
}

/// SIGTERM to `dev`, which must then exit 0 (`what` prefixes the failure).
fn stop_dev(child: &mut std::process::Child, what: &str) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{what}dev exited with {status}");
}

/// Live (not zombie) processes whose command line names `dir`.
fn processes_on(dir: &std::path::Path) -> Vec<String> {
    let needle = dir.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let path = entry.path();
        let Ok(cmdline) = std::fs::read(path.join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let zombie = std::fs::read_to_string(path.join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(true);
        if cmdline.contains(&needle) && !zombie {
            found.push(cmdline);
        }
    }
    found
}

/// SIGTERM while `dev` is still starting its children stops them too: none is left
/// running, and the output they shared with `dev` closes (a caller reading it to its end
/// would otherwise wait forever).
#[tokio::test]
async fn dev_stopped_while_starting_leaves_no_process() {
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(blueshift_bin())
            .args(["dev", "--port", &free_port().to_string(), "--nodes", "2"])
            .arg("--data-dir")
            .arg(dir.path())
            .env("BLUESHIFT_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The moment varies by round: as soon as a compute process runs, once the leader
        // runs too, and a little later.
        let wanted = if round == 0 { "compute" } else { "leader" };
        while !processes_on(dir.path()).iter().any(|p| p.contains(wanted)) {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("round {round}: dev exited before its {wanted} started: {status}");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if round == 2 {
            std::thread::sleep(Duration::from_millis(50));
        }
        stop_dev(&mut child, &format!("round {round}: "));
        assert_eq!(
            processes_on(dir.path()),
            Vec::<String>::new(),
            "round {round}"
        );
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut rest).unwrap();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut rest).unwrap();
    }
}
