//! `keyward`: the server and its administration commands. Thin: parsing and printing
//! here, everything else in the library crates.

/// mimalloc: the verify path allocates little, but what it allocates it frees at once,
/// a pattern mimalloc serves faster than glibc's malloc (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin;
mod cli;
mod config;
mod dev;
mod hooks;
mod secrets;
mod worker;

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use keyward_core::{Clock, SystemClock};
use keyward_server::bootstrap::{bootstrap, BootstrapError, DEFAULT_EMAIL, DEFAULT_ORG};
use keyward_server::{Application, Settings};
use keyward_store::{Conflict, Store, StoreError};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about = "Self-hosted API keys: issue, verify, rotate and revoke."
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// Configuration file [default: ./keyward.yaml if present]
    #[arg(long, global = true, env = "KEYWARD_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the embedded SQLite database [default: ./keyward-data]
    #[arg(long, global = true, env = "KEYWARD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL (sqlite://path or postgres://…); overrides --data-dir
    #[arg(
        long,
        global = true,
        env = "KEYWARD_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Keyward server.
    ///
    /// On first start with an empty database it creates the first organization and
    /// its owner, and prints the owner's token once.
    ///
    /// Example: keyward serve --listen 0.0.0.0:8080 --data-dir /var/lib/keyward
    Serve(ServeArgs),
    /// Create the first organization and its owner, and print the owner's token.
    ///
    /// Prints only the token on stdout (for scripts); refuses if an organization exists.
    ///
    /// Example: TOKEN=$(keyward bootstrap --org my-org --email team@company.com)
    Bootstrap(BootstrapArgs),
    /// Apply database migrations and exit.
    ///
    /// Example: keyward migrate --database-url sqlite://keyward-data/keyward.db
    Migrate,
    /// Write a consistent copy of the SQLite database to a file, while it is in use.
    ///
    /// SQLite only (`VACUUM INTO`); for PostgreSQL use `pg_dump -Fc` (docs/postgres.md).
    ///
    /// Example: keyward backup --to /backups/keyward-$(date +%F).db
    Backup(BackupArgs),
    /// Break-glass commands for the operator, on the database directly (no API key).
    ///
    /// For when nobody holds a working owner token: list organizations and their owners,
    /// mint an owner token, remove owner rate limits that lock owners out. Every change is
    /// recorded in the organization's audit log as an operator action. They take the
    /// database from --data-dir, --database-url or keyward.yaml like `serve`, and work
    /// while the server runs: a minted token works at once; a removed owner limit takes
    /// effect within 5 s on SQLite (the server's owner-limit cache) and at once on
    /// PostgreSQL (every node is notified).
    ///
    /// Example: keyward admin mint-owner-token --org my-org --data-dir /var/lib/keyward
    #[command(
        subcommand,
        after_help = "Examples:\n  \
            keyward admin orgs --data-dir /var/lib/keyward\n  \
            TOKEN=$(keyward admin mint-owner-token --org my-org --data-dir /var/lib/keyward)\n  \
            keyward admin clear-owner-limits --org my-org --database-url postgres://keyward@db/keyward"
    )]
    Admin(admin::AdminCommand),
    /// The vault's key-encryption keys: status, rotation, adding and retiring.
    ///
    /// Works on the database (and the key file) directly, like `admin`, while servers run.
    #[command(
        subcommand,
        after_help = "Rotation:\n  \
            keyward secrets add-kek          # new KEK in the key file, made active\n  \
            (restart the servers)\n  \
            keyward secrets rotate           # re-wrap every data key with it\n  \
            keyward secrets retire <old id>  # refused while a record needs it"
    )]
    Secrets(secrets::SecretsCommand),
    /// Developer tools (benchmark seeding).
    #[command(hide = true, subcommand)]
    Dev(dev::DevCommand),
    #[command(flatten)]
    Client(Box<cli::ClientCommand>),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "KEYWARD_LISTEN")]
    listen: Option<String>,
    /// Name of the first organization, if the database is empty [default: default]
    #[arg(long, env = "KEYWARD_BOOTSTRAP_ORG")]
    org: Option<String>,
    /// Email of the first owner, if the database is empty [default: owner@localhost]
    #[arg(long, env = "KEYWARD_BOOTSTRAP_EMAIL")]
    email: Option<String>,
    /// Key records the verify cache keeps at most; more are read from the database
    /// [default: 100000]
    #[arg(long, env = "KEYWARD_CACHE_MAX_KEYS", value_name = "N")]
    cache_max_keys: Option<usize>,
    /// Whether people may create organizations through the API (true or false)
    /// [default: true]
    #[arg(long, env = "KEYWARD_ALLOW_ORG_CREATION", value_name = "BOOL")]
    allow_org_creation: Option<bool>,
    /// Organizations one person may have created through the API [default: 10]
    #[arg(long, env = "KEYWARD_MAX_ORGS_PER_PERSON", value_name = "N")]
    max_orgs_per_person: Option<u32>,
    /// The address people reach this server at, for the links it prints and hands out
    /// (e.g. https://keys.example.com) [default: http://<listen address>]
    #[arg(long, env = "KEYWARD_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Mark console cookies Secure, with the __Host- prefix: for HTTPS, directly or
    /// behind a proxy that terminates it [default: true when --public-url is https]
    #[arg(long, env = "KEYWARD_SECURE_COOKIES", value_name = "BOOL")]
    secure_cookies: Option<bool>,
    /// A reverse proxy whose X-Forwarded-For names the client (repeat for several):
    /// the sign-in throttle and the sessions list then see clients, not the proxy
    #[arg(
        long = "trusted-proxy",
        env = "KEYWARD_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "IP"
    )]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// A console session ends after this long without a request [default: 24h]
    #[arg(long, env = "KEYWARD_SESSION_IDLE_TIMEOUT", value_name = "DURATION")]
    session_idle_timeout: Option<String>,
    /// A console session ends this long after sign-in in any case [default: 14d]
    #[arg(long, env = "KEYWARD_SESSION_MAX_AGE", value_name = "DURATION")]
    session_max_age: Option<String>,
    /// Also serve POST /__bench/floor, the baseline of bench/run.sh
    #[arg(long, hide = true)]
    bench_floor: bool,
}

