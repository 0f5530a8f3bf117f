//! How the CLI talks to people: colours only on a terminal (and never with `NO_COLOR`),
//! aligned tables, relative times. Scripts use `--json` instead.

use chrono::{DateTime, Utc};
use std::io::IsTerminal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    Red,
    Green,
    Yellow,
    Cyan,
    Dim,
    Bold,
}

impl Color {
    fn code(self) -> &'static str {
        match self {
            Color::Red => "31",
            Color::Green => "32",
            Color::Yellow => "33",
            Color::Cyan => "36",
            Color::Dim => "2",
            Color::Bold => "1",
        }
    }
}

/// Whether one stream gets colours.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

fn colors_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

impl Style {
    pub fn stdout() -> Self {
        Self {
            color: std::io::stdout().is_terminal() && colors_allowed(),
        }
    }

    pub fn stderr() -> Self {
        Self {
            color: std::io::stderr().is_terminal() && colors_allowed(),
        }
    }

    pub fn paint(&self, color: Color, text: &str) -> String {
        if self.color && !text.is_empty() {
            format!("\x1b[{}m{text}\x1b[0m", color.code())
        } else {
            text.to_owned()
        }
    }
}

/// Prints `warning: …` on stderr.
pub fn warn(message: &str) {
    let style = Style::stderr();
    eprintln!("{} {message}", style.paint(Color::Yellow, "warning:"));
}

/// Prints a note on stderr (messages around the data, never the data).
pub fn note(message: &str) {
    eprintln!("{message}");
}

/// A table cell: its text and an optional colour.
pub struct Cell {
    text: String,
    color: Option<Color>,
}

impl Cell {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            color: None,
        }
    }

    pub fn colored(text: impl Into<String>, color: Color) -> Self {
        Self {
            text: text.into(),
            color: Some(color),
        }
    }
}

/// Aligned columns; widths count characters, colours do not shift them.
pub fn table(style: Style, headers: &[&str], rows: &[Vec<Cell>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.text.chars().count());
        }
    }
    let mut out = String::new();
    let last = headers.len() - 1;
    let line = |out: &mut String, cells: Vec<(String, Option<Color>)>| {
        for (i, (text, color)) in cells.into_iter().enumerate() {
            let pad = if i == last {
                0
            } else {
                widths[i] - text.chars().count() + 2
            };
            match color {
                Some(c) => out.push_str(&style.paint(c, &text)),
                None => out.push_str(&text),
            }
            out.extend(std::iter::repeat_n(' ', pad));
        }
        let trimmed = out.trim_end_matches(' ').len();
        out.truncate(trimmed);
        out.push('\n');
    };
    line(
        &mut out,
        headers
            .iter()
            .map(|h| (h.to_string(), Some(Color::Bold)))
            .collect(),
    );
    for row in rows {
        line(
            &mut out,
            row.iter().map(|c| (c.text.clone(), c.color)).collect(),
        );
    }
    out
}

/// "3 days ago", "in 2 hours", "just now".
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds();
    let (future, secs) = (secs < 0, secs.unsigned_abs());
    if secs < 45 {
        return "just now".to_owned();
    }
    let (n, unit) = match secs {
        s if s < 90 => (1, "minute"),
        s if s < 45 * 60 => (s.div_ceil(60).max(2), "minute"),
        s if s < 90 * 60 => (1, "hour"),
        s if s < 22 * 3600 => ((s + 1800) / 3600, "hour"),
        s if s < 36 * 3600 => (1, "day"),
        s if s < 26 * 86_400 => ((s + 43_200) / 86_400, "day"),
        s if s < 45 * 86_400 => (1, "month"),
        s if s < 320 * 86_400 => ((s + 15 * 86_400) / (30 * 86_400), "month"),
        s if s < 548 * 86_400 => (1, "year"),
        s => ((s + 182 * 86_400) / (365 * 86_400), "year"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if future {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

/// An absolute time for people: `2026-11-22 16:40 UTC`.
pub fn absolute(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "in 3 days (2026-11-25 16:40 UTC)".
pub fn both(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ({})", relative(at, now), absolute(at))
}

/// Human words for a permission list: `all`, `read only`, or the grants.
pub fn permissions(list: &[String]) -> String {
    match list {
        [one] if one == "*:*" => "all".to_owned(),
        [one] if one == "*:read" => "read only".to_owned(),
        [] => "none".to_owned(),
        grants => grants.join(", "),
    }
}

/// `key: value` lines with aligned values.
pub fn fields(style: Style, rows: &[(&str, String)]) -> String {
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count() + 1)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in rows {
        let label = format!("{k}:");
        let pad = width - label.chars().count() + 2;
        out.push_str(&style.paint(Color::Bold, &label));
        out.extend(std::iter::repeat_n(' ', pad));
        out.push_str(v);
        out.push('\n');
    }
    out
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot encode JSON: {e}"),
    }
}

/// Prints a table on stdout, or `empty` when it has no rows.
pub fn print_table(headers: &[&str], rows: Vec<Vec<Cell>>, empty: &str) {
    if rows.is_empty() {
        println!("{empty}");
    } else {
        print!("{}", table(Style::stdout(), headers, &rows));
    }
}

/// Prints `key: value` lines on stdout.
pub fn print_fields(rows: &[(&str, String)]) {
    print!("{}", fields(Style::stdout(), rows));
}

/// Prints `✓ message` on stdout: what a change did.
pub fn done(message: &str) {
    let style = Style::stdout();
    println!("{} {message}", style.paint(Color::Green, "✓"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn relative_times_read_naturally() {
        let now = Utc::now();
        let ago = |d: Duration| relative(now - d, now);
        assert_eq!(ago(Duration::seconds(5)), "just now");
        assert_eq!(ago(Duration::seconds(70)), "1 minute ago");
        assert_eq!(ago(Duration::minutes(5)), "5 minutes ago");
        assert_eq!(ago(Duration::hours(1)), "1 hour ago");
        assert_eq!(ago(Duration::hours(5)), "5 hours ago");
        assert_eq!(ago(Duration::hours(30)), "1 day ago");
        assert_eq!(ago(Duration::days(3)), "3 days ago");
        assert_eq!(ago(Duration::days(60)), "2 months ago");
        assert_eq!(ago(Duration::days(800)), "2 years ago");
        assert_eq!(relative(now + Duration::days(3), now), "in 3 days");
        assert_eq!(relative(now + Duration::days(30), now), "in 1 month");
    }

    #[test]
    fn tables_align_and_colours_stay_off_without_a_terminal() {
        let plain = Style { color: false };
        let out = table(
            plain,
            &["NAME", "ID"],
            &[
                vec![Cell::new("a"), Cell::new("key_1")],
                vec![Cell::colored("longer", Color::Red), Cell::new("key_2")],
            ],
        );
        assert_eq!(out, "NAME    ID\na       key_1\nlonger  key_2\n");
        let colored = Style { color: true };
        assert_eq!(colored.paint(Color::Red, "x"), "\x1b[31mx\x1b[0m");
        let out = table(
            colored,
            &["A", "B"],
            &[vec![Cell::colored("x", Color::Red), Cell::new("y")]],
        );
        assert!(out.ends_with("\x1b[31mx\x1b[0m  y\n"), "{out:?}");
    }

    #[test]
    fn permission_presets_have_names() {
        assert_eq!(permissions(&["*:*".into()]), "all");
        assert_eq!(permissions(&["*:read".into()]), "read only");
        assert_eq!(
            permissions(&["audit:read".into(), "keys:write".into()]),
            "audit:read, keys:write"
        );
    }
}
