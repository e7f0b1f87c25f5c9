//! Storage errors: what happened, with the table, slice and block involved.

use crate::code::{Code, CodedError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("block {block} of slice {slice} is missing or unreadable: {reason}")]
    BadBlock {
        slice: u32,
        block: String,
        reason: String,
    },
    #[error("corrupt commit log {path}: {reason}")]
    CorruptLog { path: String, reason: String },
    #[error("parquet error: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("serialization error: {0}")]
    Json(#[from] serde_json::Error),
    #[error("value too long for type character varying({limit}) in column \"{column}\"")]
    ValueTooLong { column: String, limit: u32 },
    #[error("null value in column \"{column}\" violates not-null constraint")]
    NotNull { column: String },
    #[error("{0}")]
    Invalid(String),
    /// An object (or prefix) that does not exist.
    #[error("{url}: {detail}")]
    ObjectNotFound { url: String, detail: String },
    /// The object store refused the credentials.
    #[error("{url}: access denied: {reason}")]
    AccessDenied { url: String, reason: String },
    /// An object whose bytes do not match the checksum recorded for it.
    #[error("{url}: corrupted object: {reason}")]
    CorruptObject { url: String, reason: String },
    /// Any other object-store failure.
    #[error("{url}: {reason}")]
    ObjectStore { url: String, reason: String },
}

impl Error {
    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_string(),
            source,
        }
    }

    /// An object-store error about `url`, by its kind.
    pub fn object_store(url: &str, e: object_store::Error) -> Self {
        let url = url.to_string();
        match e {
            object_store::Error::NotFound { .. } => Error::ObjectNotFound {
                url,
                detail: "no such object".into(),
            },
            object_store::Error::PermissionDenied { source, .. }
            | object_store::Error::Unauthenticated { source, .. } => Error::AccessDenied {
                url,
                reason: source.to_string(),
            },
            other => Error::ObjectStore {
                url,
                reason: other.to_string(),
            },
        }
    }

    /// The protocol-neutral code of this error.
    pub fn code(&self) -> Code {
        match self {
            Error::ValueTooLong { .. } => Code::StringTooLong,
            Error::NotNull { .. } => Code::NotNull,
            Error::DataFusion(e) => Code::of_datafusion(e),
            Error::Arrow(e) => Code::of_arrow(e),
            Error::Invalid(_) => Code::InvalidInput,
            Error::ObjectNotFound { .. } => Code::UndefinedFile,
            Error::AccessDenied { .. } => Code::AccessDenied,
            Error::ObjectStore { .. } | Error::CorruptObject { .. } => Code::Storage,
            Error::Io { .. } | Error::BadBlock { .. } | Error::CorruptLog { .. } => Code::Storage,
            _ => Code::Internal,
        }
    }
}

impl From<Error> for datafusion::error::DataFusionError {
    fn from(e: Error) -> Self {
        match e {
            Error::DataFusion(e) => e,
            other => CodedError::new(other.code(), other.to_string()).into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
