//! SET and SHOW of session settings.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::sql::sqlparser::ast;

use super::*;

impl Engine {
    pub(crate) fn set(&self, session: &Session, set: ast::Set) -> Output {
        let mut settings = session.settings.lock().expect("settings");
        match set {
            ast::Set::SingleAssignment {
                variable, values, ..
            } => {
                let value = values
                    .iter()
                    .map(|v| v.to_string().trim_matches('\'').to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                settings.insert(variable.to_string().to_lowercase(), value);
            }
            ast::Set::SetTimeZone { value, .. } => {
                settings.insert(
                    "timezone".into(),
                    value.to_string().trim_matches('\'').to_string(),
                );
            }
            _ => {}
        }
        Output::Command {
            tag: "SET".into(),
            rows: None,
        }
    }
    pub(crate) fn show(&self, session: &Session, variable: &[ast::Ident]) -> Output {
        let name = variable
            .iter()
            .map(|v| v.value.to_lowercase())
            .collect::<Vec<_>>()
            .join(" ");
        let value = setting(&session.settings, &name);
        let schema = Arc::new(Schema::new(vec![Field::new(
            name.replace(' ', "_"),
            DataType::Utf8,
            true,
        )]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(StringArray::from(vec![value])) as ArrayRef],
        )
        .expect("one column");
        Output::Rows {
            schema,
            batches: vec![batch],
        }
    }
}

/// A setting's value in a session: what SET gave it, else the server's default (`SHOW`
/// and `current_setting` answer the same).
pub(crate) fn setting(
    settings: &std::sync::Mutex<std::collections::BTreeMap<String, String>>,
    name: &str,
) -> String {
    if let Some(v) = settings.lock().expect("settings").get(name) {
        return v.clone();
    }
    match name {
        "server_version" => crate::identity::SERVER_VERSION.into(),
        "server_version_num" => crate::identity::SERVER_VERSION_NUM.into(),
        "search_path" => "$user, public".into(),
        "timezone" | "time zone" => "UTC".into(),
        "datestyle" => "ISO, MDY".into(),
        "client_encoding" | "server_encoding" => "UTF8".into(),
        "transaction isolation level" | "transaction_isolation" => "serializable".into(),
        "standard_conforming_strings" => "on".into(),
        "integer_datetimes" => "on".into(),
        "max_identifier_length" => "127".into(),
        "default_table_access_method" => "heap".into(),
        "enable_hashjoin" => "on".into(),
        _ => String::new(),
    }
}