#[derive(Args)]
struct BackupArgs {
    /// The file to write; must not exist yet
    #[arg(long, value_name = "FILE")]
    to: PathBuf,
}

#[derive(Args)]
struct BootstrapArgs {
    /// Organization name
    #[arg(long, default_value = DEFAULT_ORG)]
    org: String,
    /// The owner's email
    #[arg(long, default_value = DEFAULT_EMAIL)]
    email: String,
    /// Print a JSON object instead of the bare token
    #[arg(long)]
    json: bool,
}

/// The commands that run the server or work on its database, which read `.env`.
const SERVER_COMMANDS: &[&str] = &[
    "serve",
    "bootstrap",
    "migrate",
    "backup",
    "admin",
    "secrets",
    "dev",
];

fn main() -> ExitCode {
    // `.env` feeds the settings of the server's own commands (and `${VAR}` in
    // keyward.yaml). Client commands never load it into the environment: a `.env` in a
    // cloned repository must not set HTTP_PROXY or the config directory for a command
    // that sends a stored key; the client reads only its own variables from it, as a
    // separate layer (see cli::dotenv).
    let first = cli::command(Cli::command()).try_get_matches();
    let for_the_server = first
        .as_ref()
        .ok()
        .and_then(|m| m.subcommand_name())
        .is_some_and(|c| SERVER_COMMANDS.contains(&c));
    if for_the_server {
        cli::dotenv::load_server_settings();
    }
    let matches = cli::command(Cli::command()).get_matches();
    let cli = match Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit()) {
        Cli {
            command: Command::Client(client),
            ..
        } => return cli::run(*client, Cli::command),
        cli => cli,
    };
    let file = match config::load(cli.global.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    init_tracing(file.log.as_deref());
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(run(cli, file)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(from_file: Option<&str>) {
    let filter = std::env::var("KEYWARD_LOG")
        .ok()
        .or_else(|| from_file.map(str::to_owned))
        .unwrap_or_else(|| "info,sqlx=warn,tower_http=warn".to_owned());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal (and not with NO_COLOR): a log file or collector gets
        // plain text, and no request pays for escape codes nobody sees.
        .with_ansi(cli::output::Style::stderr().color)
        .init();
}

async fn open_store(
    global: &Global,
    file: &config::FileConfig,
) -> anyhow::Result<(Arc<dyn Store>, String)> {
    let data_dir = global
        .data_dir
        .clone()
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_DATA_DIR));
    let url = config::database_url(
        global
            .database_url
            .clone()
            .or_else(|| file.database_url.clone()),
        &data_dir,
    )?;
    let shown = keyward_store::redact_url(&url);
    let store = keyward_store::connect(&url)
        .await
        .with_context(|| format!("cannot open database {shown}"))?;
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate database {shown}"))?;
    Ok((store, shown))
}

