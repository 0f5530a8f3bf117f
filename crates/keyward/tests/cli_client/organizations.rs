//! Organization commands, legacy workspace tokens and invitations.

use super::*;

#[test]
fn organization_commands_work_end_to_end() {
    let server = Server::start();
    let user = User::new();
    user.login(&server, &server.token);
    let ws = run(user.cmd(&["workspaces", "create", "production", "--json"]))
        .ok()
        .json();
    let ws_id = ws["id"].as_str().unwrap().to_owned();
    run(user.cmd(&["agents", "create", "support-bot"])).ok();
    let channel = run(user.cmd(&[
        "channels",
        "create",
        "--agent",
        "support-bot",
        "--name",
        "whatsapp",
        "--json",
    ]))
    .ok()
    .json();
    assert!(channel["hook_id"].is_string());
    assert!(channel["agent_id"].as_str().unwrap().starts_with("agt_"));

    // A service account's key: only the key on stdout when piped.
    let out = run(user.cmd(&[
        "service-accounts",
        "create",
        "--name",
        "production-bot",
        "--scopes",
        "integrations:read,integrations:write,skills:execute",
    ]))
    .ok();
    let sa_key = out.stdout.trim_end().to_owned();
    assert!(sa_key.starts_with("kw_sa_"), "{}", out.stdout);
    keyward_client::offline_check(&sa_key).unwrap();
    assert!(
        out.stderr.contains("cannot be retrieved again"),
        "{}",
        out.stderr
    );
    let who = run(user.cmd(&["auth", "whoami", "--token", &sa_key])).ok();
    assert_eq!(
        who.stdout,
        "Authenticated as: production-bot (service account, org: my-org)\n"
    );
    let accounts = run(user.cmd(&["service-accounts", "list", "--json"]))
        .ok()
        .json();
    assert_eq!(accounts["data"][0]["scopes"].as_array().unwrap().len(), 3);

    // Scopes by name, edited permissions.
    let scoped = run(user.cmd(&[
        "keys",
        "create",
        "--name",
        "scoped",
        "--workspaces",
        "production",
        "--read-only",
        "--json",
    ]))
    .ok()
    .json();
    assert_eq!(scoped["scope"]["type"], "workspaces");
    assert_eq!(scoped["scope"]["workspaces"][0], ws_id.as_str());
    let edited = run(user.cmd(&[
        "keys",
        "edit",
        "scoped",
        "--permission",
        "keys:read",
        "--json",
    ]))
    .ok()
    .json();
    assert_eq!(edited["permissions"], serde_json::json!(["keys:read"]));
    assert_eq!(run(user.cmd(&["keys", "edit", "scoped"])).code, 2);

    // Members join by invitation: the inviter gets a code, the member their own token.
    let invited = run(user.cmd(&[
        "members",
        "invite",
        "--email",
        "alice@company.com",
        "--role",
        "member",
        "--json",
    ]))
    .ok()
    .json();
    assert_eq!(invited["invitation"]["role"], "member");
    assert_eq!(invited["invitation"]["status"], "pending");
    let code = invited["code"].as_str().unwrap().to_owned();
    assert!(code.starts_with("kw_inv_"), "{code}");
    let alice_machine = User::new();
    let accepted = run(alice_machine.cmd(&[
        "auth",
        "accept-invite",
        &code,
        "--server",
        &server.url,
        "--json",
    ]))
    .ok()
    .json();
    assert_eq!(accepted["member"]["role"], "member");
    assert_eq!(accepted["organization"]["name"], "my-org");
    let alice = accepted["token"]["key"].as_str().unwrap().to_owned();
    let who = run(user.cmd(&["auth", "whoami", "--token", &alice])).ok();
    assert_eq!(
        who.stdout,
        "Authenticated as: alice@company.com (org: my-org)\n"
    );
    // Removal asks for confirmation and revokes their keys.
    assert_eq!(
        run(user.cmd(&["members", "remove", "alice@company.com"])).code,
        2
    );
    run(user.cmd(&["members", "remove", "alice@company.com", "--yes"])).ok();
    assert_eq!(
        run(user.cmd(&["auth", "whoami", "--token", &alice])).code,
        3
    );

    // Deleting a service account revokes its keys.
    run(user.cmd(&["service-accounts", "delete", "production-bot", "--yes"])).ok();
    assert_eq!(
        run(user.cmd(&["auth", "whoami", "--token", &sa_key])).code,
        3
    );

    // An agent with a channel cannot go: exit 1 with the server's code.
    let out = run(user.cmd(&["agents", "delete", "support-bot", "--yes"]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("[resource_in_use]"), "{}", out.stderr);
    let lists = [
        &["workspaces", "list", "--json"][..],
        &["agents", "list", "--json"],
        &["channels", "list", "--json"],
        &["members", "list", "--json"],
        &["members", "invitations", "--json"],
    ];
    for args in lists {
        let json = run(user.cmd(args)).ok().json();
        assert!(json["data"].is_array(), "{args:?}");
    }
}

#[test]
fn legacy_workspace_tokens_are_warned_about() {
    let server = Server::start();
    let user = User::new();
    user.login(&server, &server.token);
    let status = run(user.cmd(&["auth", "status", "--json"])).ok().json();
    let org = status["org"]["id"].as_str().unwrap().to_owned();
    // Legacy tokens can be created only where the organization allows it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .patch(format!("{}/v1/organizations/{org}", server.url))
            .bearer_auth(&server.token)
            .json(&serde_json::json!({ "settings": { "allow_legacy_tokens": true } }))
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{response:?}");
    });
    run(user.cmd(&["workspaces", "create", "production"])).ok();
    let (legacy, _) = create_key(
        &user,
        &server,
        &[
            "--name",
            "old",
            "--kind",
            "legacy-workspace",
            "--workspace",
            "production",
        ],
    );
    assert!(legacy.starts_with("kw_ws_"));
    let out = run(user.cmd(&["auth", "status", "--token", &legacy])).ok();
    assert!(
        out.stderr.contains("warning:") && out.stderr.contains("deprecated"),
        "{}",
        out.stderr
    );
    let json = run(user.cmd(&["auth", "status", "--json", "--token", &legacy]))
        .ok()
        .json();
    assert!(json["warnings"][0].as_str().unwrap().contains("deprecated"));
    // Every command warns, from the Deprecation header.
    let out = run(user.cmd(&["auth", "whoami", "--token", &legacy])).ok();
    assert!(out.stderr.contains("deprecated"), "{}", out.stderr);
}

