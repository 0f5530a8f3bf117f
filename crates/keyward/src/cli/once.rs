//! Printing a secret the one time it exists: a new key, a service account's key, an
//! invitation's code, the first token of a person who accepted an invitation, a webhook
//! endpoint's signing secret.
//!
//! On a terminal: the details and the secret on stdout. When stdout is not a terminal:
//! only the secret on stdout (one line), the details on stderr, so `$(…)` captures just
//! the secret. With `--json`: the whole object, secret included. The "it will not be
//! shown again" notice always goes to stderr.

use super::failure::CmdResult;
use super::output::{self, Color, Style};
use super::text::{quota_text, ratelimit_text, scope_text};
use chrono::Utc;
use keyward_client::{ApiKey, InvitationCode, KeyView, OneTimeLink, ProviderToken, Scope};
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

impl Secret for OneTimeLink {
    fn expose_secret(&self) -> &str {
        OneTimeLink::expose_secret(self)
    }
}

impl Secret for ProviderToken {
    fn expose_secret(&self) -> &str {
        ProviderToken::expose_secret(self)
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
    /// The same secret in another form (an invitation's link), with the line that
    /// introduces it: shown beside the secret on a terminal only (piped, stdout stays
    /// the one secret; `--json` carries both).
    pub also: Option<(&'a str, &'a dyn Secret)>,
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
        if let Some((intro, other)) = shown.also {
            println!(
                "{intro}\n\n    {}\n",
                style.paint(Color::Bold, other.expose_secret())
            );
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

/// Prints a new key once: details and key on a terminal, only the key when piped,
/// everything with `--json`; the notice on stderr.
pub fn new_key(
    json_mode: bool,
    key: &ApiKey,
    details: &KeyView,
    what: &str,
    previous: Option<&KeyView>,
) -> CmdResult {
    let now = Utc::now();
    let expires = details
        .expires_at
        .map(|at| output::both(at, now))
        .unwrap_or_else(|| "never".to_owned());
    let previous_line = previous.map(|p| match (p.revoked_at, p.expires_at) {
        (Some(_), _) => format!("The old key {}… was revoked.", p.prefix),
        (None, Some(at)) => format!(
            "The old key {}… keeps working until {} ({}).",
            p.prefix,
            output::absolute(at),
            output::relative(at, now)
        ),
        (None, None) => format!("The old key {}… still works.", p.prefix),
    });
    let mut json = serde_json::to_value(details).map_err(anyhow::Error::from)?;
    json["key"] = serde_json::json!(key.expose_secret());
    if let Some(p) = previous {
        json["previous"] = serde_json::to_value(p).map_err(anyhow::Error::from)?;
    }
    let mut fields = vec![("Permissions", output::permissions(&details.permissions))];
    if details.scope != Scope::Organization {
        fields.push(("Scope", scope_text(&details.scope)));
    }
    if let Some(r) = &details.ratelimit {
        fields.push(("Rate limit", ratelimit_text(r)));
    }
    if let Some(q) = &details.quota {
        fields.push(("Quota", quota_text(q)));
    }
    fields.push(("Expires", expires));
    print(
        json_mode,
        key,
        Shown {
            heading: what.to_owned(),
            fields,
            after: previous_line.into_iter().collect(),
            key_label: None,
            notice: NOTICE,
            json,
            also: None,
        },
    );
    Ok(())
}