/// The path of a `sqlite:` URL's file.
fn sqlite_path(url: &str) -> &str {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    path.split('?').next().unwrap_or(path)
}

/// [`open_store`] for commands that need a database that exists: a missing SQLite file
/// (a wrong --data-dir) is refused instead of created empty.
async fn open_existing_store(
    global: &Global,
    file: &config::FileConfig,
) -> anyhow::Result<(Arc<dyn Store>, String)> {
    let url = global
        .database_url
        .clone()
        .or_else(|| file.database_url.clone());
    let missing = match &url {
        Some(url) if url.starts_with("sqlite:") => {
            let path = PathBuf::from(sqlite_path(url));
            (!path.exists()).then_some(path)
        }
        Some(_) => None,
        None => {
            let data_dir = global
                .data_dir
                .clone()
                .or_else(|| file.data_dir.clone())
                .unwrap_or_else(|| PathBuf::from(config::DEFAULT_DATA_DIR));
            let path = data_dir.join("keyward.db");
            (!path.exists()).then_some(path)
        }
    };
    if let Some(path) = missing {
        anyhow::bail!(
            "there is no database at {}; pass the server's --data-dir or --database-url (or run where its keyward.yaml is)",
            path.display()
        );
    }
    open_store(global, file).await
}

async fn run(cli: Cli, file: config::FileConfig) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::Client(_) => anyhow::bail!("client commands are dispatched in main"),
        Command::Dev(command) => {
            let (store, _) = open_store(&cli.global, &file).await?;
            let result = dev::run(command, store.as_ref(), clock.as_ref()).await;
            store.close().await;
            result
        }
        Command::Backup(args) => backup(&cli.global, &file, &args.to).await,
        Command::Secrets(command) => {
            let data_dir = secrets::data_dir(cli.global.data_dir.clone(), &file);
            let (store, _) = open_existing_store(&cli.global, &file).await?;
            let result = secrets::run(command, &file, &data_dir, store.as_ref()).await;
            store.close().await;
            result
        }
        Command::Admin(command) => {
            let (store, _) = open_existing_store(&cli.global, &file).await?;
            let result = admin::run(command, store.as_ref(), clock.as_ref()).await;
            store.close().await;
            result
        }
        Command::Migrate => {
            let (store, shown) = open_store(&cli.global, &file).await?;
            store.close().await;
            println!("database {shown} is up to date");
            Ok(())
        }
        Command::Bootstrap(args) => {
            let (store, shown) = open_store(&cli.global, &file).await?;
            let result = bootstrap(store.as_ref(), clock.as_ref(), &args.org, &args.email).await;
            let result = match result {
                Ok((token, record)) => owner_link(store.as_ref(), clock.as_ref(), &record)
                    .await
                    .map(|link| (token, record, link)),
                Err(BootstrapError::Store(StoreError::Conflict(Conflict::AlreadyBootstrapped))) => {
                    Err(anyhow::anyhow!("{shown} already has an organization; bootstrap runs only on an empty database"))
                }
                Err(e) => Err(e.into()),
            };
            store.close().await;
            let (token, record, link) = result?;
            let base = file
                .console
                .as_ref()
                .and_then(|c| c.public_url.clone())
                .unwrap_or_else(|| {
                    let listen = file
                        .listen
                        .clone()
                        .unwrap_or_else(|| config::DEFAULT_LISTEN.to_owned());
                    format!("http://{listen}")
                });
            let link = keyward_server::people::links::url(&base, &link);
            if args.json {
                let out = serde_json::json!({
                    "password_link": link,
                    "token": token.expose_secret(),
                    "key_id": record.id,
                    "org": { "id": record.org_id, "name": record.org_name },
                    "email": args.email.trim(),
                });
                println!("{out}");
            } else {
                println!("{}", token.expose_secret());
                eprintln!("Set the owner's password in the console (one-time link, valid for 24 hours):\n    {link}");
            }
            Ok(())
        }
        Command::Serve(args) => {
            let console = console_settings(&args, file.console.clone().unwrap_or_default())?;
            let listen = args
                .listen
                .or(file.listen.clone())
                .unwrap_or_else(|| config::DEFAULT_LISTEN.to_owned());
            let listen = listen.parse().with_context(|| {
                format!("--listen {listen:?} is not an address like 127.0.0.1:8080")
            })?;
            let cache_max_keys = args
                .cache_max_keys
                .or(file.cache_max_keys)
                .unwrap_or(keyward_server::state::DEFAULT_CACHE_MAX_KEYS);
            if cache_max_keys == 0 {
                anyhow::bail!("--cache-max-keys (cache_max_keys) must be at least 1");
            }
            let organizations = file.organizations.clone().unwrap_or_default();
            let defaults = keyward_server::state::Policy::default();
            let policy = keyward_server::state::Policy {
                allow_org_creation: args
                    .allow_org_creation
                    .or(organizations.allow_create)
                    .unwrap_or(defaults.allow_org_creation),
                max_orgs_per_person: args
                    .max_orgs_per_person
                    .or(organizations.max_per_person)
                    .unwrap_or(defaults.max_orgs_per_person),
                console: defaults.console.clone(),
                integrations: defaults.integrations.clone(),
                webhooks: defaults.webhooks.clone(),
                workers: defaults.workers.clone(),
            };
            if policy.max_orgs_per_person == 0 {
                anyhow::bail!(
                    "--max-orgs-per-person (organizations.max_per_person) must be at least 1; \
                     to stop people creating organizations use --allow-org-creation false"
                );
            }
            let data_dir = secrets::data_dir(cli.global.data_dir.clone(), &file);
            let integrations = secrets::config(&file, &data_dir)?;
            let webhooks = hooks::config(&file)?;
            let workers = hooks::workers(&file)?;
            let policy = keyward_server::state::Policy {
                console,
                integrations,
                webhooks,
                workers,
                ..policy
            };
            let (store, shown) = open_store(&cli.global, &file).await?;
            let bootstrap_file = file.bootstrap.unwrap_or_default();
            let app = Application::build(
                Settings {
                    listen,
                    bench_floor: args.bench_floor,
                    cache_max_keys,
                    policy,
                    ..Settings::default()
                },
                store.clone(),
                clock.clone(),
            )
            .await?;
            let shutdown = keyward_server::shutdown_signal();
            let base = app
                .state()
                .policy
                .console
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", app.local_addr()));
            if store.organization_count().await? == 0 {
                let org = args
                    .org
                    .or(bootstrap_file.org)
                    .unwrap_or_else(|| DEFAULT_ORG.to_owned());
                let email = args
                    .email
                    .or(bootstrap_file.email)
                    .unwrap_or_else(|| DEFAULT_EMAIL.to_owned());
                match bootstrap(store.as_ref(), clock.as_ref(), &org, &email).await {
                    Ok((token, record)) => {
                        // The token is printed whatever happens to the link: it exists
                        // now and is never shown again.
                        let link = match owner_link(store.as_ref(), clock.as_ref(), &record).await
                        {
                            Ok(link) => keyward_server::people::links::url(&base, &link),
                            Err(e) => format!(
                                "(no link: {e:#}; `keyward admin password-link --org {}` makes one)",
                                record.org_name
                            ),
                        };
                        print_first_start(
                            &base,
                            &record.org_name,
                            &email,
                            token.expose_secret(),
                            &link,
                        )
                    }
                    // Another process bootstrapped first: nothing to print.
                    Err(BootstrapError::Store(StoreError::Conflict(
                        Conflict::AlreadyBootstrapped,
                    ))) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            println!("Keyward is listening on {base} (database {shown}). API description: {base}/openapi.json");
            app.run_until_stopped(shutdown).await
        }
    }
}

