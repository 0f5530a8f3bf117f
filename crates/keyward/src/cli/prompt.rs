//! What the CLI reads from the person at the terminal: a hidden secret (a key, an
//! invitation's code), or stdin when it is not a terminal, and confirmations.

use super::failure::{CmdResult, Failure, EXIT_ERROR};
use std::io::IsTerminal;

/// A destructive command without `--yes` needs a terminal to ask on.
pub fn refuse_unconfirmable(yes: bool, what: &str) -> CmdResult {
    if !yes && !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "refusing to {what} without confirmation: stdin is not a terminal"
        ))
        .with_hint("pass --yes to go ahead without asking"));
    }
    Ok(())
}

/// Reads one line from stdin (a key or an answer), at most 4 KiB.
fn read_stdin_line() -> std::io::Result<zeroize::Zeroizing<String>> {
    use std::io::{BufRead, Read};
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin().lock().take(4096).read_line(&mut line)?;
    Ok(line)
}

/// A key from a hidden prompt, or from stdin when it is not a terminal; `if_empty` is
/// the usage error when nothing was given.
pub fn read_key(prompt: &str, if_empty: &str) -> Result<keyward_client::ApiKey, Failure> {
    let raw = read_secret(prompt, if_empty)?;
    Ok(keyward_client::ApiKey::new(raw.trim()))
}

/// A secret (key or invitation code) from a hidden prompt, or from stdin when it is not
/// a terminal; `if_empty` is the usage error when nothing was given.
pub fn read_secret(prompt: &str, if_empty: &str) -> Result<zeroize::Zeroizing<String>, Failure> {
    let raw = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt)
            .map(zeroize::Zeroizing::new)
            .map_err(|e| Failure::error(format!("cannot read the input: {e}")))?
    } else {
        read_stdin_line().map_err(|e| Failure::error(format!("cannot read stdin: {e}")))?
    };
    if raw.trim().is_empty() {
        return Err(Failure::usage(if_empty));
    }
    Ok(raw)
}

/// Unless `yes`, asks `question` on the terminal; anything but y/yes cancels with
/// `not_done` (exit 1, code `cancelled`).
pub fn confirm_or_cancel(yes: bool, question: &str, not_done: &str) -> CmdResult {
    use std::io::Write;
    if yes {
        return Ok(());
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let answer =
        read_stdin_line().map_err(|e| Failure::error(format!("cannot read the answer: {e}")))?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(Failure::new(EXIT_ERROR, "cancelled", not_done))
    }
}
