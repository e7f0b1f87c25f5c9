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
    /// An error pointing at a character of the query (1-based), as PostgreSQL's
    /// "relation … does not exist" does.
    #[error("{inner}")]
    At { inner: Box<Error>, position: usize },
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
            Error::At { inner, .. } => inner.code(),
        }
    }

    /// The text a user sees: DataFusion's wrapping removed.
    pub fn user_message(&self) -> String {
        match self {
            Error::DataFusion(e) => blueshift_storage::datafusion_message(e),
            Error::Compute(e) => e.message(),
            Error::At { inner, .. } => inner.user_message(),
            other => other.to_string(),
        }
    }
}

impl Error {
    /// The error with the position of the name it is about, for an undefined relation or
    /// column whose name appears in `sql` as an identifier (`offset`: where `sql` starts in
    /// the client's query, in characters).
    pub fn located(self, sql: &str, offset: usize) -> Error {
        if !matches!(self.code(), Code::UndefinedTable | Code::UndefinedColumn) {
            return self;
        }
        let message = self.user_message();
        let Some(name) = message.split('"').nth(1).filter(|n| !n.is_empty()) else {
            return self;
        };
        // The name as written: its last part (`s.t` is found as `t`), unquoted or quoted.
        let name = name.rsplit('.').next().unwrap_or(name).to_lowercase();
        let lower = sql.to_lowercase();
        let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
        let found = lower.match_indices(&name).find(|(i, _)| {
            let before = lower[..*i].chars().next_back();
            let after = lower[i + name.len()..].chars().next();
            !before.is_some_and(ident) && !after.is_some_and(ident)
        });
        match found {
            Some((i, _)) if lower.len() == sql.len() => Error::At {
                position: offset + sql[..i].chars().count() + 1,
                inner: Box::new(self),
            },
            _ => self,
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
