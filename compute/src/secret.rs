//! The cluster secret: every gRPC/Flight call between the leader and the compute nodes, and
//! between nodes, carries it, and a node refuses (and logs) a call without it. A process
//! that does not hold the secret can neither serve the cluster nor call into it.
//!
//! ```text
//!  [cluster] secret (BLUESHIFT_CLUSTER_SECRET) ─► kept in <data dir>/cluster_secret (0600)
//!  none configured ─► the one kept in the data folder; `blueshift dev` makes one at its
//!                     first start and hands it to every process it starts
//! ```

use std::path::Path;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tonic::metadata::{Ascii, MetadataValue};

use crate::error::{Error, Result};

/// The metadata key a call carries the secret in.
const HEADER: &str = "x-blueshift-cluster-secret";
const FILE: &str = "cluster_secret";

/// The `[cluster]` section of the configuration: what every process of a cluster shares.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterConfig {
    /// The secret calls between the cluster's processes carry. Empty: the one kept in the
    /// process's data folder.
    pub secret: String,
}

/// This process's secret, for the calls it makes (set once at start-up).
static SECRET: OnceLock<MetadataValue<Ascii>> = OnceLock::new();

/// The secret a process started with `configured` and `data_dir` uses: the configured one
/// (kept in the data folder, owner-readable only), else the one already kept there.
pub fn resolve(configured: &str, data_dir: &Path) -> Result<String> {
    let file = data_dir.join(FILE);
    if !configured.is_empty() {
        let kept = std::fs::read_to_string(&file).ok();
        if kept.as_deref().map(str::trim_end) != Some(configured) {
            write_owner_only(&file, configured)
                .map_err(|e| Error::BadRequest(format!("cannot write {}: {e}", file.display())))?;
        }
        return Ok(configured.to_string());
    }
    match std::fs::read_to_string(&file) {
        Ok(kept) if !kept.trim_end().is_empty() => Ok(kept.trim_end().to_string()),
        _ => Err(Error::BadRequest(format!(
            "no cluster secret: set [cluster] secret (or BLUESHIFT_CLUSTER_SECRET) to the same value on every process, or keep it in {} (blueshift dev makes one)",
            file.display()
        ))),
    }
}

/// The secret kept in `data_dir`, or a new one kept there from now on (what `blueshift
/// dev` hands the processes it starts).
pub fn kept_or_new(data_dir: &Path) -> Result<String> {
    resolve("", data_dir).or_else(|_| resolve(&generate(), data_dir))
}

/// A new random secret (64 hex digits).
pub fn generate() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sets the secret this process's calls carry.
pub fn install(secret: &str) -> Result<()> {
    let value: MetadataValue<Ascii> = secret
        .parse()
        .map_err(|_| Error::BadRequest("the cluster secret must be printable ASCII".into()))?;
    // A second install in one process (tests start several roles) must agree.
    if SECRET.get_or_init(|| value.clone()) != value {
        return Err(Error::BadRequest(
            "this process already holds another cluster secret".into(),
        ));
    }
    Ok(())
}

/// Adds the secret to every call of a client.
#[derive(Debug, Clone, Copy, Default)]
pub struct Carry;

impl tonic::service::Interceptor for Carry {
    fn call(
        &mut self,
        mut req: tonic::Request<()>,
    ) -> std::result::Result<tonic::Request<()>, tonic::Status> {
        if let Some(secret) = SECRET.get() {
            req.metadata_mut().insert(HEADER, secret.clone());
        }
        Ok(req)
    }
}

/// Refuses every call that does not carry `secret` (a node's server side).
#[derive(Clone)]
pub struct Check {
    secret: std::sync::Arc<Vec<u8>>,
}

impl Check {
    pub fn new(secret: &str) -> Self {
        Check {
            secret: std::sync::Arc::new(secret.as_bytes().to_vec()),
        }
    }
}

impl tonic::service::Interceptor for Check {
    fn call(
        &mut self,
        req: tonic::Request<()>,
    ) -> std::result::Result<tonic::Request<()>, tonic::Status> {
        let sent = req
            .metadata()
            .get(HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        let same = sent.len() == self.secret.len()
            && sent
                .iter()
                .zip(self.secret.iter())
                .fold(0u8, |d, (a, b)| d | (a ^ b))
                == 0;
        if same {
            return Ok(req);
        }
        let from = req
            .remote_addr()
            .map_or_else(|| "an unknown address".to_string(), |a| a.to_string());
        tracing::warn!(%from, "refused a call without the cluster secret");
        let refused = Error::Remote {
            code: blueshift_storage::Code::AccessDenied,
            message: "the node refused the call: it does not carry this cluster's secret".into(),
        };
        Err(refused.to_status())
    }
}

/// Writes `text` to `path`, owner-readable only, whole or not at all.
pub fn write_owner_only(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_secret_is_kept_and_a_kept_one_is_used() {
        let dir = std::env::temp_dir().join(format!("bs-secret-{}", std::process::id()));
        assert!(resolve("", &dir).is_err());
        assert_eq!(resolve("s3cret", &dir).unwrap(), "s3cret");
        assert_eq!(resolve("", &dir).unwrap(), "s3cret");
        assert_eq!(kept_or_new(&dir).unwrap(), "s3cret");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
