//! Test support: start real Blueshift clusters (a leader and compute processes on loopback
//! ports, data in a temporary folder) and talk to them with real clients.

// Test support, like the tests (`clippy.toml`): a failed unwrap is a failed test, with its line.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub mod difftest;
pub mod s3;
use std::time::{Duration, Instant};

/// The `blueshift` binary built beside this test binary, or the one `BLUESHIFT_BIN` names:
/// that runs the tests against another build, e.g. a release binary.
pub fn blueshift_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("BLUESHIFT_BIN") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.exists(),
            "BLUESHIFT_BIN names {}, which is missing",
            bin.display()
        );
        return bin;
    }
    // A test binary sits in `target/<profile>/deps/`, a program beside `blueshift`.
    let exe = std::env::current_exe().expect("test binary path");
    let beside = exe.parent().expect("binary folder");
    let dir = match beside.file_name().is_some_and(|n| n == "deps") {
        true => beside.parent().expect("target folder"),
        false => beside,
    };
    let bin = dir.join("blueshift");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build --workspace)",
        bin.display()
    );
    bin
}

/// A loopback port no other caller of this process got, below the kernel's ephemeral range
/// (32768 and up on Linux). Ports from that range are unsafe for a server that is killed
/// and restarted: while it is down, any outgoing connection (or another test's `bind(0)`)
/// may take its port, and the restarted server cannot listen again.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    // Test processes running side by side start at different offsets.
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id() * 97) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between {LOW} and {}", LOW + SPAN)
}

/// The password of `admin` in every test cluster (`[leader] admin_password`).
pub const ADMIN_PASSWORD: &str = "Test-Admin-1";

/// How a test signs in to a leader on `port` as `admin`.
pub fn conn_str_for(port: u16) -> String {
    format!("host=127.0.0.1 port={port} user=admin password={ADMIN_PASSWORD} dbname=dev")
}

/// `psql` signed in as `admin` to the leader on `port` (no ~/.psqlrc), for `-c` commands.
pub fn psql_command(port: u16) -> Command {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-X",
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        "admin",
        "dev",
    ])
    .env("PGPASSWORD", ADMIN_PASSWORD)
    .env("PGCONNECT_TIMEOUT", "10");
    cmd
}

pub struct TestCluster {
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub port: u16,
    pub nodes: u32,
    pub slices_per_node: u32,
    pub leader: Option<Child>,
    pub computes: Vec<Option<Child>>,
    pub compute_addrs: Vec<String>,
    pub leader_args: Vec<String>,
    pub leader_env: Vec<(String, String)>,
    /// A `blueshift.toml` every process reads (`--config`).
    pub config: Option<PathBuf>,
}

impl TestCluster {
    pub async fn start(nodes: u32, slices_per_node: u32) -> TestCluster {
        Self::start_with(nodes, slices_per_node, &[]).await
    }

    pub async fn start_with(nodes: u32, slices_per_node: u32, leader_args: &[&str]) -> TestCluster {
        Self::start_full(nodes, slices_per_node, leader_args, &[]).await
    }

    /// Starts a cluster whose leader gets extra flags and environment variables.
    pub async fn start_full(
        nodes: u32,
        slices_per_node: u32,
        leader_args: &[&str],
        leader_env: &[(&str, &str)],
    ) -> TestCluster {
        Self::start_config(nodes, slices_per_node, leader_args, leader_env, None).await
    }

    /// Starts a cluster whose processes all read `config` as their configuration file.
    pub async fn start_config(
        nodes: u32,
        slices_per_node: u32,
        leader_args: &[&str],
        leader_env: &[(&str, &str)],
        config: Option<&str>,
    ) -> TestCluster {
        let tmp = tempfile::tempdir().unwrap();
        let config = config.map(|text| {
            let path = tmp.path().join("blueshift.toml");
            std::fs::write(&path, text).unwrap();
            path
        });
        let mut c = TestCluster {
            dir: tmp.path().to_path_buf(),
            _tmp: Some(tmp),
            port: free_port(),
            nodes,
            slices_per_node,
            leader: None,
            computes: Vec::new(),
            compute_addrs: Vec::new(),
            leader_args: leader_args.iter().map(|s| s.to_string()).collect(),
            leader_env: leader_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            config,
        };
        for node in 0..nodes {
            c.compute_addrs.push(format!("127.0.0.1:{}", free_port()));
            c.computes.push(None);
            c.spawn_compute(node);
        }
        c.spawn_leader();
        c.wait_ready().await;
        c
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(blueshift_bin());
        if let Some(config) = &self.config {
            cmd.arg("--config").arg(config);
        }
        // Every process of this cluster shares its secret (each cluster its own).
        cmd.env("BLUESHIFT_CLUSTER_SECRET", self.secret());
        cmd
    }

    /// The secret this cluster's processes share.
    pub fn secret(&self) -> String {
        format!("test-cluster-{}-{}", std::process::id(), self.port)
    }

    pub fn spawn_compute(&mut self, node: u32) {
        let child = self
            .command()
            .args([
                "compute",
                "--node",
                &node.to_string(),
                "--listen",
                &self.compute_addrs[node as usize],
            ])
            .arg("--data-dir")
            .arg(self.dir.join(format!("compute-{node}")))
            .args(["--slices-per-node", &self.slices_per_node.to_string()])
            .env("BLUESHIFT_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start compute");
        self.computes[node as usize] = Some(child);
    }

