//! An event turned into what a Python `LogRecord` needs, on the thread that emitted it and
//! without Python: the emitter thread builds the record later.

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::SystemTime;
use tracing::field::{Field, Visit};
use tracing::Event;

/// A structured field, kept typed so handlers see ints as ints (`record.owed`).
pub enum FieldValue {
    Text(String),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Text(text) => f.write_str(text),
            FieldValue::Int(n) => write!(f, "{n}"),
            FieldValue::UInt(n) => write!(f, "{n}"),
            FieldValue::Float(x) => write!(f, "{x}"),
            FieldValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

pub struct Record {
    pub logger: Arc<str>,
    /// Python's level number.
    pub level: u8,
    /// The event's message followed by its fields: `marked down (server=a:11211, error=...)`.
    pub message: String,
    pub fields: Vec<(&'static str, FieldValue)>,
    pub file: Option<&'static str>,
    pub line: Option<u32>,
    pub module: Option<&'static str>,
    pub created: SystemTime,
    /// The emitting thread's name (`memlease-io` for tokio workers), when it has one.
    pub thread: Option<String>,
}

impl Record {
    pub fn capture(event: &Event<'_>, logger: Arc<str>, level: u8) -> Self {
        let metadata = event.metadata();
        let mut visitor = Fields::default();
        event.record(&mut visitor);
        let mut message = visitor.message;
        if !visitor.fields.is_empty() {
            message.push_str(" (");
            for (i, (name, value)) in visitor.fields.iter().enumerate() {
                let separator = if i == 0 { "" } else { ", " };
                let _ = write!(message, "{separator}{name}={value}");
            }
            message.push(')');
        }
        Record {
            logger,
            level,
            message,
            fields: visitor.fields,
            file: metadata.file(),
            line: metadata.line(),
            module: metadata.module_path(),
            created: SystemTime::now(),
            thread: std::thread::current().name().map(str::to_owned),
        }
    }

    /// Seconds since the epoch, as `LogRecord.created`.
    pub fn created_seconds(&self) -> f64 {
        self.created
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    fields: Vec<(&'static str, FieldValue)>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: FieldValue) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.fields.push((field.name(), value));
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, FieldValue::Text(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, FieldValue::Text(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, FieldValue::Int(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, FieldValue::UInt(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, FieldValue::Float(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, FieldValue::Bool(value));
    }
}
