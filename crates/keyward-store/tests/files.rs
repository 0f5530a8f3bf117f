//! The SQLite files are owner-only (0600) whatever the umask: a fresh database and the
//! `-wal` and `-shm` files SQLite creates beside it, a backup, and the files of an older
//! installation, which are tightened when opened. Run under the usual umask 022, these
//! fail wherever Keyward leaves the modes to the umask.
#![cfg(unix)]

use keyward_store::sqlite::SqliteStore;
use keyward_store::Store;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A file's permission bits in octal, as `ls -l` users read them ("0600").
fn mode(path: &Path) -> String {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("{:04o}", meta.permissions().mode() & 0o7777)
}

fn companion(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// The database and, while it is open after a write, its WAL and shared-memory files.
fn files(db: &Path) -> [PathBuf; 3] {
    [db.to_owned(), companion(db, "-wal"), companion(db, "-shm")]
}

async fn open(db: &Path) -> SqliteStore {
    let store = SqliteStore::connect(&format!("sqlite://{}?mode=rwc", db.display()))
        .await
        .unwrap();
    // Migrating writes, so SQLite creates the WAL and shared-memory files.
    store.migrate().await.unwrap();
    store
}

#[tokio::test]
async fn a_fresh_database_and_its_wal_and_shm_files_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keyward.db");
    let store = open(&db).await;
    assert!(std::fs::metadata(companion(&db, "-wal")).unwrap().len() > 0);
    for file in files(&db) {
        assert_eq!(mode(&file), "0600", "{}", file.display());
    }
    store.close().await;
}

#[tokio::test]
async fn an_older_installations_files_are_tightened_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keyward.db");
    let first = open(&db).await;
    // As an older Keyward left them under umask 022 (one file group-writable too).
    for (file, loose) in files(&db).iter().zip([0o644, 0o664, 0o644]) {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(loose)).unwrap();
    }
    let second = open(&db).await;
    for file in files(&db) {
        assert_eq!(mode(&file), "0600", "{}", file.display());
    }
    second.close().await;
    first.close().await;
    // Only group and other bits are taken away: an owner-read-only file stays so.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    let url = format!("sqlite://{}?mode=ro", db.display());
    SqliteStore::connect(&url).await.unwrap().close().await;
    assert_eq!(mode(&db), "0400");
}

#[tokio::test]
async fn a_backup_is_owner_only_and_a_failed_one_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("keyward.db")).await;
    let copy = dir.path().join("copy.db");
    store.backup_to(copy.to_str().unwrap()).await.unwrap();
    assert_eq!(mode(&copy), "0600");
    assert!(std::fs::metadata(&copy).unwrap().len() > 0);
    // The copy is a database with the same migrations, needing none.
    let reopened = open(&copy).await;
    reopened.close().await;

    // An existing file is never written over, even an empty one.
    let existing = dir.path().join("existing.db");
    std::fs::write(&existing, "").unwrap();
    assert!(store.backup_to(existing.to_str().unwrap()).await.is_err());
    assert_eq!(std::fs::metadata(&existing).unwrap().len(), 0);

    // A VACUUM INTO that fails removes the empty file made for it.
    store.close().await;
    let failed = dir.path().join("failed.db");
    assert!(store.backup_to(failed.to_str().unwrap()).await.is_err());
    assert!(!failed.exists());
}
