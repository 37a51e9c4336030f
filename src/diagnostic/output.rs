//! Findings as machines read them: one JSON object a line (`--format json`) and GitHub
//! Actions workflow commands (`--format github`).

use crate::diagnostic::{Finding, Level};

pub(super) fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

pub(super) fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

impl Finding {
    pub(super) fn severity(&self) -> &'static str {
        match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        }
    }

    /// `{"file", "line", "column", "pointer", "severity", "message", "help"}`, plus the data
    /// file's `row` and `column_name` for findings about a data row.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let (line, column) = match (self.position(), &self.row) {
            (Some((line, column)), _) => (Some(line as u64), Some(column as u64)),
            (None, Some(row)) => (Some(row.row), None),
            (None, None) => (None, None),
        };
        let mut json = serde_json::json!({
            "file": self.file(),
            "line": line,
            "column": column,
            "pointer": self.pointer,
            "severity": self.severity(),
            "message": self.headline(),
            "help": self.help,
            "data_file": self.row.as_ref().map(|row| &row.file),
            "row": self.row.as_ref().map(|row| row.row),
            "column_name": self.column,
        });
        if !self.related.is_empty() {
            json["related"] = self
                .related
                .iter()
                .map(|related| {
                    serde_json::json!({
                        "file": related.source.name,
                        "line": related.span.line,
                        "column": related.span.column,
                        "message": related.message,
                    })
                })
                .collect();
        }
        json
    }

    /// `::error file=…,line=…,col=…,title=…::message`, escaped as GitHub requires.
    pub(crate) fn to_github(&self) -> String {
        let mut properties = Vec::new();
        if let Some(file) = self.file() {
            properties.push(format!("file={}", escape_property(file)));
        }
        match (self.position(), &self.row) {
            (Some((line, column)), _) => {
                properties.push(format!("line={line}"));
                properties.push(format!("col={column}"));
            }
            (None, Some(row)) => properties.push(format!("line={}", row.row)),
            (None, None) => {}
        }
        properties.push("title=flowc".to_owned());
        let mut message = self.headline();
        if let Some(pointer) = &self.pointer {
            message.push_str(&format!(" (at {pointer})"));
        }
        if let Some(help) = &self.help {
            message.push_str(&format!("\nhelp: {help}"));
        }
        for related in &self.related {
            message.push_str(&format!(
                "\nsee {}:{}:{}: {}",
                related.source.name, related.span.line, related.span.column, related.message
            ));
        }
        format!(
            "::{} {}::{}",
            self.severity(),
            properties.join(","),
            escape_data(&message)
        )
    }
}
