//! Leader errors. Each maps to a protocol-neutral [`Code`]; `server` alone turns codes into
//! SQLSTATEs.

use blueshift_storage::{Code, CodedError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    Syntax {
        message: String,
        position: Option<usize>,
    },
    #[error("relation \"{0}\" does not exist")]
    UndefinedTable(String),
    #[error("relation \"{0}\" already exists")]
    DuplicateTable(String),
    #[error("column \"{0}\" specified more than once")]
    DuplicateColumn(String),
    #[error("column \"{column}\" does not exist")]
    UndefinedColumn { column: String },
    #[error("{0}")]
    InvalidInput(String),
    #[error("snapshot \"{0}\" does not exist")]
    UndefinedSnapshot(String),
    #[error("snapshot \"{0}\" already exists")]
    DuplicateSnapshot(String),
    #[error("{0}")]
    NotSupported(String),
    #[error("{0} can only be used in transaction blocks")]
    NoActiveTransaction(&'static str),
    #[error("savepoint \"{0}\" does not exist")]
    InvalidSavepoint(String),
    #[error("\"{name}\" is {is}")]
    WrongObjectType {
        name: String,
        is: &'static str,
        hint: &'static str,
    },
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    InFailedTransaction,
    #[error("{0} cannot run inside a transaction block")]
    ActiveTransaction(&'static str),
    #[error(
        "could not serialize access due to concurrent update of table \"{0}\"; retry the transaction"
    )]
    SerializationFailure(String),
    /// A privilege the session's user lacks (42501).
    #[error("{0}")]
    PermissionDenied(String),
    /// A user or group that does not exist / already does.
    #[error("{0}")]
    UndefinedObject(String),
    #[error("{0}")]
    DuplicateObject(String),
    #[error("{0}")]
    DependentObjects(String),
    /// A schema that does not exist, or none to create in (the message says which).
    #[error("{0}")]
    UndefinedSchema(String),
    #[error("{0}")]
    DuplicateSchema(String),
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    ReservedName(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("cluster is not ready: {0}")]
    NotReady(String),
    #[error(transparent)]
    Storage(#[from] blueshift_storage::Error),
    #[error(transparent)]
    Compute(#[from] blueshift_compute::Error),
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Internal(String),
    #[error("canceling statement due to user request")]
    Cancelled,
    #[error(transparent)]
    Load(#[from] blueshift_load::Error),
    /// A COPY that rejected more rows than MAXERROR allows.
    #[error("{message}")]
    LoadFailed { message: String, hint: String },
}

impl Error {
    pub fn syntax(message: impl Into<String>) -> Self {
        Error::Syntax {
            message: message.into(),
            position: None,
        }
    }

    pub fn code(&self) -> Code {
        match self {
            Error::Syntax { .. } => Code::Syntax,
            Error::UndefinedTable(_) => Code::UndefinedTable,
            Error::DuplicateTable(_) => Code::DuplicateTable,
            Error::UndefinedColumn { .. } => Code::UndefinedColumn,
            Error::DuplicateColumn(_) => Code::DuplicateColumn,
            Error::InvalidInput(_) => Code::InvalidInput,
            Error::UndefinedSnapshot(_) => Code::UndefinedObject,
            Error::DuplicateSnapshot(_) => Code::DuplicateObject,
            Error::NotSupported(_) => Code::FeatureNotSupported,
            Error::NoActiveTransaction(_) => Code::NoActiveTransaction,
            Error::InvalidSavepoint(_) => Code::InvalidSavepoint,
            Error::InFailedTransaction => Code::InFailedTransaction,
            Error::WrongObjectType { .. } => Code::WrongObjectType,
            Error::ActiveTransaction(_) => Code::ActiveTransaction,
            Error::SerializationFailure(_) => Code::SerializationFailure,
            Error::PermissionDenied(_) => Code::AccessDenied,
            Error::UndefinedObject(_) => Code::UndefinedObject,
            Error::DuplicateObject(_) => Code::DuplicateObject,
            Error::DependentObjects(_) => Code::DependentObjects,
            Error::UndefinedSchema(_) => Code::UndefinedSchema,
            Error::DuplicateSchema(_) => Code::DuplicateSchema,
            Error::InvalidGrant(_) => Code::InvalidGrant,
            Error::ReservedName(_) => Code::ReservedName,
            Error::InvalidParameter(_) => Code::InvalidParameter,
            Error::NotReady(_) => Code::NodeUnavailable,
            Error::Storage(e) => e.code(),
            Error::Compute(e) => e.code(),
            Error::DataFusion(e) => Code::of_datafusion(e),
            Error::Arrow(e) => Code::of_arrow(e),
            Error::Io(_) => Code::Storage,
            Error::Internal(_) => Code::Internal,
            Error::Cancelled => Code::Cancelled,
            Error::Load(e) => e.code(),
            Error::LoadFailed { .. } => Code::BadCopyData,
        }
    }

    /// The text a user sees: DataFusion's wrapping removed.
    pub fn user_message(&self) -> String {
        match self {
            Error::DataFusion(e) => blueshift_storage::datafusion_message(e),
            Error::Compute(e) => e.message(),
            other => other.to_string(),
        }
    }
}

impl From<Error> for datafusion::error::DataFusionError {
    fn from(e: Error) -> Self {
        match e {
            Error::DataFusion(e) => e,
            other => CodedError::new(other.code(), other.user_message()).into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