    pub fn spawn_leader(&mut self) {
        let child = self
            .command()
            .args(["leader", "--port", &self.port.to_string()])
            .arg("--data-dir")
            .arg(self.dir.join("leader"))
            .args(["--compute", &self.compute_addrs.join(",")])
            .args(["--slices-per-node", &self.slices_per_node.to_string()])
            .args(&self.leader_args)
            .env("BLUESHIFT_LEADER_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .envs(self.leader_env.iter().cloned())
            .env("BLUESHIFT_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start leader");
        self.leader = Some(child);
    }

    /// Waits until the leader accepts a SQL connection.
    pub async fn wait_ready(&mut self) {
        // A guard against a cluster that never starts, not a performance limit.
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if let Some(l) = self.leader.as_mut()
                && let Ok(Some(status)) = l.try_wait()
            {
                panic!("leader exited during start-up: {status}");
            }
            match tokio_postgres::connect(&self.conn_str(), tokio_postgres::NoTls).await {
                Ok((client, conn)) => {
                    tokio::spawn(conn);
                    if client.simple_query("SELECT 1").await.is_ok() {
                        return;
                    }
                }
                // A leader that refuses a plain-text connection (require_tls) is serving.
                Err(e) if e.as_db_error().is_some_and(|d| d.code().code() == "28000") => return,
                Err(_) => {}
            }
            assert!(Instant::now() < deadline, "cluster did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn conn_str(&self) -> String {
        conn_str_for(self.port)
    }

    /// `psql` signed in as `admin` to this cluster.
    pub fn psql(&self) -> Command {
        psql_command(self.port)
    }

    /// A client whose NOTICEs are collected into the returned list.
    pub async fn client_with_notices(
        &self,
    ) -> (
        tokio_postgres::Client,
        std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    ) {
        let (client, mut conn) = tokio_postgres::connect(&self.conn_str(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        let notices = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&notices);
        tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
            while let Some(Ok(m)) = futures::StreamExt::next(&mut messages).await {
                if let tokio_postgres::AsyncMessage::Notice(n) = m {
                    seen.lock().unwrap().push(n.message().to_string());
                }
            }
        });
        (client, notices)
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.conn_str(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client
    }

    /// A client logged in as `user` with `password` (the error when the login fails).
    pub async fn connect_as(
        &self,
        user: &str,
        password: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.port)
            .user(user)
            .password(password)
            .dbname("dev");
        let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        Ok(client)
    }

    pub fn kill9_compute(&mut self, node: u32) {
        if let Some(mut c) = self.computes[node as usize].take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    pub fn kill9_leader(&mut self) {
        if let Some(mut c) = self.leader.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Kills every process with SIGKILL and starts them again on the same data.
    pub async fn restart_hard(&mut self) {
        self.kill9_leader();
        for n in 0..self.nodes {
            self.kill9_compute(n);
        }
        for n in 0..self.nodes {
            self.spawn_compute(n);
        }
        self.spawn_leader();
        self.wait_ready().await;
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        self.kill9_leader();
        for n in 0..self.nodes {
            self.kill9_compute(n);
        }
    }
}

/// Runs a query through the simple protocol and returns every row as text cells.
pub async fn rows(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    try_rows(client, sql).await.unwrap_or_else(|e| {
        panic!(
            "{sql}: {e} {:?}",
            e.as_db_error().map(|d| (d.code().code(), d.message()))
        )
    })
}

pub async fn try_rows(
    client: &tokio_postgres::Client,
    sql: &str,
) -> Result<Vec<Vec<Option<String>>>, tokio_postgres::Error> {
    let msgs = client.simple_query(sql).await?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect())
}

/// The SQLSTATE of a failed statement.
pub async fn sqlstate(client: &tokio_postgres::Client, sql: &str) -> String {
    match client.simple_query(sql).await {
        Ok(_) => panic!("expected an error from: {sql}"),
        Err(e) => e
            .as_db_error()
            .map(|d| d.code().code().to_string())
            .unwrap_or_else(|| panic!("not a database error from {sql}: {e}")),
    }
}

/// Rows per slice of a table, from the `stv_tbl_perm` system view.
pub async fn per_slice(c: &tokio_postgres::Client, table: &str) -> Vec<i64> {
    rows(
        c,
        &format!("SELECT rows FROM stv_tbl_perm WHERE name = '{table}' ORDER BY slice"),
    )
    .await
    .into_iter()
    .map(|r| r[0].as_ref().unwrap().parse().unwrap())
    .collect()
}

/// The error of a failed statement: SQLSTATE, message, hint.
pub async fn error_of(c: &tokio_postgres::Client, sql: &str) -> (String, String, String) {
    let e = c
        .simple_query(sql)
        .await
        .err()
        .unwrap_or_else(|| panic!("expected an error from: {sql}"));
    let db = e
        .as_db_error()
        .unwrap_or_else(|| panic!("not a database error from {sql}: {e}"));
    (
        db.code().code().to_string(),
        db.message().to_string(),
        db.hint().unwrap_or_default().to_string(),
    )
}

/// Block files on disk under every compute folder of a cluster folder.
pub fn block_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for node in std::fs::read_dir(dir).unwrap().flatten() {
        let slices = node.path().join("slices");
        let Ok(slices) = std::fs::read_dir(slices) else {
            continue;
        };
        for slice in slices.flatten() {
            n += std::fs::read_dir(slice.path().join("blocks"))
                .map(|d| d.count())
                .unwrap_or(0);
        }
    }
    n
}

/// The block files the committed state names (`stv_tbl_perm`), to compare with
/// [`block_files`] on disk.
pub async fn committed_blocks(client: &tokio_postgres::Client) -> usize {
    rows(client, "SELECT sum(blocks) FROM stv_tbl_perm").await[0][0]
        .as_ref()
        .map_or(0, |n| n.parse().unwrap())
}
