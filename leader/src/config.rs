//! Configuration: one TOML file (`blueshift.toml`) with a section per role; each key can be
//! overridden by the environment variable `BLUESHIFT_<SECTION>_<KEY>`, and then by the
//! subcommand's flags. Every key has a default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub leader: LeaderConfig,
    pub compute: ComputeConfig,
    pub storage: StorageConfig,
    /// `[regions.<name>]`: S3-compatible endpoints and keys that COPY/UNLOAD `REGION 'name'`
    /// (or `storage.default_region`) selects.
    pub regions: std::collections::BTreeMap<String, blueshift_load::RegionConfig>,
}

impl Config {
    /// How `s3://` URLs resolve; the same on the leader and every compute node.
    pub fn store_config(&self) -> blueshift_load::StoreConfig {
        blueshift_load::StoreConfig {
            regions: self.regions.clone(),
            default_region: Some(self.storage.default_region.clone()).filter(|r| !r.is_empty()),
        }
    }
}

/// The leader role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LeaderConfig {
    /// Address the PostgreSQL wire protocol listens on.
    pub host: String,
    /// PostgreSQL wire protocol port (Redshift's default is 5439).
    pub port: u16,
    /// Compute node addresses, node 0 first.
    pub compute: Vec<String>,
    /// Seconds before an unresponsive compute node fails a query.
    pub node_timeout_secs: u64,
    /// DISTSTYLE AUTO tables are stored like ALL until they hold more rows than this.
    pub auto_all_max_rows: u64,
    /// How many finished queries `stl_query` keeps.
    pub query_log_size: usize,
    /// COPY splits uncompressed CSV/text files and Parquet files larger than this (MiB)
    /// into byte ranges / row-group sets, so one big file loads on every slice.
    pub copy_split_mb: u64,
    /// Milliseconds between progress NOTICEs of a running COPY.
    pub copy_progress_ms: u64,
}

/// The compute role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ComputeConfig {
    pub listen: String,
    pub node: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    pub slices_per_node: u32,
    /// The `[regions.<name>]` used when COPY/UNLOAD names no REGION; empty means the AWS
    /// environment variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...).
    pub default_region: String,
}

impl Default for LeaderConfig {
    fn default() -> Self {
        LeaderConfig {
            host: "127.0.0.1".into(),
            port: 5439,
            compute: vec![],
            node_timeout_secs: 30,
            auto_all_max_rows: 1_000_000,
            query_log_size: 10_000,
            copy_split_mb: 64,
            copy_progress_ms: 3000,
        }
    }
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig {
            listen: "127.0.0.1:7100".into(),
            node: 0,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./blueshift-data"),
            slices_per_node: 2,
            default_region: String::new(),
        }
    }
}

impl Config {
    /// Defaults, then the TOML file (if given), then `BLUESHIFT_*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Config> {
        let mut value = toml::Value::try_from(Config::default())
            .map_err(|e| Error::InvalidInput(format!("config: {e}")))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::InvalidInput(format!("cannot read config {}: {e}", path.display()))
            })?;
            let file_value: toml::Value = toml::from_str(&text)
                .map_err(|e| Error::InvalidInput(format!("config {}: {e}", path.display())))?;
            merge(&mut value, file_value);
        }
        apply_env(&mut value)?;
        value
            .try_into()
            .map_err(|e| Error::InvalidInput(format!("config: {e}")))
    }
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn apply_env(value: &mut toml::Value) -> Result<()> {
    let toml::Value::Table(sections) = value else {
        return Ok(());
    };
    for (section, keys) in sections.iter_mut() {
        let toml::Value::Table(keys) = keys else {
            continue;
        };
        for (key, current) in keys.iter_mut() {
            let var = format!(
                "BLUESHIFT_{}_{}",
                section.to_uppercase(),
                key.to_uppercase()
            );
            let Ok(raw) = std::env::var(&var) else {
                continue;
            };
            *current = match current {
                toml::Value::String(_) => toml::Value::String(raw),
                toml::Value::Array(_) => toml::Value::Array(
                    raw.split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| toml::Value::String(s.trim().to_string()))
                        .collect(),
                ),
                _ => toml::from_str::<toml::Table>(&format!("v = {raw}"))
                    .ok()
                    .and_then(|mut t| t.remove("v"))
                    .ok_or_else(|| Error::InvalidInput(format!("{var}: cannot read {raw:?}")))?,
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_override_defaults() {
        let dir = std::env::temp_dir().join(format!("bs-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("blueshift.toml");
        std::fs::write(
            &file,
            "[leader]\nport = 6543\ncompute = [\"a:1\", \"b:2\"]\n[storage]\nslices_per_node = 3\n",
        )
        .unwrap();
        let c = Config::load(Some(&file)).unwrap();
        assert_eq!(c.leader.port, 6543);
        assert_eq!(c.leader.compute, vec!["a:1", "b:2"]);
        assert_eq!(c.storage.slices_per_node, 3);
        assert_eq!(c.leader.node_timeout_secs, 30);
        std::fs::write(&file, "[leader]\nport = \"not a number\"\n").unwrap();
        assert!(Config::load(Some(&file)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
