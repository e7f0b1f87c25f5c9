//! URLs to object stores: `s3://bucket/key` through object_store's S3 client (configured by
//! `[regions.<name>]` or the usual AWS environment variables), and `file:///abs/path` or a
//! plain absolute path on this process's own disk. COPY reads and UNLOAD writes through
//! here, and so will snapshots: it sits below all of them.
//!
//! The leader and every compute node resolve a URL with the same [`StoreConfig`] and the
//! same per-statement [`Access`], so a COPY's listing (leader) and reading (nodes) agree.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One `[regions.<name>]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegionConfig {
    /// The S3 endpoint, e.g. `http://127.0.0.1:9000`; empty means AWS's own.
    pub endpoint: String,
    /// The AWS region name sent in signatures (defaults to the section name).
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Allow plain HTTP (loopback test servers).
    pub allow_http: bool,
}

/// Object-store settings every process reads from its configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreConfig {
    pub regions: BTreeMap<String, RegionConfig>,
    /// The region used when a statement names none; without it, the AWS environment
    /// variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...) decide.
    pub default_region: Option<String>,
}

/// What a statement says about access: `REGION`, and credentials from `ACCESS_KEY_ID` /
/// `SECRET_ACCESS_KEY` / `SESSION_TOKEN` or `CREDENTIALS '...'`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Access {
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

/// A parsed source or target URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Url {
    S3 { bucket: String, key: String },
    Local { path: String },
}

impl Url {
    pub fn parse(text: &str) -> Result<Url> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::Invalid(format!("S3 URL {text:?} names no bucket")));
            }
            return Ok(Url::S3 {
                bucket: bucket.to_string(),
                key: key.to_string(),
            });
        }
        let path = text.strip_prefix("file://").unwrap_or(text);
        if !path.starts_with('/') {
            return Err(Error::Invalid(format!(
                "{text:?} is neither an s3:// URL nor an absolute path"
            )));
        }
        Ok(Url::Local {
            path: path.to_string(),
        })
    }

    /// The key (S3) or path (local) without its leading slash, as an object_store path
    /// string; may end in a partial name (a prefix).
    fn key(&self) -> &str {
        match self {
            Url::S3 { key, .. } => key,
            Url::Local { path } => path.trim_start_matches('/'),
        }
    }

    /// The URL of an object of the same store.
    pub fn object_url(&self, location: &Path) -> String {
        match self {
            Url::S3 { bucket, .. } => format!("s3://{bucket}/{location}"),
            Url::Local { .. } => format!("/{location}"),
        }
    }
}

/// Resolves URLs to object stores, keeping one client per bucket and access.
#[derive(Debug, Default)]
pub struct Stores {
    config: StoreConfig,
    cache: Mutex<HashMap<(String, Access), Arc<dyn ObjectStore>>>,
}

/// An object store and the path of one object (or prefix) in it.
#[derive(Debug, Clone)]
pub struct Located {
    pub url: Url,
    pub store: Arc<dyn ObjectStore>,
    pub path: Path,
}

impl Stores {
    pub fn new(config: StoreConfig) -> Self {
        Stores {
            config,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The store and path for a URL.
    pub fn locate(&self, url: &str, access: &Access) -> Result<Located> {
        let parsed = Url::parse(url)?;
        let store = self.store_for(&parsed, access)?;
        let path = Path::parse(parsed.key().trim_end_matches('/'))
            .map_err(|e| Error::Invalid(format!("bad path in {url:?}: {e}")))?;
        Ok(Located {
            url: parsed,
            store,
            path,
        })
    }

    fn store_for(&self, url: &Url, access: &Access) -> Result<Arc<dyn ObjectStore>> {
        let bucket = match url {
            Url::Local { .. } => return Ok(Arc::new(LocalFileSystem::new())),
            Url::S3 { bucket, .. } => bucket.clone(),
        };
        let key = (bucket.clone(), access.clone());
        if let Some(s) = self.cache.lock().expect("store cache").get(&key) {
            return Ok(Arc::clone(s));
        }
        let region_name = access
            .region
            .clone()
            .or_else(|| self.config.default_region.clone());
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&bucket);
        if let Some(name) = region_name {
            let region = self.config.regions.get(&name).ok_or_else(|| {
                Error::Invalid(format!(
                    "region {name:?} is not configured (add a [regions.{name}] section)"
                ))
            })?;
            if !region.endpoint.is_empty() {
                builder = builder.with_endpoint(&region.endpoint);
            }
            builder = builder.with_region(if region.region.is_empty() {
                &name
            } else {
                &region.region
            });
            if !region.access_key_id.is_empty() {
                builder = builder
                    .with_access_key_id(&region.access_key_id)
                    .with_secret_access_key(&region.secret_access_key);
            }
            builder = builder.with_allow_http(region.allow_http);
        }
        if let (Some(id), Some(secret)) = (&access.access_key_id, &access.secret_access_key) {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret);
            if let Some(token) = &access.session_token {
                builder = builder.with_token(token);
            }
        }
        let store: Arc<dyn ObjectStore> = Arc::new(
            builder
                .build()
                .map_err(|e| Error::Invalid(format!("cannot reach s3://{bucket}: {e}")))?,
        );
        self.cache
            .lock()
            .expect("store cache")
            .insert(key, Arc::clone(&store));
        Ok(store)
    }
}

impl Located {
    /// Every object whose key starts with this prefix (Redshift's rule: `data/part` matches
    /// `data/part-0001` and `data/part/x`), sorted by key.
    pub async fn list_prefix(&self) -> Result<Vec<ObjectMeta>> {
        let key = self.url.key();
        let parent = match key.rfind('/') {
            Some(i) => Some(Path::from(&key[..i])),
            None if key.is_empty() => None,
            None => None,
        };
        let wanted = key.trim_end_matches('/');
        let listed: std::result::Result<Vec<ObjectMeta>, object_store::Error> = self
            .store
            .list(parent.as_ref())
            .try_filter(|m| {
                futures::future::ready(
                    m.location.as_ref().starts_with(wanted) && !m.location.as_ref().ends_with('/'),
                )
            })
            .try_collect()
            .await
            .or_else(|e| match e {
                // A local prefix whose folder does not exist lists nothing.
                object_store::Error::NotFound { .. } => Ok(vec![]),
                other => Err(other),
            });
        let mut out = match listed {
            Ok(out) => out,
            Err(e) => return Err(self.classify(e).await),
        };
        out.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(out)
    }

    /// The error of a failed call on this location. A refused listing arrives as a generic
    /// error (the S3 client keeps its HTTP status private), while a refused HEAD arrives
    /// classified: a HEAD of the same path tells which it was.
    pub async fn classify(&self, e: object_store::Error) -> Error {
        let url = self.url.object_url(&self.path);
        if let object_store::Error::Generic { .. } = e
            && let Err(
                probe @ (object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }),
            ) = self.store.head(&self.path).await
        {
            return Error::object_store(&url, probe);
        }
        Error::object_store(&url, e)
    }

    pub fn url_of(&self, location: &Path) -> String {
        self.url.object_url(location)
    }

    /// The key (or local path without its leading slash) as written, trailing slash kept.
    pub fn key_prefix(&self) -> &str {
        self.url.key()
    }

    /// The URL of a key in the same bucket (or disk).
    pub fn url_for_key(&self, key: &str) -> String {
        match &self.url {
            Url::S3 { bucket, .. } => format!("s3://{bucket}/{key}"),
            Url::Local { .. } => format!("/{key}"),
        }
    }
}
