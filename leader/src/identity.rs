//! What the server says it is, to drivers and tools, and the session's own user from
//! `current_user` / `session_user`.
//!
//! Clients pick their catalog queries by the PostgreSQL version they are told (psql by
//! `server_version`, SQLAlchemy by parsing `version()`), and the catalog here is
//! PostgreSQL 16's shape (datafusion-pg-catalog): told Redshift's 8.0.2, psql asks
//! `pg_class.relhasoids`, which a 16 catalog does not have. So both say 16.6, as a plain
//! version AWS's drivers can parse (pgwire's default, `16.6-pgwire-…`, is not), and
//! `version()` keeps Redshift's form otherwise, naming Redshift for tools that look for it.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use pgwire::api::ClientInfo;
use pgwire::api::auth::{DefaultServerParameterProvider, ServerParameterProvider};

/// The PostgreSQL version whose catalog the server answers like.
pub const SERVER_VERSION: &str = "16.6";
pub const SERVER_VERSION_NUM: &str = "160006";

/// `SELECT version()`.
pub fn version() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} on x86_64-pc-linux-gnu, compiled by rustc, Redshift 1.0.0 (Blueshift {})",
        env!("CARGO_PKG_VERSION")
    )
}

/// The parameters sent at connection start: pgwire's defaults with a parseable version and
/// the date style `SHOW` answers.
pub struct ServerParameters(DefaultServerParameterProvider);

impl Default for ServerParameters {
    fn default() -> Self {
        let mut p = DefaultServerParameterProvider::default();
        p.server_version = SERVER_VERSION.into();
        p.date_style = "ISO, MDY".into();
        ServerParameters(p)
    }
}

impl ServerParameterProvider for ServerParameters {
    fn server_parameters<C: ClientInfo>(&self, client: &C) -> Option<HashMap<String, String>> {
        self.0.server_parameters(client)
    }
}

/// Registers `version()`, `current_user`, `session_user` and `user` for a session of `user`.
pub fn register(ctx: &SessionContext, user: &str) {
    let text = |name: &str, value: String, volatility| {
        create_udf(
            name,
            vec![],
            DataType::Utf8,
            volatility,
            Arc::new(move |_: &[ColumnarValue]| {
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                    value.clone(),
                ))))
            }),
        )
    };
    ctx.register_udf(text("version", version(), Volatility::Immutable));
    for name in ["current_user", "session_user", "user"] {
        ctx.register_udf(text(name, user.to_string(), Volatility::Stable));
    }
}
