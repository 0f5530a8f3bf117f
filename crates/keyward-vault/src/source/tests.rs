use std::collections::HashMap;

use super::*;
use crate::kek::encode_kek;

const K1: [u8; 32] = [0x21; 32];
const K2: [u8; 32] = [0xc3; 32];

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T08:00:00Z")
        .unwrap()
        .to_utc()
}

fn load(
    config: Option<&SecretsConfig>,
    env: &[(&str, String)],
    data_dir: &Path,
    create: bool,
) -> Result<(Ring, RingOrigin), RingError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let get = move |name: &str| env.get(name).cloned();
    load_ring(Sources {
        config,
        env: &get,
        data_dir,
        now: now(),
        create_if_missing: create,
    })
}

fn config_with(keks: &[(&str, [u8; 32])], active: Option<&str>) -> SecretsConfig {
    SecretsConfig {
        active_kek: active.map(str::to_string),
        keks: Some(
            keks.iter()
                .map(|(id, k)| (id.to_string(), KekText::from(encode_kek(k))))
                .collect(),
        ),
        kek_file: None,
    }
}

#[test]
fn precedence_config_env_file_created() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let config = config_with(&[("from-config", K1)], None);
    let env = [(ENV_KEKS, format!("from-env={}", encode_kek(&K2)))];

    // Nothing anywhere: created.
    let (created, origin) = load(None, &[], data, true).unwrap();
    let file = data.join(DEFAULT_KEY_FILE);
    assert_eq!(origin, RingOrigin::Created(file.clone()));
    // Now the file exists: read, not created again.
    let (ring, origin) = load(None, &[], data, true).unwrap();
    assert_eq!(origin, RingOrigin::File(file.clone()));
    assert_eq!(ring.ids(), created.ids());
    // The environment comes before the file, the config before both.
    let (ring, origin) = load(None, &env, data, true).unwrap();
    assert_eq!(
        (origin, ring.active_id()),
        (RingOrigin::Environment, "from-env")
    );
    let (ring, origin) = load(Some(&config), &env, data, true).unwrap();
    assert_eq!(
        (origin, ring.active_id()),
        (RingOrigin::Config, "from-config")
    );
    // A config without keys falls through.
    let (_, origin) = load(Some(&SecretsConfig::default()), &env, data, true).unwrap();
    assert_eq!(origin, RingOrigin::Environment);
}

#[test]
fn key_file_choice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let a = dir.path().join("a-keks");
    let b = dir.path().join("b-keks");
    crate::keyfile::create_key_file(&a, now()).unwrap();
    crate::keyfile::create_key_file(&b, now()).unwrap();
    crate::keyfile::create_key_file(&data.join("keks"), now()).unwrap();
    let config = SecretsConfig {
        kek_file: Some(a.clone()),
        ..Default::default()
    };
    let env = [(ENV_KEK_FILE, b.display().to_string())];
    assert_eq!(
        load(Some(&config), &env, &data, false).unwrap().1,
        RingOrigin::File(a.clone())
    );
    assert_eq!(
        load(None, &env, &data, false).unwrap().1,
        RingOrigin::File(b.clone())
    );
    assert_eq!(
        load(None, &[], &data, false).unwrap().1,
        RingOrigin::File(data.join("keks"))
    );
    // A named file that is missing is an error, never created.
    let missing = dir.path().join("missing");
    let config = SecretsConfig {
        kek_file: Some(missing.clone()),
        ..Default::default()
    };
    let msg = load(Some(&config), &[], &data, true)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("missing"), "{msg}");
    assert!(!missing.exists());
}

#[test]
fn not_created_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(None, &[], dir.path(), false).unwrap_err();
    assert!(matches!(err, RingError::NotConfigured(_)));
    assert!(err.to_string().contains("KEYWARD_KEKS"), "{err}");
    assert!(!dir.path().join("keks").exists());
}

