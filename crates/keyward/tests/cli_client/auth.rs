//! Logging in and out, whoami, and where the credentials come from.

use super::*;

#[test]
fn whoami_prints_the_exact_line_for_a_personal_token() {
    let server = Server::start();
    let user = User::new();
    user.login(&server, &server.token);
    let out = run(user.cmd(&["auth", "whoami"])).ok();
    assert_eq!(
        out.stdout,
        "Authenticated as: team@company.com (org: my-org)\n"
    );
    // `keyward login --token` is the same as `keyward auth login --token`.
    let other = User::new();
    run(other.cmd(&["login", "--token", &server.token, "--server", &server.url])).ok();
    let out = run(other.cmd(&["auth", "whoami"])).ok();
    assert_eq!(
        out.stdout,
        "Authenticated as: team@company.com (org: my-org)\n"
    );
    // An API key (no person behind it) is named with its kind.
    let (api_key, _) = create_key(&user, &server, &["--name", "billing", "--kind", "api"]);
    let out = run(user.cmd(&["auth", "whoami", "--token", &api_key])).ok();
    assert_eq!(
        out.stdout,
        "Authenticated as: billing (API key, org: my-org)\n"
    );
}

/// At a terminal, `auth login` asks for the key at its hidden prompt. (That the typing
/// is not echoed cannot be seen here: `script` feeds the answer before the prompt turns
/// echo off, so the terminal echoes it on arrival.)
#[test]
fn login_at_a_terminal_reads_the_key_from_the_prompt() {
    let server = Server::start();
    let user = User::new();
    let out = user.at_terminal(
        &["auth", "login", "--server", &server.url],
        &format!("{}\n", server.token),
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("input is hidden"), "{}", out.stdout);
    let whoami = run(user.cmd(&["auth", "whoami"])).ok();
    assert!(
        whoami.stdout.starts_with("Authenticated as:"),
        "{}",
        whoami.stdout
    );
}

#[test]
fn login_checks_the_key_stores_it_0600_and_logout_forgets_it() {
    let server = Server::start();
    // No KEYWARD_CONFIG_DIR: the user's config directory under HOME.
    let user = User::with_home_only();
    let path = user.credentials_path();
    // A key with a bad checksum is refused before anything is stored.
    let mut bad = server.token.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == 'a' { 'b' } else { 'a' });
    let out = run(user.cmd(&["auth", "login", "--token", &bad, "--server", &server.url]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("checksum"), "{}", out.stderr);
    assert!(!path.exists());

    user.login(&server, &server.token);
    assert_eq!(mode(&path), 0o600);
    let stored = std::fs::read_to_string(&path).unwrap();
    assert!(stored.contains(&server.url) && stored.contains(&server.token));
    let status = run(user.cmd(&["auth", "status"])).ok();
    assert!(
        status.stdout.contains("Source:") && status.stdout.contains("stored login"),
        "{}",
        status.stdout
    );
    // Logged in, the server comes from the stored login too.
    assert!(status.stdout.contains(&server.url), "{}", status.stdout);

    run(user.cmd(&["auth", "logout"])).ok();
    assert!(!path.exists());
    let out = run(user.cmd(&["auth", "whoami"]));
    assert_eq!(out.code, 3);
    assert!(
        out.stderr.contains("not logged in") && out.stderr.contains("keyward auth login"),
        "{}",
        out.stderr
    );

    // The key can also be piped on stdin.
    let out = user
        .cmd(&["auth", "login", "--server", &server.url])
        .write_stdin(format!("{}\n", server.token))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&path), 0o600);
    // Nothing on stdin and no --token: a usage error.
    let out = run(User::new().cmd(&["auth", "login", "--server", &server.url]));
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn credentials_come_from_flag_then_env_then_dotenv_then_stored_login() {
    let server = Server::start();
    let user = User::new();
    let (stored, _) = create_key(&user, &server, &["--name", "from-stored"]);
    let (dotenv, _) = create_key(&user, &server, &["--name", "from-dotenv"]);
    let (env, _) = create_key(&user, &server, &["--name", "from-env"]);
    let (flag, _) = create_key(&user, &server, &["--name", "from-flag"]);
    user.login(&server, &stored);
    user.write_dotenv(&format!("KEYWARD_API_KEY={dotenv}\n"));

    let status = |with_flag: bool, with_env: bool| {
        let mut args = vec!["auth", "status", "--json"];
        if with_flag {
            args.extend(["--token", flag.as_str()]);
        }
        let mut cmd = user.cmd(&args);
        if with_env {
            cmd.env("KEYWARD_API_KEY", &env);
        }
        let json = run(cmd).ok().json();
        (
            json["source"]["type"].as_str().unwrap().to_owned(),
            json["key"]["name"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(status(true, true), ("flag".into(), "from-flag".into()));
    assert_eq!(status(false, true), ("env".into(), "from-env".into()));
    assert_eq!(
        status(false, false),
        ("dot_env".into(), "from-dotenv".into())
    );
    user.remove_dotenv();
    assert_eq!(
        status(false, false),
        ("stored_login".into(), "from-stored".into())
    );

    // The stored key goes only to its own server: a KEYWARD_SERVER from elsewhere
    // (here a .env) does not receive it.
    user.write_dotenv("KEYWARD_SERVER=http://127.0.0.1:1\n");
    let out = run(user.cmd(&["auth", "status"]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("the stored login is for"),
        "{}",
        out.stderr
    );
    user.remove_dotenv();

    // People read the source in plain words.
    let mut cmd = user.cmd(&["auth", "status"]);
    cmd.env("KEYWARD_API_KEY", &env);
    let out = run(cmd).ok();
    let source_line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("Source:"))
        .unwrap();
    assert!(
        source_line.ends_with(" the environment variable KEYWARD_API_KEY"),
        "{}",
        out.stdout
    );

    // With no stored login, .env can name the server too (and it stays out of the
    // process environment: the report says .env, not the environment).
    let fresh = User::new();
    fresh.write_dotenv(&format!(
        "KEYWARD_API_KEY={dotenv}\nKEYWARD_SERVER={}\n",
        server.url
    ));
    let json = run(fresh.cmd(&["auth", "status", "--json"])).ok().json();
    assert_eq!(json["source"]["type"], "dot_env");
    assert_eq!(json["server_source"]["type"], "dot_env");
    let out = run(fresh.cmd(&["auth", "status"])).ok();
    assert!(out.stdout.contains("KEYWARD_API_KEY in "), "{}", out.stdout);
    assert!(out.stdout.contains(".env"), "{}", out.stdout);
}