#[test]
fn invitations_hand_over_a_code_and_only_the_invited_person_gets_a_token() {
    let server = Server::start();
    let owner = User::new();
    owner.login(&server, &server.token);

    // Piped: only the code on stdout; what to do with it on stderr; no token anywhere.
    let out = run(owner.cmd(&[
        "members",
        "invite",
        "--email",
        "alice@company.com",
        "--role",
        "member",
    ]))
    .ok();
    let code = out.stdout.trim_end_matches('\n').to_owned();
    assert!(!code.contains('\n'), "{:?}", out.stdout);
    keyward_client::InvitationCode::parse(code.as_str()).expect("stdout is exactly one code");
    assert!(
        !out.stdout.contains("kw_pat_") && !out.stderr.contains("kw_pat_"),
        "the inviter gets no token: {}{}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stderr
            .contains("Give this code to alice@company.com over a channel you trust; they run:")
            && out.stderr.contains(&format!(
                "keyward auth accept-invite <code> --server {}",
                server.url
            )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("It expires in 1 day"), "{}", out.stderr);
    assert!(!out.stderr.contains(&code), "the code is printed once");
    let list = run(owner.cmd(&["members", "invitations", "--json"]))
        .ok()
        .json();
    assert_eq!(list["data"][0]["email"], "alice@company.com");
    assert_eq!(list["data"][0]["status"], "pending");
    let table = run(owner.cmd(&["members", "invitations"])).ok().stdout;
    assert!(
        table.contains("alice@company.com") && table.contains("pending"),
        "{table}"
    );

    // A mistyped code is refused before it is sent.
    let alice = User::new();
    let mut typo = code.clone();
    let i = "kw_inv_".len() + 2;
    let swapped = if &typo[i..=i] == "a" { "b" } else { "a" };
    typo.replace_range(i..=i, swapped);
    let out = run(alice.cmd(&["auth", "accept-invite", &typo, "--server", &server.url]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("not a valid invitation code"),
        "{}",
        out.stderr
    );

    // The invited person redeems it (no key needed: new to Keyward) and gets a token that
    // works; piped, only the token is on stdout.
    let out = run(alice.cmd(&["auth", "accept-invite", &code, "--server", &server.url])).ok();
    let token = out.stdout.trim_end_matches('\n').to_owned();
    assert!(token.starts_with("kw_pat_"), "{}", out.stdout);
    keyward_client::offline_check(&token).expect("stdout is exactly one key");
    assert!(
        out.stderr.contains("Joined \"my-org\" as member"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("will not be shown again"),
        "{}",
        out.stderr
    );
    let who = run(owner.cmd(&["auth", "whoami", "--token", &token])).ok();
    assert_eq!(
        who.stdout,
        "Authenticated as: alice@company.com (org: my-org)\n"
    );

    // A code works once: a clear message and exit code 1.
    let again = run(alice.cmd(&["auth", "accept-invite", &code, "--server", &server.url]));
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(
        again.stderr.contains("already redeemed") && again.stderr.contains("[invitation_used]"),
        "{}",
        again.stderr
    );
    let list = run(owner.cmd(&["members", "invitations", "--json"]))
        .ok()
        .json();
    assert_eq!(list["data"], serde_json::json!([]));

    // From stdin with `-`, and --login stores the new token for the server.
    let code = run(owner.cmd(&[
        "members",
        "invite",
        "--email",
        "bob@company.com",
        "--role",
        "member",
    ]))
    .ok()
    .stdout;
    let bob = User::new();
    let out = bob
        .cmd(&[
            "auth",
            "accept-invite",
            "-",
            "--server",
            &server.url,
            "--login",
        ])
        .write_stdin(code.clone())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        support::text(&out.stderr).contains("Logged in to"),
        "{out:?}"
    );
    let who = run(bob.cmd(&["auth", "whoami"])).ok();
    assert_eq!(
        who.stdout,
        "Authenticated as: bob@company.com (org: my-org)\n"
    );
    assert_eq!(mode(&bob.credentials_path()), 0o600);

    // A revoked invitation's code stops working; revoking asks for confirmation.
    let code = run(owner.cmd(&[
        "members",
        "invite",
        "--email",
        "carol@company.com",
        "--role",
        "member",
    ]))
    .ok()
    .stdout;
    let out = run(owner.cmd(&["members", "revoke-invitation", "carol@company.com"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = run(owner.cmd(&["members", "revoke-invitation", "carol@company.com", "--yes"])).ok();
    assert!(out
        .stdout
        .contains("Revoked the invitation of carol@company.com"));
    let out = run(User::new().cmd(&[
        "auth",
        "accept-invite",
        code.trim(),
        "--server",
        &server.url,
    ]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("[invitation_expired]"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_existing_persons_invitation_needs_their_own_token() {
    let server = Server::start();
    let alice_in_my_org = invite_and_accept(&server, &server.token, "alice@company.com", "member");
    // A second organization, whose owner invites alice, who has an account already.
    let other_org = create_org(&server, &server.token, "other-org");
    let owner = User::new();
    let code = run(owner.cmd(&[
        "members",
        "invite",
        "--email",
        "alice@company.com",
        "--role",
        "org-admin",
        "--token",
        &other_org,
        "--server",
        &server.url,
    ]))
    .ok()
    .stdout
    .trim()
    .to_owned();

    // Without a key of hers: told what to do, exit 3.
    let alice = User::new();
    let out = run(alice.cmd(&["auth", "accept-invite", &code, "--server", &server.url]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("already has a Keyward account")
            && out.stderr.contains("keyward auth login")
            && out.stderr.contains("[identity_required]"),
        "{}",
        out.stderr
    );
    // With someone else's key: refused, and named.
    let out = run(alice.cmd(&[
        "auth",
        "accept-invite",
        &code,
        "--server",
        &server.url,
        "--token",
        &server.token,
    ]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the API key from the --token flag is not one of that person's"),
        "{}",
        out.stderr
    );
    // Her key in KEYWARD_API_KEY is not sent to a server that asks for one unless
    // KEYWARD_SERVER (in the environment, not a .env) names that server.
    let mut with_env = alice.cmd(&["auth", "accept-invite", &code, "--server", &server.url]);
    with_env.env("KEYWARD_API_KEY", &alice_in_my_org);
    let out = run(with_env);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("[identity_required]"), "{}", out.stderr);
    // A stored login for another server URL is not sent.
    alice.login(&server, &alice_in_my_org);
    let elsewhere = server.url.replace("127.0.0.1", "localhost");
    let out = run(alice.cmd(&["auth", "accept-invite", &code, "--server", &elsewhere]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("[identity_required]")
            && out.stderr.contains("the stored login is for"),
        "{}",
        out.stderr
    );
    // The failed attempts did not spend the code; her stored login for this server
    // proves who she is.
    let accepted = run(alice.cmd(&[
        "auth",
        "accept-invite",
        &code,
        "--server",
        &server.url,
        "--json",
    ]))
    .ok()
    .json();
    assert_eq!(accepted["organization"]["name"], "other-org");
    assert_eq!(accepted["member"]["role"], "org_admin");
    let token = accepted["token"]["key"].as_str().unwrap();
    let who = run(alice.cmd(&["auth", "whoami", "--token", token])).ok();
    assert_eq!(
        who.stdout,
        "Authenticated as: alice@company.com (org: other-org)\n"
    );
}

#[test]
fn an_invitation_also_comes_as_a_console_join_link() {
    let server = Server::start();
    let owner = User::new();
    owner.login(&server, &server.token);
    let json = run(owner.cmd(&[
        "members",
        "invite",
        "--email",
        "bob@company.com",
        "--role",
        "member",
        "--json",
    ]))
    .ok()
    .json();
    let code = json["code"].as_str().unwrap();
    assert_eq!(
        json["link"].as_str().unwrap(),
        format!("{}/console/join?code={code}", server.url)
    );
    // Piped with --link: only the link on stdout, and it is printed once.
    let out = run(owner.cmd(&[
        "members",
        "invite",
        "--email",
        "carol@company.com",
        "--role",
        "member",
        "--link",
    ]))
    .ok();
    let link = out.stdout.trim_end_matches('\n');
    assert!(
        link.starts_with(&format!("{}/console/join?code=kw_inv_", server.url))
            && !link.contains('\n'),
        "{:?}",
        out.stdout
    );
    assert!(!out.stderr.contains(link), "{}", out.stderr);
    assert!(out.stderr.contains("Copy the link now"), "{}", out.stderr);
}
