//! `blueshift dev`: a leader and N compute processes on loopback, supervised. Each is this
//! same binary started with its role's subcommand.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::caught_shutdown_signal;
use crate::error::{Error, Result};

/// A free loopback port, with the listener that holds it until the caller drops it.
fn free_port() -> Result<(StdListener, u16)> {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr().map(|a| (l, a.port())))
        .map_err(|e| Error::Io(format!("no free port: {e}")))
}

/// Children of `dev`; on drop every one still running gets SIGTERM, then SIGKILL.
struct Children(Vec<(String, Child)>);

impl Children {
    fn stop(&mut self) {
        for (_, c) in &mut self.0 {
            terminate(c);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (_, c) in &mut self.0 {
            while Instant::now() < deadline {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        self.0.clear();
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.stop();
    }
}

fn terminate(child: &Child) {
    // SIGTERM lets the child finish what it is writing; `kill` from std only sends SIGKILL.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
}

pub struct DevOpts {
    pub port: u16,
    pub data_dir: PathBuf,
    pub nodes: u32,
    pub slices_per_node: u32,
    pub config_file: Option<PathBuf>,
    /// Whether `[cluster] secret` is configured (else dev keeps one of its own).
    pub secret_configured: bool,
    /// `--memory-limit` for each compute process and for the leader (None: the config's).
    pub compute_memory: Option<String>,
    pub leader_memory: Option<String>,
}

pub async fn run_dev(opts: DevOpts) -> Result<()> {
    let exe = std::env::current_exe().map_err(|e| Error::Io(e.to_string()))?;
    std::fs::create_dir_all(&opts.data_dir)
        .map_err(|e| Error::Io(format!("{}: {e}", opts.data_dir.display())))?;
    // Signals are caught before the first child starts: a stop while the cluster is still
    // starting stops the children too (the default action would end this process alone and
    // leave them running, holding whatever output they inherited).
    let stop = caught_shutdown_signal();
    tokio::pin!(stop);
    let mut children = Children(Vec::new());
    let mut addrs = Vec::new();
    // The cluster secret: made at the first start, kept owner-only in the data folder, and
    // handed to every process (each keeps it in its own folder too).
    let secret = if opts.secret_configured {
        None
    } else {
        Some(blueshift_compute::secret::kept_or_new(&opts.data_dir)?)
    };
    let spawn = |args: Vec<String>, config: &Option<PathBuf>| -> Result<Child> {
        let mut cmd = Command::new(&exe);
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        if let Some(s) = &secret {
            cmd.env("BLUESHIFT_CLUSTER_SECRET", s);
        }
        cmd.args(args);
        cmd.spawn()
            .map_err(|e| Error::Io(format!("cannot start {}: {e}", exe.display())))
    };
    // Every node's port is chosen while the others are still held, so no two are the same.
    let held = (0..opts.nodes)
        .map(|_| free_port())
        .collect::<Result<Vec<_>>>()?;
    let ports: Vec<u16> = held.iter().map(|(_, p)| *p).collect();
    drop(held);
    for (node, port) in (0..opts.nodes).zip(ports) {
        let addr = format!("127.0.0.1:{port}");
        let dir = opts.data_dir.join(format!("compute-{node}"));
        let child = spawn(
            vec![
                "compute".into(),
                "--node".into(),
                node.to_string(),
                "--listen".into(),
                addr.clone(),
                "--data-dir".into(),
                path_arg(&dir),
                "--slices-per-node".into(),
                opts.slices_per_node.to_string(),
            ]
            .into_iter()
            .chain(memory_arg(&opts.compute_memory))
            .collect(),
            &opts.config_file,
        )?;
        children.0.push((format!("compute {node}"), child));
        addrs.push(addr);
    }
    let leader = spawn(
        vec![
            "leader".into(),
            "--port".into(),
            opts.port.to_string(),
            "--data-dir".into(),
            path_arg(&opts.data_dir.join("leader")),
            "--compute".into(),
            addrs.join(","),
            "--slices-per-node".into(),
            opts.slices_per_node.to_string(),
        ]
        .into_iter()
        .chain(memory_arg(&opts.leader_memory))
        .collect(),
        &opts.config_file,
    )?;
    children.0.push(("leader".into(), leader));

    // Healthy = the leader accepts connections (it does so only after every node answered).
    let deadline = Instant::now() + Duration::from_secs(180);
    let healthy = async {
        loop {
            if let Some(name) = exited(&mut children) {
                return Err(Error::NotReady(format!("{name} exited during start-up")));
            }
            if std::net::TcpStream::connect(("127.0.0.1", opts.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::NotReady(
                    "the leader did not start listening in time".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let started = tokio::select! {
        r = healthy => Some(r),
        _ = &mut stop => None,
    };
    match started {
        Some(r) => r?,
        None => {
            children.stop();
            println!("Blueshift stopped while starting.");
            return Ok(());
        }
    }
    println!(
        "Blueshift is running: leader on 127.0.0.1:{}, {} compute nodes x {} slices, data in {}",
        opts.port,
        opts.nodes,
        opts.slices_per_node,
        opts.data_dir.display()
    );
    // A generated password stays in the leader's folder; the command line reads it there.
    let password_file = opts.data_dir.join("leader").join("admin_password");
    let password = if password_file.exists() {
        format!("PGPASSWORD=$(cat {}) ", password_file.display())
    } else {
        String::new()
    };
    println!(
        "Connect with:  {password}psql -h 127.0.0.1 -p {} -U admin dev",
        opts.port
    );
    let watch = async {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if let Some(name) = exited(&mut children) {
                return name;
            }
        }
    };
    let outcome = tokio::select! {
        _ = &mut stop => None,
        name = watch => Some(name),
    };
    children.stop();
    match outcome {
        None => {
            println!("Blueshift stopped.");
            Ok(())
        }
        Some(name) => Err(Error::NotReady(format!("{name} exited; cluster stopped"))),
    }
}

fn exited(children: &mut Children) -> Option<String> {
    children
        .0
        .iter_mut()
        .find_map(|(n, c)| matches!(c.try_wait(), Ok(Some(_))).then(|| n.clone()))
}

fn memory_arg(limit: &Option<String>) -> Vec<String> {
    match limit {
        Some(bytes) => vec!["--memory-limit".into(), bytes.clone()],
        None => vec![],
    }
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}