/// `keyward backup`: SQLite's online backup into a new file; PostgreSQL is refused with
/// the command to use instead.
async fn backup(
    global: &Global,
    file: &config::FileConfig,
    to: &std::path::Path,
) -> anyhow::Result<()> {
    let url = global
        .database_url
        .clone()
        .or_else(|| file.database_url.clone());
    if let Some(url) = url.as_deref().filter(|u| u.starts_with("postgres")) {
        anyhow::bail!(
            "keyward backup copies SQLite databases only; {} is PostgreSQL: use its own tools, \
             e.g. pg_dump -Fc -f keyward.dump '<database url>' (see docs/postgres.md)",
            keyward_store::redact_url(url)
        );
    }
    if to.exists() {
        anyhow::bail!("{} already exists; backup writes a new file", to.display());
    }
    let data_dir = global
        .data_dir
        .clone()
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_DATA_DIR));
    let url = config::database_url(url, &data_dir)?;
    let shown = keyward_store::redact_url(&url);
    // Connecting would create an empty database and back that up: refuse instead.
    let path = sqlite_path(&url);
    if !std::path::Path::new(path).exists() {
        anyhow::bail!("there is no database at {path}; nothing to back up (check --data-dir or --database-url)");
    }
    let store = keyward_store::sqlite::SqliteStore::connect(&url)
        .await
        .with_context(|| format!("cannot open database {shown}"))?;
    let target = to.to_str().context("the backup path is not valid UTF-8")?;
    let result = store.backup_to(target).await;
    store.close().await;
    result.with_context(|| format!("cannot write the backup to {}", to.display()))?;
    println!("backed up {shown} to {}", to.display());
    Ok(())
}

