use std::os::unix::fs::PermissionsExt;

use super::*;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T08:00:00Z")
        .unwrap()
        .to_utc()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn write_file(path: &Path, text: &str, mode: u32) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn created_private_with_one_active_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("keks");
    let ring = create_key_file(&path, now()).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert!(ring.active_id().starts_with("kek-20261201-"));
    assert_eq!(ring.ids(), [ring.active_id()]);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(KEY_FILE_HEADER), "{text}");
    assert!(text.contains(&format!("active = {}\n", ring.active_id())));
    // Reading it back gives the same key: a data key wrapped by one opens with the other.
    let again = load_key_file(&path).unwrap();
    let (_, wrapped) = ring.new_data_key();
    assert!(again.unwrap_key(&wrapped).is_ok());
    // It is never overwritten.
    assert!(matches!(
        create_key_file(&path, now()),
        Err(RingError::Io { .. })
    ));
}

#[test]
fn group_or_world_readable_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keks");
    create_key_file(&path, now()).unwrap();
    for bad in [0o644, 0o640, 0o604, 0o660, 0o602] {
        fs::set_permissions(&path, fs::Permissions::from_mode(bad)).unwrap();
        let err = load_key_file(&path).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, RingError::InsecureFile { mode, .. } if mode == bad),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("chmod 600 {}", path.display())),
            "{msg}"
        );
        assert!(add_to_key_file(&path, now(), false).is_err());
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
    assert!(load_key_file(&path).is_ok());
}

#[test]
fn add_set_active_retire_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keks");
    let first = create_key_file(&path, now()).unwrap();
    let first_id = first.active_id().to_string();
    let (_, old_wrapped) = first.new_data_key();

    let second = add_to_key_file(&path, now(), false).unwrap();
    assert_ne!(second, first_id);
    assert_eq!(mode(&path), 0o600);
    let ring = load_key_file(&path).unwrap();
    assert_eq!(ring.ids(), [first_id.clone(), second.clone()]);
    assert_eq!(ring.active_id(), first_id);

    let third = add_to_key_file(&path, now(), true).unwrap();
    let ring = load_key_file(&path).unwrap();
    assert_eq!(
        ring.ids(),
        [first_id.clone(), second.clone(), third.clone()]
    );
    assert_eq!(ring.active_id(), third);

    set_active_in_key_file(&path, &second).unwrap();
    let ring = load_key_file(&path).unwrap();
    assert_eq!(ring.active_id(), second);
    let rewrapped = ring.rewrap(&old_wrapped).unwrap();

    let err = retire_from_key_file(&path, &second).unwrap_err();
    assert!(
        matches!(&err, RingError::RetireActive { id, .. } if *id == second),
        "{err}"
    );
    assert!(err.to_string().contains(&second));
    retire_from_key_file(&path, &first_id).unwrap();
    retire_from_key_file(&path, &third).unwrap();
    let ring = load_key_file(&path).unwrap();
    assert_eq!(ring.ids(), [second]);
    assert!(ring.unwrap_key(&rewrapped).is_ok());

    let err = retire_from_key_file(&path, "kek-nope").unwrap_err();
    assert!(matches!(err, RingError::NotInFile { .. }) && err.to_string().contains("kek-nope"));
    assert!(matches!(
        set_active_in_key_file(&path, "kek-nope"),
        Err(RingError::NotInFile { .. })
    ));
    assert_eq!(mode(&path), 0o600);
    // No temporary files left behind.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(KEY_FILE_HEADER), "{text}");
}

#[test]
fn comments_kept_and_active_line_added() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keks");
    let k = encode_kek(&[3; 32]);
    write_file(
        &path,
        &format!("# mine\n\n  # indented\nold = {k}\n# after\n"),
        0o600,
    );
    // No `active` line: the first key is active.
    assert_eq!(load_key_file(&path).unwrap().active_id(), "old");
    let new = add_to_key_file(&path, now(), true).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..4],
        ["# mine", "", "  # indented", &format!("active = {new}")]
    );
    assert_eq!(lines[4], format!("old = {k}"));
    assert!(lines[5].starts_with(&format!("{new} = ")));
    assert_eq!(lines[6], "# after");
}

#[test]
fn syntax_errors_name_the_line_not_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keks");
    let k = encode_kek(&[0x5a; 32]);
    let cases = [
        (format!("# c\n{k}\n"), "line 2"),
        (format!("a = {k}\nactive = a\nactive = a\n"), "line 3"),
        (format!("a = {}\n", &k[..30]), "line 1"),
        ("a =\n".to_string(), "line 1"),
        (format!("bad id = {k}\n"), "line 1"),
        (format!("a = {k}\na = {k}\n"), "listed twice"),
        (format!("a = {k}\nactive = b\n"), "not among"),
        ("# only comments\n".to_string(), "no key-encryption keys"),
    ];
    for (text, expect) in cases {
        write_file(&path, &text, 0o600);
        let msg = load_key_file(&path).unwrap_err().to_string();
        assert!(msg.contains(expect), "{msg} / {expect}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(!msg.contains(&k[..12]), "{msg}");
    }
    let msg = load_key_file(&dir.path().join("missing"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("missing"), "{msg}");
}
