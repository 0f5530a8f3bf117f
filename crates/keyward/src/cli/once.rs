//! Printing a secret the one time it exists: a new key, a service account's key, an
//! invitation's code, the first token of a person who accepted an invitation.
//!
//! On a terminal: the details and the secret on stdout. When stdout is not a terminal:
//! only the secret on stdout (one line), the details on stderr, so `$(…)` captures just
//! the secret. With `--json`: the whole object, secret included. The "it will not be
//! shown again" notice always goes to stderr.

use super::output::{self, Color, Style};
use keyward_client::{ApiKey, InvitationCode};
use std::io::{IsTerminal, Write};

/// A secret the SDK keeps wrapped (so it is not printed by accident); only [`print`]
/// unwraps it.
pub trait Secret {
    fn expose_secret(&self) -> &str;
}

impl Secret for ApiKey {
    fn expose_secret(&self) -> &str {
        ApiKey::expose_secret(self)
    }
}

impl Secret for InvitationCode {
    fn expose_secret(&self) -> &str {
        InvitationCode::expose_secret(self)
    }
}

pub const NOTICE: &str = "Copy the key now: it will not be shown again.";

pub struct Shown<'a> {
    /// "Created personal access token "ci" (key_…)".
    pub heading: String,
    pub fields: Vec<(&'a str, String)>,
    /// Lines after the fields, e.g. what happened to a rotated key.
    pub after: Vec<String>,
    /// Print the secret as `LABEL: secret` instead of on a line of its own.
    pub key_label: Option<&'a str>,
    pub notice: &'a str,
    /// The `--json` output, secret included.
    pub json: serde_json::Value,
}

pub fn print(json_mode: bool, key: &dyn Secret, shown: Shown<'_>) {
    let err_style = Style::stderr();
    if json_mode {
        output::print_json(&shown.json);
    } else if std::io::stdout().is_terminal() {
        let style = Style::stdout();
        println!("{} {}", style.paint(Color::Green, "✓"), shown.heading);
        let mut fields = shown.fields;
        if let Some(label) = shown.key_label {
            fields.push((label, style.paint(Color::Bold, key.expose_secret())));
            print!("{}", output::fields(style, &fields));
            for line in &shown.after {
                println!("{line}");
            }
        } else {
            print!("{}", output::fields(style, &fields));
            for line in &shown.after {
                println!("{line}");
            }
            println!("\n    {}\n", style.paint(Color::Bold, key.expose_secret()));
        }
        let _ = std::io::stdout().flush();
    } else {
        println!("{}", key.expose_secret());
        let details: Vec<String> = shown
            .fields
            .iter()
            .map(|(k, v)| format!("{}: {v}", k.to_lowercase()))
            .collect();
        if details.is_empty() {
            eprintln!("{}.", shown.heading);
        } else {
            eprintln!("{}; {}.", shown.heading, details.join("; "));
        }
        for line in &shown.after {
            eprintln!("{line}");
        }
    }
    eprintln!("{}", err_style.paint(Color::Yellow, shown.notice));
}