#[test]
fn environment_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let (k1, k2) = (encode_kek(&K1), encode_kek(&K2));
    let ok = |keks: String, active: Option<&str>| {
        let mut env = vec![(ENV_KEKS, keks)];
        env.extend(active.map(|a| (ENV_ACTIVE_KEK, a.to_string())));
        load(None, &env, dir.path(), false)
            .map(|(ring, _)| (ring.ids(), ring.active_id().to_string()))
    };
    assert_eq!(
        ok(format!("a={k1},b={k2}"), None).unwrap(),
        (vec!["a".into(), "b".into()], "a".into())
    );
    assert_eq!(
        ok(format!(" a = {k1} \n\nb={k2}\n"), Some("b")).unwrap().1,
        "b"
    );
    let url_unpadded = k2.trim_end_matches('=').replace('+', "-").replace('/', "_");
    assert!(ok(format!("a={url_unpadded}"), None).is_ok());
    // Errors name the id and the variable, never the key.
    let cases = [
        (format!("a={k1},b=xyz"), "b"),
        (format!("a={k1},b={}", &k2[..20]), "b"),
        (format!("a={k1},{k2}"), "a string of 43 characters"),
        (format!("a={k1},nokey"), "entry 2"),
        (format!("a={k1},a={k2}"), "listed twice"),
        (format!("bad/id={k1}"), "\"bad/id\""),
    ];
    for (text, expect) in cases {
        let msg = ok(text, None).unwrap_err().to_string();
        assert!(
            msg.contains(expect) && msg.contains(ENV_KEKS),
            "{msg} / {expect}"
        );
        assert!(
            !msg.contains(&k1[..12]) && !msg.contains(&k2[..12]),
            "{msg}"
        );
    }
    let msg = ok(format!("a={k1}"), Some("zz")).unwrap_err().to_string();
    assert!(msg.contains("zz") && msg.contains(ENV_KEKS), "{msg}");
    let msg = load(None, &[(ENV_ACTIVE_KEK, "a".into())], dir.path(), true)
        .unwrap_err()
        .to_string();
    assert!(msg.contains(ENV_ACTIVE_KEK), "{msg}");
    // An empty KEYWARD_KEKS counts as unset.
    assert_eq!(
        load(None, &[(ENV_KEKS, " ".into())], dir.path(), true)
            .unwrap()
            .1,
        RingOrigin::Created(dir.path().join("keks"))
    );
}

#[test]
fn config_rules_and_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "active_kek: b\nkeks:\n  a: {}\n  b: {}\n",
        encode_kek(&K1),
        encode_kek(&K2)
    );
    let config: SecretsConfig = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(config, config_with(&[("a", K1), ("b", K2)], Some("b")));
    let (ring, _) = load(Some(&config), &[], dir.path(), false).unwrap();
    assert_eq!(ring.active_id(), "b");
    assert!(serde_yaml::from_str::<SecretsConfig>("kek: x\n").is_err());
    let file: SecretsConfig = serde_yaml::from_str("kek_file: /etc/keyward/keks\n").unwrap();
    assert_eq!(
        file.kek_file.as_deref(),
        Some(Path::new("/etc/keyward/keks"))
    );

    let one = config_with(&[("only", K1)], None);
    assert_eq!(
        load(Some(&one), &[], dir.path(), false)
            .unwrap()
            .0
            .active_id(),
        "only"
    );
    let two = config_with(&[("a", K1), ("b", K2)], None);
    let msg = load(Some(&two), &[], dir.path(), false)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("secrets.active_kek"), "{msg}");
    let mut bad = config_with(&[("a", K1)], None);
    bad.keks
        .as_mut()
        .unwrap()
        .insert("b".into(), KekText::from("AAAA"));
    let msg = load(Some(&bad), &[], dir.path(), false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("key-encryption key b") && msg.contains("keyward.yaml"),
        "{msg}"
    );
    let empty = SecretsConfig {
        keks: Some(Default::default()),
        ..Default::default()
    };
    assert!(matches!(
        load(Some(&empty), &[], dir.path(), true),
        Err(RingError::Empty { .. })
    ));
    let stray = SecretsConfig {
        active_kek: Some("a".into()),
        ..Default::default()
    };
    let msg = load(Some(&stray), &[], dir.path(), true)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("secrets.active_kek"), "{msg}");
}

#[test]
fn debug_of_config_hides_keys() {
    let k1: [u8; 32] = std::array::from_fn(|i| (i * 7) as u8);
    let config = config_with(&[("a", k1), ("b", K2)], Some("a"));
    let text = format!("{config:?} {config:#?}");
    assert!(
        text.contains("\"a\"") && text.contains("redacted"),
        "{text}"
    );
    crate::ring::tests::assert_no_key_material(&text, &[k1, K2]);
}

#[cfg(unix)]
#[test]
fn created_file_feeds_maintenance() {
    let dir = tempfile::tempdir().unwrap();
    let (_, origin) = load(None, &[], dir.path(), true).unwrap();
    let RingOrigin::Created(path) = origin else {
        panic!("{origin:?}")
    };
    let new = crate::keyfile::add_to_key_file(&path, now(), true).unwrap();
    let (ring, _) = load(None, &[], dir.path(), true).unwrap();
    assert_eq!(ring.active_id(), new);
    assert_eq!(ring.ids().len(), 2);
}
