//! The daemon's log, on stderr: a line for people, or with `--json` one JSON object a
//! line (`{"ts", "level", "event", …}`) for log collectors. Never the key: only its
//! visible prefix is ever passed here.

use crate::cli::output::{Color, Style};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Log {
    json: bool,
}

impl Log {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    pub fn info(&self, event: &str, text: &str, fields: Value) {
        self.emit(Level::Info, event, text, fields);
    }

    pub fn warn(&self, event: &str, text: &str, fields: Value) {
        self.emit(Level::Warn, event, text, fields);
    }

    pub fn error(&self, event: &str, text: &str, fields: Value) {
        self.emit(Level::Error, event, text, fields);
    }

    fn emit(&self, level: Level, event: &str, text: &str, fields: Value) {
        eprintln!("{}", self.line(level, event, text, fields));
    }

    /// The line `emit` prints.
    pub fn line(&self, level: Level, event: &str, text: &str, fields: Value) -> String {
        if self.json {
            return json_line(level, event, fields).to_string();
        }
        let style = Style::stderr();
        let time = chrono::Local::now().format("%H:%M:%S").to_string();
        let prefix = match level {
            Level::Info => String::new(),
            Level::Warn => format!("{} ", style.paint(Color::Yellow, "warning:")),
            Level::Error => format!("{} ", style.paint(Color::Red, "error:")),
        };
        format!("{} {prefix}{text}", style.paint(Color::Dim, &time))
    }
}

fn json_line(level: Level, event: &str, fields: Value) -> Value {
    let mut out = Map::new();
    out.insert(
        "ts".into(),
        Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    );
    out.insert("level".into(), Value::String(level.as_str().into()));
    out.insert("event".into(), Value::String(event.into()));
    if let Value::Object(fields) = fields {
        out.extend(fields);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_lines_carry_the_event_and_its_fields() {
        let line = Log::new(true).line(
            Level::Info,
            "forwarded",
            "forwarded msg_1 → 200 in 3 ms",
            json!({"event_id": "msg_1", "status": 200, "ms": 3}),
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"], "forwarded");
        assert_eq!(v["level"], "info");
        assert_eq!(v["status"], 200);
        assert!(v["ts"].as_str().unwrap().ends_with('Z'));
        let text = Log::new(false).line(Level::Warn, "x", "connection lost", json!({}));
        assert!(text.ends_with("warning: connection lost"), "{text}");
    }
}
