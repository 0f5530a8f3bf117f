//! Who may read the SQLite files: only the user Keyward runs as.
//!
//! The database holds emails, the audit log and key hashes, so the database file, its
//! `-wal`, `-shm` and `-journal` companions, and backups are created 0600 whatever the
//! umask. SQLite's unix VFS gives the companions the permission bits of the main file
//! when it creates them, so creating the main file 0600 before SQLite opens it is enough
//! (`tests/files.rs` checks that claim). Files an older Keyward left readable by others
//! are tightened when they are opened, with a warning naming the file and its old mode.

use crate::error::{Result, StoreError};
use sqlx::sqlite::SqliteConnectOptions;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The files SQLite may keep beside the database, by suffix.
const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// The file a `sqlite:` URL names (decoded the way sqlx decodes it), or `None` when it
/// names no file of its own: `sqlite::memory:`, `?mode=memory`, an empty name (SQLite's
/// private temporary database), and `file:` URIs (SQLite parses those itself; their
/// files are left as they are, with a warning).
pub(crate) fn database_file(url: &str) -> Result<Option<PathBuf>> {
    let (name, params) = split(url);
    if name == ":memory:" || param(params, "mode") == Some("memory") {
        return Ok(None);
    }
    let options = SqliteConnectOptions::from_str(url)?;
    let path = options.get_filename();
    if path.as_os_str().is_empty() {
        return Ok(None);
    }
    if path.to_string_lossy().starts_with("file:") {
        tracing::warn!(
            name = %path.display(),
            "the database is a file: URI; its file permissions are left as they are"
        );
        return Ok(None);
    }
    Ok(Some(path.to_path_buf()))
}

/// The name and the parameters of a `sqlite:` URL, split as sqlx's
/// `SqliteConnectOptions::from_str` splits them.
fn split(url: &str) -> (&str, &str) {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    rest.split_once('?').unwrap_or((rest, ""))
}

fn param<'a>(params: &'a str, key: &str) -> Option<&'a str> {
    params
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Before SQLite opens the database `url` names: creates a missing file 0600 (unless the
/// URL opens it read-only, where a missing file must stay an error), and takes group and
/// other access away from the file and its companions where an older Keyward left it.
pub(crate) fn prepare(url: &str) -> Result<()> {
    let Some(db) = database_file(url)? else {
        return Ok(());
    };
    if param(split(url).1, "mode") != Some("ro") {
        create_private(&db)?;
    }
    tighten(&db)?;
    for suffix in COMPANIONS {
        let mut companion = db.clone().into_os_string();
        companion.push(suffix);
        tighten(Path::new(&companion))?;
    }
    Ok(())
}

/// Creates `path` empty with mode 0600; an existing file is left to [`tighten`].
fn create_private(path: &Path) -> Result<()> {
    match new_private_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other.map_err(|e| io_error(e, "cannot create", path)),
    }
}

fn new_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}

/// Removes group and other permission bits from `path`, if it exists and has any; where
/// it may not (another user's file), warns and leaves it, as SQLite may still open it.
#[cfg(unix)]
fn tighten(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = match std::fs::metadata(path) {
        Ok(meta) => meta.permissions().mode() & 0o7777,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(e, "cannot read the permissions of", path)),
    };
    if mode & 0o077 == 0 {
        return Ok(());
    }
    let new = mode & !0o077;
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(new)) {
        Ok(()) => tracing::warn!(
            path = %path.display(),
            old_mode = %format_args!("{mode:04o}"),
            new_mode = %format_args!("{new:04o}"),
            "database file was accessible to other users; now only its owner may read it"
        ),
        // Another user's file that this one may use (a group setup): warn, as before.
        Err(e) => tracing::warn!(
            path = %path.display(),
            mode = %format_args!("{mode:04o}"),
            error = %e,
            "database file is accessible to other users and its mode cannot be changed"
        ),
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_path: &Path) -> Result<()> {
    Ok(())
}

fn io_error(e: std::io::Error, what: &str, path: &Path) -> StoreError {
    let message = format!("{what} {}: {e}", path.display());
    StoreError::Other(Box::new(std::io::Error::new(e.kind(), message)))
}

/// A backup's target: created empty and 0600 before `VACUUM INTO` writes it (which
/// accepts an empty file and keeps its mode), removed again on drop unless kept.
pub(crate) struct BackupFile {
    path: PathBuf,
    kept: bool,
}

impl BackupFile {
    /// Fails if `path` exists: a backup never overwrites.
    pub(crate) fn create(path: &str) -> Result<Self> {
        // SQLite reads a name that starts with `file:` as a URI and would write elsewhere.
        let path = if path.starts_with("file:") {
            Path::new(".").join(path)
        } else {
            PathBuf::from(path)
        };
        new_private_file(&path).map_err(|e| io_error(e, "cannot create", &path))?;
        Ok(Self { path, kept: false })
    }

    /// The name to give `VACUUM INTO`.
    pub(crate) fn name(&self) -> Result<&str> {
        self.path
            .to_str()
            .ok_or(StoreError::InvalidInput("backup path (not UTF-8)"))
    }

    /// The backup is complete: keep the file.
    pub(crate) fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for BackupFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(url: &str) -> Option<PathBuf> {
        database_file(url).unwrap()
    }

    #[test]
    fn urls_name_their_file() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(file("sqlite://data/keyward.db"), p("data/keyward.db"));
        assert_eq!(file("sqlite:data/keyward.db"), p("data/keyward.db"));
        assert_eq!(file("sqlite:///srv/kw/keyward.db"), p("/srv/kw/keyward.db"));
        assert_eq!(file("sqlite://k.db?mode=rwc"), p("k.db"));
        assert_eq!(file("sqlite://k.db?cache=shared&mode=ro"), p("k.db"));
        // Percent-encoding lets a name hold `?` or `#`, as sqlx decodes it.
        assert_eq!(file("sqlite://a%3Fb.db"), p("a?b.db"));
    }

    #[test]
    fn urls_without_a_file_of_their_own() {
        assert_eq!(file("sqlite::memory:"), None);
        assert_eq!(file("sqlite://:memory:"), None);
        assert_eq!(file("sqlite://k.db?mode=memory"), None);
        assert_eq!(file("sqlite://?mode=memory&cache=private"), None);
        assert_eq!(file("sqlite://"), None);
        assert_eq!(file("sqlite:file:k.db"), None);
        assert!(database_file("sqlite://k.db?bogus=1").is_err());
    }
}
