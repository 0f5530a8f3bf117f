//! `keyward migrate` on both backends and `keyward backup` (SQLite only). PostgreSQL
//! checks run when `KEYWARD_TEST_DATABASE_URL` is set and are skipped otherwise.

use std::process::Command;

fn keyward(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("KEYWARD_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn backup_copies_a_live_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("live.db").display());
    ok(keyward(dir.path())
        .args(["bootstrap", "--database-url", &url, "--org", "backed-up"])
        .output()
        .unwrap());
    let copy = dir.path().join("copy.db");
    let out = ok(keyward(dir.path())
        .args(["backup", "--database-url", &url, "--to"])
        .arg(&copy)
        .output()
        .unwrap());
    assert!(out.contains("backed up"), "{out}");
    // The copy is a working database with the same organization.
    let copy_url = format!("sqlite://{}", copy.display());
    let again = keyward(dir.path())
        .args(["bootstrap", "--database-url", &copy_url])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has an organization"));
    // An existing file is never overwritten.
    let refused = keyward(dir.path())
        .args(["backup", "--database-url", &url, "--to"])
        .arg(&copy)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already exists"));
    // A database that does not exist is not created just to be backed up.
    let missing = dir.path().join("missing.db");
    let refused = keyward(dir.path())
        .args([
            "backup",
            "--database-url",
            &format!("sqlite://{}", missing.display()),
            "--to",
        ])
        .arg(dir.path().join("other.db"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no database"));
    assert!(!missing.exists());
}

/// A backup holds what the database holds: only its owner may read it, whatever the
/// umask (the test runner's is 022).
#[cfg(unix)]
#[test]
fn a_backup_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    ok(keyward(dir.path())
        .args(["bootstrap", "--data-dir", "data"])
        .output()
        .unwrap());
    ok(keyward(dir.path())
        .args(["backup", "--data-dir", "data", "--to", "copy.db"])
        .output()
        .unwrap());
    let meta = std::fs::metadata(dir.path().join("copy.db")).unwrap();
    assert!(meta.len() > 0);
    assert_eq!(format!("{:o}", meta.permissions().mode() & 0o7777), "600");
}

#[test]
fn backup_points_postgres_users_to_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyward(dir.path())
        .args([
            "backup",
            "--database-url",
            "postgres://kw:secret@db.example/keyward",
            "--to",
            "x.dump",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pg_dump -Fc"), "{err}");
    assert!(!err.contains("secret"), "the password is not echoed: {err}");
}

#[test]
fn migrate_and_bootstrap_on_postgres() {
    let Some(base) = keyward_store::testing::postgres_url_or_skip() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let schema = rt
        .block_on(keyward_store::testing::PgScratch::create(&base))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = ok(keyward(dir.path())
            .args(["migrate", "--database-url", schema.url()])
            .output()
            .unwrap());
        assert!(out.contains("is up to date"), "{out}");
    }
    let token = ok(keyward(dir.path())
        .args(["bootstrap", "--database-url", schema.url()])
        .output()
        .unwrap());
    assert!(token.trim().starts_with("kw_pat_"));
    drop(schema);
}

#[test]
fn postgres_connections_can_require_tls() {
    let Some(base) = keyward_store::testing::postgres_url_or_skip() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ssl: String = rt.block_on(async {
        let pool = sqlx::PgPool::connect(&base).await.unwrap();
        sqlx::query_scalar("SHOW ssl")
            .fetch_one(&pool)
            .await
            .unwrap()
    });
    if ssl != "on" {
        eprintln!(
            "skipped: the PostgreSQL server at {} has ssl = {ssl}",
            keyward_store::redact_url(&base)
        );
        return;
    }
    let schema = rt
        .block_on(keyward_store::testing::PgScratch::create(&base))
        .unwrap();
    let url = schema.url();
    let tls_url = format!(
        "{url}{}sslmode=require",
        if url.contains('?') { '&' } else { '?' }
    );
    let dir = tempfile::tempdir().unwrap();
    let out = ok(keyward(dir.path())
        .args(["migrate", "--database-url", &tls_url])
        .output()
        .unwrap());
    assert!(out.contains("is up to date"), "{out}");
    drop(schema);
}
