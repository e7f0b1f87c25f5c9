//! Load and unload errors, each naming the object (and line) it is about.

use blueshift_storage::Code;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A statement option that cannot work (bad URL, unknown region, bad combination).
    #[error("{0}")]
    InvalidOption(String),
    /// Object-store errors (missing object, refused credentials, unreachable store) and
    /// bad URLs, as the shared object-store layer reports them.
    #[error(transparent)]
    Storage(#[from] blueshift_storage::Error),
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
        Error::Storage(blueshift_storage::Error::object_store(url, e))
    }

    /// An error met while reading `url` through `compression` (its name; `None` if plain). A store error that travelled
    /// inside the byte stream (as an I/O error's payload) keeps its own kind; any other I/O
    /// error under a decompressor means the compressed stream itself is bad.
    pub fn read(
        url: &str,
        line: u64,
        e: &(dyn std::error::Error + 'static),
        compression: Option<&str>,
    ) -> Error {
        let io = io_error_of(e);
        if let Some(store) = io
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<Error>())
        {
            return store.duplicate();
        }
        let reason = e.to_string();
        let reason = match (io, compression) {
            (Some(_), Some(name)) => format!("not a valid {name} stream ({reason})"),
            _ => reason,
        };
        Error::Read {
            url: url.to_string(),
            line,
            reason,
        }
    }

    /// The same error again (for one carried inside another error by reference).
    fn duplicate(&self) -> Error {
        use blueshift_storage::Error as S;
        match self {
            Error::Storage(S::ObjectNotFound { url, detail }) => {
                Error::Storage(S::ObjectNotFound {
                    url: url.clone(),
                    detail: detail.clone(),
                })
            }
            Error::Storage(S::AccessDenied { url, reason }) => Error::Storage(S::AccessDenied {
                url: url.clone(),
                reason: reason.clone(),
            }),
            Error::Storage(S::ObjectStore { url, reason }) => Error::Storage(S::ObjectStore {
                url: url.clone(),
                reason: reason.clone(),
            }),
            Error::Read { url, line, reason } => Error::Read {
                url: url.clone(),
                line: *line,
                reason: reason.clone(),
            },
            other => Error::Data(other.to_string()),
        }
    }

    pub fn code(&self) -> Code {
        match self {
            Error::InvalidOption(_) => Code::InvalidInput,
            Error::Storage(e) => e.code(),
            Error::Read { .. } | Error::Data(_) | Error::Arrow(_) | Error::Parquet(_) => {
                Code::BadCopyData
            }
            Error::Exists(_) => Code::DuplicateFile,
        }
    }
}

/// The I/O error an error is, or wraps (the CSV reader wraps the I/O errors of its input).
fn io_error_of<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        return Some(io);
    }
    match e.downcast_ref::<csv::Error>().map(csv::Error::kind) {
        Some(csv::ErrorKind::Io(io)) => Some(io),
        _ => None,
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
