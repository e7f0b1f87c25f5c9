//! The reference engine: a throwaway PostgreSQL server on a loopback port, in a temporary
//! folder, with the C collation (byte order, as Blueshift compares strings).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Postgres {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

/// The folder holding `initdb` and `postgres`: `BLUESHIFT_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian's layout), else the PATH.
fn bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("BLUESHIFT_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if dir.join("initdb").exists() && dir.join("postgres").exists() {
            return Ok(dir);
        }
    }
    Err(
        "no PostgreSQL server found (install Debian's postgresql package, or set \
         BLUESHIFT_PG_BIN to the folder holding initdb and postgres)"
            .into(),
    )
}

/// PostgreSQL refuses to run as root: as root, its programs run as the `postgres` user.
fn as_server_user(program: &Path) -> Result<(Command, Option<(u32, u32)>), String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Ok((Command::new(program), None));
    }
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .map_err(|e| e.to_string())?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| "running as root, and there is no postgres user to run PostgreSQL".into())
    };
    let (u, g) = (id("-u")?, id("-g")?);
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={u}"),
        &format!("--regid={g}"),
        "--init-groups",
        "--",
    ])
    .arg(program);
    Ok((cmd, Some((u, g))))
}

impl Postgres {
    pub async fn start() -> Result<Postgres, String> {
        let bin = bin_dir()?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        let (mut initdb, owner) = as_server_user(&bin.join("initdb"))?;
        if let Some((u, g)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(u), Some(g)).map_err(|e| e.to_string())?;
        }
        let out = initdb
            .arg("-D")
            .arg(&data)
            .args([
                "--auth=trust",
                "-U",
                "postgres",
                "--locale=C",
                "--encoding=UTF8",
                "--no-sync",
            ])
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let port = crate::free_port();
        let (mut server, _) = as_server_user(&bin.join("postgres"))?;
        let child = server
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-k")
            .arg(dir.path())
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "synchronous_commit=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("postgres: {e}"))?;
        let mut pg = Postgres {
            child,
            port,
            _dir: dir,
        };
        // A guard against a server that never starts, not a performance limit.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = pg.child.try_wait() {
                return Err(format!("postgres exited during start-up: {status}"));
            }
            if pg.client().await.is_ok() {
                return Ok(pg);
            }
            if Instant::now() > deadline {
                return Err("postgres did not accept connections".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A generated query that runs away is cut off rather than stalling the run.
    pub fn conn_str(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres \
             options='-c statement_timeout=30s'",
            self.port
        )
    }

    pub async fn client(&self) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, conn) =
            tokio_postgres::connect(&self.conn_str(), tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        Ok(client)
    }
}

impl Drop for Postgres {
    /// A fast shutdown (SIGINT), so the server's own processes end with it.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
