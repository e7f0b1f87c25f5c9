//! Load and unload errors, each naming the object (and line) it is about.

use blueshift_storage::Code;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A statement option that cannot work (bad URL, unknown region, bad combination).
    #[error("{0}")]
    InvalidOption(String),
    #[error("{url}: {detail}")]
    NotFound { url: String, detail: String },
    #[error("{url}: access denied: {reason}")]
    AccessDenied { url: String, reason: String },
    #[error("{url}: {reason}")]
    Store { url: String, reason: String },
    /// Input that cannot be read at all (bad compressed stream, malformed CSV quoting).
    #[error("{url}, line {line}: {reason}")]
    Read {
        url: String,
        line: u64,
        reason: String,
    },
    #[error("{0}")]
    Data(String),
    #[error("{0}")]
    Exists(String),
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
}

impl Error {
    pub fn store(url: &str, e: object_store::Error) -> Error {
        match e {
            object_store::Error::NotFound { .. } => Error::NotFound {
                url: url.to_string(),
                detail: "no such object".into(),
            },
            object_store::Error::PermissionDenied { source, .. }
            | object_store::Error::Unauthenticated { source, .. } => Error::AccessDenied {
                url: url.to_string(),
                reason: source.to_string(),
            },
            // Listing errors arrive as generic ones; the HTTP status still tells.
            other
                if other.to_string().contains("403 Forbidden")
                    || other.to_string().contains("401 Unauthorized") =>
            {
                Error::AccessDenied {
                    url: url.to_string(),
                    reason: other.to_string(),
                }
            }
            other => Error::Store {
                url: url.to_string(),
                reason: other.to_string(),
            },
        }
    }

    pub fn read(url: &str, line: u64, e: &dyn std::fmt::Display) -> Error {
        let reason = e.to_string();
        // A store error travelling inside an I/O error keeps its own wording.
        if let Some(inner) = reason.strip_prefix(&format!("{url}: ")) {
            return Error::Store {
                url: url.to_string(),
                reason: inner.to_string(),
            };
        }
        Error::Read {
            url: url.to_string(),
            line,
            reason: friendly_read_error(&reason),
        }
    }

    pub fn code(&self) -> Code {
        match self {
            Error::InvalidOption(_) => Code::InvalidInput,
            Error::NotFound { .. } => Code::UndefinedFile,
            Error::AccessDenied { .. } => Code::AccessDenied,
            Error::Store { .. } => Code::Storage,
            Error::Read { .. } | Error::Data(_) | Error::Arrow(_) | Error::Parquet(_) => {
                Code::BadCopyData
            }
            Error::Exists(_) => Code::DuplicateFile,
        }
    }

    /// The message with its code tag in front, so the code survives the trip to the leader.
    pub fn tagged(&self) -> String {
        format!("{}{self}", self.code().tag())
    }
}

/// Decompressors report terse errors; say which stream was bad.
fn friendly_read_error(reason: &str) -> String {
    let r = reason.to_ascii_lowercase();
    if r.contains("invalid gzip header") || r.contains("corrupt deflate stream") {
        format!("not a valid gzip stream ({reason})")
    } else if r.contains("unknown frame descriptor") || r.contains("zstd") {
        format!("not a valid zstd stream ({reason})")
    } else if r.contains("bz") || r.contains("data integrity") {
        format!("not a valid bzip2 stream ({reason})")
    } else {
        reason.to_string()
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