/// The first owner's one-time link to set a password (valid for a day).
async fn owner_link(
    store: &dyn keyward_store::Store,
    clock: &dyn Clock,
    owner_key: &keyward_store::KeyRecord,
) -> anyhow::Result<keyward_core::invite::PasswordLinkCode> {
    use keyward_server::people::links;
    let Some(keyward_core::Owner::User { id, .. }) = &owner_key.owner else {
        anyhow::bail!("the bootstrap token has no owner");
    };
    let code = links::issue(
        store,
        links::Issue {
            user_id: id,
            org_id: &owner_key.org_id,
            purpose: keyward_store::PasswordPurpose::Setup,
            at: clock.now(),
            lifetime: keyward_server::people::Settings::default().link_lifetime,
            actor: links::system_actor(),
            source_ip: None,
        },
    )
    .await?;
    Ok(code)
}

/// The console's settings from flags, then `keyward.yaml`, then defaults.
fn console_settings(
    args: &ServeArgs,
    file: config::ConsoleConfig,
) -> anyhow::Result<keyward_server::people::Settings> {
    let defaults = keyward_server::people::Settings::default();
    let public_url = args
        .public_url
        .clone()
        .or(file.public_url)
        .map(|u| u.trim_end_matches('/').to_owned());
    if let Some(u) = &public_url {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            anyhow::bail!(
                "--public-url (console.public_url) {u:?} must start with http:// or https://"
            );
        }
    }
    let https = public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let duration = |flag: &str, raw: Option<String>, default: chrono::Duration| match raw {
        None => Ok(default),
        Some(raw) => {
            keyward_core::expiry::parse_duration(&raw, chrono::Duration::days(365), "365d")
                .ok()
                .filter(|d| *d > chrono::Duration::zero())
                .ok_or_else(|| {
                    anyhow::anyhow!("{flag} {raw:?} is not a duration like 30m, 24h or 14d")
                })
        }
    };
    let timeouts = keyward_server::people::session::Timeouts {
        idle: duration(
            "--session-idle-timeout",
            args.session_idle_timeout
                .clone()
                .or(file.session_idle_timeout),
            defaults.timeouts.idle,
        )?,
        absolute: duration(
            "--session-max-age",
            args.session_max_age.clone().or(file.session_max_age),
            defaults.timeouts.absolute,
        )?,
    };
    let trusted_proxies = if args.trusted_proxies.is_empty() {
        file.trusted_proxies.unwrap_or_default()
    } else {
        args.trusted_proxies.clone()
    };
    Ok(keyward_server::people::Settings {
        secure_cookies: args.secure_cookies.or(file.secure_cookies).unwrap_or(https),
        timeouts,
        public_url,
        trusted_proxies,
        ..defaults
    })
}

fn print_first_start(base: &str, org: &str, email: &str, token: &str, link: &str) {
    println!(
        "\nCreated organization \"{org}\" with owner {email}.\n\
         \nOpen the console and set the owner's password (one-time link, valid for 24 hours):\n\
         \n    {link}\n\
         \nThe owner's personal access token (shown once; store it now):\n\
         \n    {token}\n\
         \nTry it:\n\
         \n    export KEYWARD_API_KEY={token}\
         \n    curl -s -H \"Authorization: Bearer $KEYWARD_API_KEY\" {base}/v1/me\
         \n    curl -s -H \"Authorization: Bearer $KEYWARD_API_KEY\" -H 'Content-Type: application/json' \\\
         \n         -d '{{\"name\": \"my first key\", \"expires\": \"30d\"}}' {base}/v1/keys\n"
    );
}
