//! Webhook ingress: `keyward webhooks create|list|show|edit|disable|enable|delete|
//! rotate-secret|deliveries|delivery|replay` (the server's `http/webhooks.rs`).
//!
//! The provider's secrets go to the server and never come back: listings show their
//! first characters only. They are read from files (`--secret-file`) or stdin
//! (`--secret -`, a hidden prompt on a terminal) rather than from the command line,
//! which other users of the machine can read (`ps`). Keyward's own `whsec_` signing
//! secret, and the Telegram secret token Keyward generates, are printed once, by
//! `create` and `rotate-secret` (see [`super::once`]).

use super::context::{ConnArgs, Context, Session};
use super::failure::{CmdResult, Failure};
use super::once::{self, Shown};
use super::output::{self, Cell, Color};
use super::parse;
use super::prompt;
use chrono::{DateTime, Utc};
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use keyward_client::{
    CreateWebhookEndpointRequest, DeliveryAttempt, DeliveryQuery, DeliveryStatus, Page,
    RotateSigningSecretRequest, SecretHint, UpdateWebhookEndpointRequest, WebhookDelivery,
    WebhookEndpoint, WebhookEndpointQuery, WebhookEndpointStatus, WebhookProvider,
    WebhookSecretInput,
};
use serde_json::json;
use std::future::Future;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;

/// Upper bound on pages read by one `--all` (100 entries each).
const MAX_PAGES: usize = 1000;
/// A secret file larger than this is not a secret file.
const MAX_SECRET_FILE: u64 = 64 * 1024;
/// Widest error shown in the deliveries table (`webhooks delivery` shows it whole).
const ERROR_WIDTH: usize = 60;

pub const NOTICE: &str = "Copy the signing secret now: it will not be shown again.";
const NOTICE_TWO: &str =
    "Copy the signing secret and the Telegram secret token now: they will not be shown again.";

// ------------------------------------------------------------------------- arguments

#[derive(Args)]
pub struct WebhooksArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: WebhooksCommand,
}

#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// Create an endpoint that receives a provider's webhooks; print its signing secret once.
    #[command(
        long_about = "Create an endpoint that receives a provider's webhooks, checks their \
            signature, keeps each event and delivers it to --destination, re-signed with \
            Standard Webhooks. Prints the ingress URL (give it to the provider) and the \
            endpoint's whsec_ signing secret (give it to your app) once; for Telegram without \
            --secret, also the secret token Keyward generated (pass it to setWebhook as \
            secret_token).\n\n\
            The provider's secret: --secret-file PATH, or --secret - to read it from stdin \
            (a hidden prompt on a terminal). --secret VALUE works too, but the command line \
            is visible to other users of this machine (ps, /proc) and stays in your shell's \
            history. Repeat --secret/--secret-file while the provider's secret is being \
            rotated: a signature made with any of them is accepted.\n\n\
            When stdout is not a terminal only the signing secret is printed on stdout (the \
            details on stderr), so `SECRET=$(keyward webhooks create …)` works; a generated \
            Telegram secret token needs --json there.",
        after_help = "Examples:\n  \
            keyward webhooks create --provider slack --name support-bot --destination https://app.example.com/hooks/slack --secret-file slack-signing-secret.txt\n  \
            pass show slack/signing-secret | keyward webhooks create --provider slack --name bot --destination https://app.example.com/slack --secret -\n  \
            keyward webhooks create --provider whatsapp --name wa --destination https://app.example.com/wa --secret-file meta-app-secret.txt --verify-token-file verify-token.txt\n  \
            keyward webhooks create --provider telegram --name tg --destination https://app.example.com/tg --json   # Keyward generates the secret token\n  \
            keyward webhooks create --provider discord --name interactions --destination https://app.example.com/discord --secret 0f4c…   # a public key, not secret"
    )]
    Create(CreateArgs),
    /// List webhook endpoints: id, name, provider, status, destination.
    #[command(after_help = "Examples:\n  \
        keyward webhooks list\n  \
        keyward webhooks list --provider slack --workspace production\n  \
        keyward webhooks list --all --json | jq -r '.data[].ingress_url'")]
    List(ListArgs),
    /// Show one endpoint: status, destination, ingress URL, its secrets' prefixes and
    /// signing secrets, failures.
    #[command(after_help = "Example:\n  keyward webhooks show wh_…")]
    Show(EndpointRef),
    /// Rename an endpoint, change its destination, or replace the provider's secrets.
    #[command(
        long_about = "Rename an endpoint, change its destination, or replace the provider's \
            secrets: --secret/--secret-file replace all of them, so to rotate the provider's \
            secret give the new and the old one, then later the new one alone. Endpoints \
            from keyward.yaml are changed there.",
        after_help = "Examples:\n  \
            keyward webhooks edit wh_… --name support-bot-eu\n  \
            keyward webhooks edit wh_… --destination https://app.example.com/v2/slack\n  \
            keyward webhooks edit wh_… --secret-file new-secret.txt --secret-file old-secret.txt"
    )]
    Edit(EditArgs),
    /// Stop delivering: what arrives is still verified and kept, as failed deliveries.
    #[command(after_help = "Example:\n  keyward webhooks disable wh_…")]
    Disable(EndpointRef),
    /// Deliver again (and forget the failure streak); replay what was kept meanwhile.
    #[command(after_help = "Examples:\n  \
        keyward webhooks enable wh_…\n  \
        keyward webhooks replay wh_… --since 24h")]
    Enable(EndpointRef),
    /// Delete an endpoint: its ingress URL stops accepting the provider's webhooks.
    #[command(
        long_about = "Delete an endpoint: its ingress URL stops accepting the provider's \
            webhooks.\n\n\
            Asks for confirmation; pass --yes when stdin is not a terminal (scripts, CI).",
        after_help = "Example:\n  keyward webhooks delete wh_… --yes"
    )]
    Delete(ConfirmedRef),
    /// Make a new signing secret and print it once; the old one keeps signing for --overlap.
    #[command(
        name = "rotate-secret",
        long_about = "Make a new whsec_ signing secret for an endpoint's deliveries and print \
            it once (only the secret on stdout when it is not a terminal). During --overlap \
            each delivery is signed with both the new and the replaced secret, so your app \
            can switch to the new one without refusing any.",
        after_help = "Examples:\n  \
            keyward webhooks rotate-secret wh_…\n  \
            keyward webhooks rotate-secret wh_… --overlap 1h\n  \
            keyward webhooks rotate-secret wh_… --overlap 0   # the old secret stops now"
    )]
    RotateSecret(RotateArgs),
    /// List what an endpoint received, newest first: status, attempts, last answer.
    #[command(after_help = "Examples:\n  \
        keyward webhooks deliveries wh_…\n  \
        keyward webhooks deliveries wh_… --status failed --limit 20\n  \
        keyward webhooks deliveries wh_… --status refused --json")]
    Deliveries(DeliveriesArgs),
    /// Show one delivery with every attempt.
    #[command(after_help = "Example:\n  keyward webhooks delivery wh_… msg_…")]
    Delivery(DeliveryRef),
    /// Deliver again one delivery, or every failed one received since a time.
    #[command(
        long_about = "Deliver again one delivery (failed or delivered), or every failed \
            delivery received since --since. A replay carries the same webhook-id as the \
            first attempt, so your app recognizes an event it already handled.",
        override_usage = "keyward webhooks replay [OPTIONS] <ENDPOINT_ID> <DELIVERY_ID>\n       \
            keyward webhooks replay [OPTIONS] <ENDPOINT_ID> --since <TIME>",
        after_help = "Examples:\n  \
            keyward webhooks replay wh_… msg_…\n  \
            keyward webhooks replay wh_… --since 2h\n  \
            keyward webhooks replay wh_… --since 2026-12-01T00:00:00Z"
    )]
    Replay(ReplayArgs),
}

/// `--provider`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    /// WhatsApp Cloud API (Meta): the Meta app secret, and --verify-token
    Whatsapp,
    /// Slack: the Slack app's signing secret
    Slack,
    /// Telegram Bot API: a secret token (Keyward makes one without --secret)
    Telegram,
    /// Discord interactions: the application's public key (64 hex)
    Discord,
    /// Standard Webhooks (Svix and others): a whsec_ secret
    Standard,
}

impl From<ProviderArg> for WebhookProvider {
    fn from(p: ProviderArg) -> Self {
        match p {
            ProviderArg::Whatsapp => WebhookProvider::Whatsapp,
            ProviderArg::Slack => WebhookProvider::Slack,
            ProviderArg::Telegram => WebhookProvider::Telegram,
            ProviderArg::Discord => WebhookProvider::Discord,
            ProviderArg::Standard => WebhookProvider::Standard,
        }
    }
}

/// The provider's secrets and the WhatsApp verify token, from files, stdin or argv.
#[derive(Args, Default)]
pub struct SecretArgs {
    /// The provider's secret, or `-` to read it from stdin (repeatable). Visible to other
    /// users on the command line: prefer --secret-file or `-`
    #[arg(long = "secret", value_name = "SECRET|-")]
    secrets: Vec<String>,
    /// A file holding one of the provider's secrets (surrounding whitespace ignored;
    /// repeatable)
    #[arg(long = "secret-file", value_name = "PATH")]
    secret_files: Vec<PathBuf>,
    /// WhatsApp: the verify token of Meta's handshake, or `-` to read it from stdin
    #[arg(long, value_name = "TOKEN|-", conflicts_with = "verify_token_file")]
    verify_token: Option<String>,
    /// WhatsApp: a file holding the verify token
    #[arg(long, value_name = "PATH")]
    verify_token_file: Option<PathBuf>,
}

#[derive(Args)]
pub struct CreateArgs {
    /// Whose webhooks the endpoint receives
    #[arg(long, value_enum)]
    provider: ProviderArg,
    /// Its name, 1 to 100 characters
    #[arg(long, short = 'n')]
    name: String,
    /// Your app's URL (http or https) that receives each event
    #[arg(long, value_name = "URL")]
    destination: String,
    /// The workspace it belongs to [default: the whole organization]
    #[arg(long)]
    workspace: Option<String>,
    #[command(flatten)]
    secrets: SecretArgs,
    /// Create it disabled: it verifies and keeps what arrives, delivers nothing
    #[arg(long)]
    disabled: bool,
}

#[derive(Args)]
pub struct ListArgs {
    /// Only this provider's endpoints
    #[arg(long, value_enum)]
    provider: Option<ProviderArg>,
    /// Only endpoints of this workspace
    #[arg(long)]
    workspace: Option<String>,
    /// How many endpoints to show (pages as needed)
    #[arg(long, short = 'L', default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    limit: u32,
    /// Continue after a previous page (its next_cursor)
    #[arg(long)]
    cursor: Option<String>,
    /// Every endpoint, however many pages that takes
    #[arg(long, conflicts_with_all = ["limit", "cursor"])]
    all: bool,
}

#[derive(Args)]
pub struct EndpointRef {
    /// The endpoint's id (wh_…, or its name in keyward.yaml): the ingress URL's last segment
    #[arg(value_name = "ENDPOINT_ID")]
    id: String,
}

#[derive(Args)]
pub struct ConfirmedRef {
    #[command(flatten)]
    endpoint: EndpointRef,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    yes: bool,
}

#[derive(Args)]
#[command(group(
    ArgGroup::new("change")
        .required(true)
        .multiple(true)
        .args(["name", "destination", "secrets", "secret_files", "verify_token", "verify_token_file"])
))]
pub struct EditArgs {
    #[command(flatten)]
    endpoint: EndpointRef,
    /// The new name
    #[arg(long, short = 'n')]
    name: Option<String>,
    /// The new destination URL
    #[arg(long, value_name = "URL")]
    destination: Option<String>,
    /// Replaces all the provider's secrets with those given
    #[command(flatten)]
    secrets: SecretArgs,
}

#[derive(Args)]
pub struct RotateArgs {
    #[command(flatten)]
    endpoint: EndpointRef,
    /// How long the replaced secret still signs beside the new one, 0 to 7d [default: 24h]
    #[arg(long, value_parser = parse::parse_overlap, value_name = "DURATION")]
    overlap: Option<u64>,
}

/// `--status` of deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeliveryStatusArg {
    /// Waiting for its next attempt
    Pending,
    /// The destination answered 2xx
    Delivered,
    /// Every attempt failed, or the endpoint was disabled: replay it
    Failed,
    /// The request did not verify (nothing kept but why)
    Refused,
}

impl From<DeliveryStatusArg> for DeliveryStatus {
    fn from(s: DeliveryStatusArg) -> Self {
        match s {
            DeliveryStatusArg::Pending => DeliveryStatus::Pending,
            DeliveryStatusArg::Delivered => DeliveryStatus::Delivered,
            DeliveryStatusArg::Failed => DeliveryStatus::Failed,
            DeliveryStatusArg::Refused => DeliveryStatus::Refused,
        }
    }
}

#[derive(Args)]
pub struct DeliveriesArgs {
    #[command(flatten)]
    endpoint: EndpointRef,
    /// Only deliveries with this status
    #[arg(long, value_enum)]
    status: Option<DeliveryStatusArg>,
    /// How many deliveries to show (pages as needed)
    #[arg(long, short = 'L', default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    limit: u32,
    /// Continue after a previous page (its next_cursor)
    #[arg(long)]
    cursor: Option<String>,
    /// Every delivery, however many pages that takes
    #[arg(long, conflicts_with_all = ["limit", "cursor"])]
    all: bool,
}

#[derive(Args)]
pub struct DeliveryRef {
    #[command(flatten)]
    endpoint: EndpointRef,
    /// The delivery's id (msg_…, its webhook-id)
    #[arg(value_name = "DELIVERY_ID")]
    delivery_id: String,
}

#[derive(Args)]
#[command(group(ArgGroup::new("what").required(true).args(["delivery_id", "since"])))]
pub struct ReplayArgs {
    #[command(flatten)]
    endpoint: EndpointRef,
    /// The delivery to send again (msg_…)
    #[arg(value_name = "DELIVERY_ID")]
    delivery_id: Option<String>,
    /// Instead: every failed delivery received since then (RFC 3339, a date, or a time
    /// ago such as 2h or 7d)
    #[arg(long, value_parser = parse::parse_time, value_name = "TIME")]
    since: Option<DateTime<Utc>>,
}

// ------------------------------------------------------------------------- secrets

/// Where one secret comes from.
#[derive(Debug, PartialEq, Eq)]
enum SecretSource<'a> {
    Arg(&'a str),
    Stdin,
    File(&'a PathBuf),
}

/// What [`SecretArgs`] asks to read, in order: the provider's secrets, the verify token.
#[derive(Debug)]
struct SecretPlan<'a> {
    secrets: Vec<SecretSource<'a>>,
    verify_token: Option<SecretSource<'a>>,
}

/// The secrets, read.
struct ReadSecrets {
    secrets: Vec<WebhookSecretInput>,
    verify_token: Option<WebhookSecretInput>,
}

impl SecretArgs {
    fn given(&self) -> bool {
        !self.secrets.is_empty() || !self.secret_files.is_empty()
    }

    fn verify_token_given(&self) -> bool {
        self.verify_token.is_some() || self.verify_token_file.is_some()
    }

    /// Where each value comes from; stdin at most once, and no empty value.
    fn plan(&self) -> Result<SecretPlan<'_>, Failure> {
        fn source<'a>(flag: &str, v: &'a str) -> Result<SecretSource<'a>, Failure> {
            match v {
                "-" => Ok(SecretSource::Stdin),
                v if v.trim().is_empty() => Err(Failure::usage(format!("{flag} is empty"))),
                v => Ok(SecretSource::Arg(v)),
            }
        }
        let mut secrets = Vec::new();
        for v in &self.secrets {
            secrets.push(source("--secret", v)?);
        }
        secrets.extend(self.secret_files.iter().map(SecretSource::File));
        let verify_token = match (&self.verify_token, &self.verify_token_file) {
            (Some(v), _) => Some(source("--verify-token", v)?),
            (None, Some(path)) => Some(SecretSource::File(path)),
            (None, None) => None,
        };
        let stdin = secrets
            .iter()
            .chain(verify_token.as_ref())
            .filter(|s| **s == SecretSource::Stdin)
            .count();
        if stdin > 1 {
            return Err(Failure::usage("stdin (`-`) can give only one secret")
                .with_hint("put the others in files and pass them with --secret-file or --verify-token-file"));
        }
        Ok(SecretPlan {
            secrets,
            verify_token,
        })
    }

    /// Reads what [`Self::plan`] says; `what` names the provider's secret in the prompt.
    fn read(&self, what: &str) -> Result<ReadSecrets, Failure> {
        let plan = self.plan()?;
        let read_one = |source: &SecretSource<'_>, what: &str| match source {
            SecretSource::Arg(v) => Ok(WebhookSecretInput::new(v.trim())),
            SecretSource::Stdin => {
                let raw = prompt::read_secret(
                    &format!("{what} (input is hidden): "),
                    &format!("no {what} was given on stdin"),
                )?;
                Ok(WebhookSecretInput::new(raw.trim()))
            }
            SecretSource::File(path) => read_secret_file(path),
        };
        let mut secrets = Vec::with_capacity(plan.secrets.len());
        for source in &plan.secrets {
            secrets.push(read_one(source, what)?);
        }
        let verify_token = match &plan.verify_token {
            Some(source) => Some(read_one(source, "WhatsApp verify token")?),
            None => None,
        };
        Ok(ReadSecrets {
            secrets,
            verify_token,
        })
    }
}

/// One secret from a file: its whole content, surrounding whitespace left out.
fn read_secret_file(path: &PathBuf) -> Result<WebhookSecretInput, Failure> {
    let shown = path.display();
    let cannot = |e: std::io::Error| Failure::usage(format!("cannot read {shown}: {e}"));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut raw = zeroize::Zeroizing::new(String::new());
    file.take(MAX_SECRET_FILE + 1)
        .read_to_string(&mut raw)
        .map_err(cannot)?;
    if raw.len() as u64 > MAX_SECRET_FILE {
        return Err(Failure::usage(format!(
            "{shown} is larger than 64 KiB: not a secret file"
        )));
    }
    if raw.trim().is_empty() {
        return Err(Failure::usage(format!("{shown} is empty")));
    }
    Ok(WebhookSecretInput::new(raw.trim()))
}

/// What `create` needs before anything is read or sent: the provider's secret (but for
/// Telegram, where Keyward makes one), WhatsApp's verify token, and somewhere to print a
/// generated Telegram secret token.
fn check_create(
    provider: WebhookProvider,
    secrets: &SecretArgs,
    json: bool,
    stdout_is_terminal: bool,
) -> Result<(), Failure> {
    if provider != WebhookProvider::Telegram && !secrets.given() {
        return Err(Failure::usage(format!(
            "--provider {} needs the {}",
            provider.as_str(),
            provider.secret_name()
        ))
        .with_hint("pass it with --secret-file PATH, or --secret - to read it from stdin"));
    }
    match (provider, secrets.verify_token_given()) {
        (WebhookProvider::Whatsapp, false) => {
            return Err(Failure::usage(
                "--provider whatsapp needs the verify token of Meta's handshake",
            )
            .with_hint(
                "pass it with --verify-token-file PATH, or --verify-token - to read it from stdin",
            ))
        }
        (WebhookProvider::Whatsapp, true) | (_, false) => {}
        (other, true) => {
            return Err(Failure::usage(format!(
                "--verify-token is for --provider whatsapp, not {}",
                other.as_str()
            )))
        }
    }
    if provider == WebhookProvider::Telegram && !secrets.given() && !json && !stdout_is_terminal {
        // Piped, stdout carries one secret only: the generated one would be lost.
        return Err(Failure::usage(
            "Keyward would generate the Telegram secret token and show it once, but stdout is not a terminal",
        )
        .with_hint("pass --json to get both the signing secret and the secret token, or give your own with --secret-file"));
    }
    Ok(())
}

// ------------------------------------------------------------------------- words

fn provider_label(p: WebhookProvider) -> &'static str {
    match p {
        WebhookProvider::Whatsapp => "WhatsApp",
        WebhookProvider::Slack => "Slack",
        WebhookProvider::Telegram => "Telegram",
        WebhookProvider::Discord => "Discord",
        WebhookProvider::Standard => "Standard Webhooks",
    }
}

/// Where the ingress URL goes at the provider.
fn provider_next_step(p: WebhookProvider) -> &'static str {
    match p {
        WebhookProvider::Whatsapp => "Set the ingress URL as the Callback URL of your Meta app's WhatsApp webhook, with the same verify token.",
        WebhookProvider::Slack => "Set the ingress URL as the Request URL of your Slack app's Event Subscriptions (or Interactivity).",
        WebhookProvider::Telegram => "Register the ingress URL with the Bot API's setWebhook (url = the ingress URL, secret_token = the Telegram secret token).",
        WebhookProvider::Discord => "Set the ingress URL as the Interactions Endpoint URL of your Discord application.",
        WebhookProvider::Standard => "Give the ingress URL to the sender as the endpoint's URL.",
    }
}

fn status_word(s: WebhookEndpointStatus) -> &'static str {
    match s {
        WebhookEndpointStatus::Enabled => "enabled",
        WebhookEndpointStatus::Disabled => "disabled",
    }
}

fn status_color(s: WebhookEndpointStatus) -> Color {
    match s {
        WebhookEndpointStatus::Enabled => Color::Green,
        WebhookEndpointStatus::Disabled => Color::Yellow,
    }
}

fn delivery_word(s: DeliveryStatus) -> &'static str {
    match s {
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Failed => "failed",
        DeliveryStatus::Refused => "refused",
    }
}

fn delivery_color(s: DeliveryStatus) -> Color {
    match s {
        DeliveryStatus::Delivered => Color::Green,
        DeliveryStatus::Pending => Color::Yellow,
        DeliveryStatus::Failed | DeliveryStatus::Refused => Color::Red,
    }
}

/// `abcd…`: a secret's prefix as the server gives it, with the ellipsis that says it
/// is not the whole.
fn prefix_text(h: &SecretHint) -> String {
    if h.prefix.ends_with('…') {
        h.prefix.clone()
    } else {
        format!("{}…", h.prefix)
    }
}

/// One signing secret: `Q2x5… (current)`, `Q2x5… signs until … (in 1 day)`.
fn signing_secret_text(h: &SecretHint, now: DateTime<Utc>) -> String {
    match h.expires_at {
        None => format!("{} (current)", prefix_text(h)),
        Some(at) if at > now => format!(
            "{} signs until {} ({})",
            prefix_text(h),
            output::absolute(at),
            output::relative(at, now)
        ),
        Some(at) => format!(
            "{} stopped signing {}",
            prefix_text(h),
            output::relative(at, now)
        ),
    }
}

fn when(at: Option<DateTime<Utc>>, none: &str, now: DateTime<Utc>) -> String {
    at.map(|t| output::both(t, now))
        .unwrap_or_else(|| none.to_owned())
}

/// At most `width` characters, `…` at the end when cut.
fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

// ------------------------------------------------------------------------- rendering

fn endpoint_rows(all: &[WebhookEndpoint]) -> Vec<Vec<Cell>> {
    let now = Utc::now();
    all.iter()
        .map(|e| {
            vec![
                Cell::new(&e.id),
                Cell::new(&e.name),
                Cell::colored(e.provider.as_str(), Color::Cyan),
                Cell::colored(status_word(e.status), status_color(e.status)),
                Cell::new(
                    e.failing_since
                        .map(|t| output::relative(t, now))
                        .unwrap_or_else(|| "-".to_owned()),
                ),
                Cell::new(&e.destination),
                Cell::new(e.workspace.as_deref().unwrap_or("-")),
                Cell::new(output::relative(e.updated_at, now)),
            ]
        })
        .collect()
}

fn endpoint_fields(e: &WebhookEndpoint) -> Vec<(&'static str, String)> {
    let now = Utc::now();
    let mut rows = vec![
        ("ID", e.id.clone()),
        ("Name", e.name.clone()),
        ("Provider", provider_label(e.provider).to_owned()),
        (
            "Workspace",
            e.workspace
                .clone()
                .unwrap_or_else(|| "none (the organization)".to_owned()),
        ),
        ("Status", status_word(e.status).to_owned()),
    ];
    if e.status == WebhookEndpointStatus::Disabled || e.disabled_reason.is_some() {
        rows.push((
            "Disabled reason",
            e.disabled_reason.clone().unwrap_or_else(|| "-".to_owned()),
        ));
    }
    rows.push((
        "Failing since",
        when(e.failing_since, "no (the last delivery succeeded)", now),
    ));
    rows.push(("Destination", e.destination.clone()));
    rows.push(("Ingress URL", e.ingress_url.clone()));
    rows.push((
        "Provider secrets",
        if e.secrets.is_empty() {
            "none".to_owned()
        } else {
            e.secrets
                .iter()
                .map(prefix_text)
                .collect::<Vec<_>>()
                .join(", ")
        },
    ));
    if e.provider == WebhookProvider::Whatsapp || e.has_verify_token {
        rows.push((
            "Verify token",
            if e.has_verify_token { "set" } else { "not set" }.to_owned(),
        ));
    }
    // The current one, then those a rotation replaced (still signing during its overlap).
    if e.signing_secrets.is_empty() {
        rows.push(("Signing secret", "none".to_owned()));
    }
    for h in &e.signing_secrets {
        let label = if h.expires_at.is_none() {
            "Signing secret"
        } else {
            "Replaced secret"
        };
        rows.push((label, signing_secret_text(h, now)));
    }
    rows.push((
        "Managed by",
        if e.managed_by == "config" {
            "keyward.yaml (change it there)".to_owned()
        } else {
            e.managed_by.clone()
        },
    ));
    rows.push(("Created", output::both(e.created_at, now)));
    rows.push(("Updated", output::both(e.updated_at, now)));
    rows
}

fn delivery_rows(all: &[WebhookDelivery]) -> Vec<Vec<Cell>> {
    let now = Utc::now();
    all.iter()
        .map(|d| {
            let error = d
                .last_error
                .as_deref()
                .or(d.refusal.as_deref())
                .map(|e| clip(e, ERROR_WIDTH))
                .unwrap_or_else(|| "-".to_owned());
            vec![
                Cell::new(&d.id),
                Cell::colored(delivery_word(d.status), delivery_color(d.status)),
                Cell::new(output::relative(d.received_at, now)),
                Cell::new(d.attempts.to_string()),
                Cell::new(
                    d.last_status_code
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "-".to_owned()),
                ),
                Cell::new(
                    d.next_attempt_at
                        .map(|t| output::relative(t, now))
                        .unwrap_or_else(|| "-".to_owned()),
                ),
                Cell::new(error),
            ]
        })
        .collect()
}

fn delivery_fields(d: &WebhookDelivery) -> Vec<(&'static str, String)> {
    let now = Utc::now();
    let mut rows = vec![
        ("ID", d.id.clone()),
        ("Endpoint", d.endpoint.clone()),
        ("Status", delivery_word(d.status).to_owned()),
        (
            "Provider event ID",
            d.provider_event_id
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
        ),
        ("Received", output::both(d.received_at, now)),
        ("Attempts", d.attempts.to_string()),
        ("Next attempt", when(d.next_attempt_at, "none", now)),
        (
            "Last status code",
            d.last_status_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".to_owned()),
        ),
        (
            "Last error",
            d.last_error.clone().unwrap_or_else(|| "none".to_owned()),
        ),
        ("Delivered", when(d.delivered_at, "no", now)),
    ];
    if let Some(refusal) = &d.refusal {
        rows.push(("Refused", refusal.clone()));
    }
    rows
}

fn attempt_rows(all: &[DeliveryAttempt]) -> Vec<Vec<Cell>> {
    all.iter()
        .map(|a| {
            vec![
                Cell::new(a.attempt.to_string()),
                Cell::new(output::absolute(a.at)),
                Cell::new(
                    a.status_code
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "-".to_owned()),
                ),
                Cell::new(format!("{} ms", a.latency_ms)),
                Cell::new(a.error.as_deref().unwrap_or("-")),
            ]
        })
        .collect()
}

// ------------------------------------------------------------------------- commands

pub async fn run(ctx: &Context, command: WebhooksCommand) -> CmdResult {
    if let WebhooksCommand::Delete(args) = &command {
        prompt::refuse_unconfirmable(args.yes, "delete a webhook endpoint")?;
    }
    if let WebhooksCommand::Create(args) = &command {
        check_create(
            args.provider.into(),
            &args.secrets,
            ctx.json(),
            std::io::stdout().is_terminal(),
        )?;
        args.secrets.plan()?;
    }
    if let WebhooksCommand::Edit(args) = &command {
        args.secrets.plan()?;
    }
    let s = Session::open(ctx)?;
    match command {
        WebhooksCommand::Create(args) => create(&s, args).await,
        WebhooksCommand::List(args) => list(&s, args).await,
        WebhooksCommand::Show(r) => {
            let e = s
                .client
                .webhook_endpoint(&r.id)
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&e);
            } else {
                output::print_fields(&endpoint_fields(&e));
            }
            Ok(())
        }
        WebhooksCommand::Edit(args) => edit(&s, args).await,
        WebhooksCommand::Disable(r) => set_enabled(&s, &r.id, false).await,
        WebhooksCommand::Enable(r) => set_enabled(&s, &r.id, true).await,
        WebhooksCommand::Delete(args) => delete(&s, args).await,
        WebhooksCommand::RotateSecret(args) => rotate(&s, args).await,
        WebhooksCommand::Deliveries(args) => deliveries(&s, args).await,
        WebhooksCommand::Delivery(r) => {
            let d = s
                .client
                .webhook_delivery(&r.endpoint.id, &r.delivery_id)
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&d);
            } else {
                output::print_fields(&delivery_fields(&d));
                let attempts = d.attempt_log.as_deref().unwrap_or_default();
                println!();
                output::print_table(
                    &["ATTEMPT", "AT", "STATUS CODE", "LATENCY", "ERROR"],
                    attempt_rows(attempts),
                    "No attempts yet.",
                );
            }
            Ok(())
        }
        WebhooksCommand::Replay(args) => replay(&s, args).await,
    }
}

async fn create(s: &Session<'_>, args: CreateArgs) -> CmdResult {
    let provider: WebhookProvider = args.provider.into();
    let read = args.secrets.read(provider.secret_name())?;
    let created = s
        .client
        .create_webhook_endpoint(&CreateWebhookEndpointRequest {
            provider,
            name: args.name,
            workspace: args.workspace,
            destination: args.destination,
            secrets: read.secrets,
            verify_token: read.verify_token,
            enabled: args.disabled.then_some(false),
        })
        .await
        .map_err(|e| s.fail(e))?;
    let e = &created.endpoint;
    let json = serde_json::to_value(&created).map_err(anyhow::Error::from)?;
    let mut fields = vec![
        ("Provider", provider_label(e.provider).to_owned()),
        ("Destination", e.destination.clone()),
        ("Status", status_word(e.status).to_owned()),
    ];
    if let Some(w) = &e.workspace {
        fields.push(("Workspace", w.clone()));
    }
    fields.push(("Ingress URL", e.ingress_url.clone()));
    let mut after = vec![provider_next_step(e.provider).to_owned()];
    after.push(
        "Your app verifies each delivery with the signing secret (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature)."
            .to_owned(),
    );
    let generated = created.generated_secret.as_ref().map(|t| {
        (
            "Telegram secret token (pass it to setWebhook as secret_token):",
            t as &dyn once::Secret,
        )
    });
    once::print(
        s.json(),
        &created.signing_secret,
        Shown {
            heading: format!(
                "Created {} webhook endpoint \"{}\" ({})",
                e.provider.as_str(),
                e.name,
                e.id
            ),
            fields,
            after,
            key_label: Some("Signing secret"),
            notice: if generated.is_some() {
                NOTICE_TWO
            } else {
                NOTICE
            },
            json,
            also: generated,
        },
    );
    Ok(())
}

/// Pages through a listing until `wanted` entries or its end: the entries and the
/// cursor after them.
async fn collect<T, F, Fut>(
    s: &Session<'_>,
    wanted: usize,
    mut cursor: Option<String>,
    mut fetch: F,
) -> Result<(Vec<T>, Option<String>), Failure>
where
    F: FnMut(u32, Option<String>) -> Fut,
    Fut: Future<Output = keyward_client::Result<Page<T>>>,
{
    let mut all = Vec::new();
    for _ in 0..MAX_PAGES {
        let limit = (wanted - all.len()).min(100) as u32;
        let page = fetch(limit, cursor.take()).await.map_err(|e| s.fail(e))?;
        all.extend(page.data);
        cursor = page.next_cursor;
        if cursor.is_none() || all.len() >= wanted {
            break;
        }
    }
    Ok((all, cursor))
}

async fn list(s: &Session<'_>, args: ListArgs) -> CmdResult {
    let wanted = if args.all {
        usize::MAX
    } else {
        args.limit as usize
    };
    let client = &s.client;
    let (all, cursor) = collect(s, wanted, args.cursor, |limit, cursor| {
        let query = WebhookEndpointQuery {
            provider: args.provider.map(Into::into),
            workspace: args.workspace.clone(),
            limit: Some(limit),
            cursor,
        };
        async move { client.webhook_endpoints(&query).await }
    })
    .await?;
    if s.json() {
        output::print_json(&json!({ "data": all, "next_cursor": cursor }));
        return Ok(());
    }
    output::print_table(
        &[
            "ID",
            "NAME",
            "PROVIDER",
            "STATUS",
            "FAILING SINCE",
            "DESTINATION",
            "WORKSPACE",
            "UPDATED",
        ],
        endpoint_rows(&all),
        "No webhook endpoints. Create one with `keyward webhooks create --provider PROVIDER --name NAME --destination URL`.",
    );
    if let Some(c) = cursor {
        output::note(&format!(
            "More endpoints: keyward webhooks list --cursor {c}   (or --all)"
        ));
    }
    Ok(())
}

async fn edit(s: &Session<'_>, args: EditArgs) -> CmdResult {
    let read = args.secrets.read("the provider's secret")?;
    let req = UpdateWebhookEndpointRequest {
        name: args.name,
        destination: args.destination,
        secrets: args.secrets.given().then_some(read.secrets),
        verify_token: read.verify_token,
        enabled: None,
    };
    let e = s
        .client
        .update_webhook_endpoint(&args.endpoint.id, &req)
        .await
        .map_err(|e| s.fail(e))?;
    if s.json() {
        output::print_json(&e);
    } else {
        output::done(&format!(
            "Updated webhook endpoint \"{}\" ({}).",
            e.name, e.id
        ));
        output::print_fields(&endpoint_fields(&e));
    }
    Ok(())
}

async fn set_enabled(s: &Session<'_>, id: &str, enabled: bool) -> CmdResult {
    let e = s
        .client
        .update_webhook_endpoint(
            id,
            &UpdateWebhookEndpointRequest {
                enabled: Some(enabled),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| s.fail(e))?;
    if s.json() {
        output::print_json(&e);
    } else if enabled {
        output::done(&format!(
            "Enabled webhook endpoint \"{}\" ({}): deliveries resume.",
            e.name, e.id
        ));
        output::note(&format!(
            "What arrived while it was disabled is kept as failed deliveries: `keyward webhooks replay {} --since TIME` sends them.",
            e.id
        ));
    } else {
        output::done(&format!(
            "Disabled webhook endpoint \"{}\" ({}): what arrives is still verified and kept, as failed deliveries; nothing is delivered.",
            e.name, e.id
        ));
        output::note(&format!(
            "`keyward webhooks enable {}` resumes; then `keyward webhooks replay {} --since TIME` sends what was kept.",
            e.id, e.id
        ));
    }
    Ok(())
}

async fn delete(s: &Session<'_>, args: ConfirmedRef) -> CmdResult {
    let id = &args.endpoint.id;
    let e = s.client.webhook_endpoint(id).await.map_err(|e| s.fail(e))?;
    prompt::confirm_or_cancel(
        args.yes,
        &format!(
            "Delete webhook endpoint \"{}\" ({}, {})? Its ingress URL stops accepting webhooks.",
            e.name,
            e.id,
            e.provider.as_str()
        ),
        "not deleted: it was not confirmed",
    )?;
    s.client
        .delete_webhook_endpoint(id)
        .await
        .map_err(|e| s.fail(e))?;
    if s.json() {
        output::print_json(&json!({ "deleted": true, "id": e.id }));
    } else {
        output::done(&format!(
            "Deleted webhook endpoint \"{}\" ({}).",
            e.name, e.id
        ));
        output::note(&format!(
            "Remove {} from the provider's settings too: what it sends there is refused.",
            e.ingress_url
        ));
    }
    Ok(())
}

async fn rotate(s: &Session<'_>, args: RotateArgs) -> CmdResult {
    let rotated = s
        .client
        .rotate_webhook_secret(
            &args.endpoint.id,
            &RotateSigningSecretRequest {
                overlap_secs: args.overlap,
            },
        )
        .await
        .map_err(|e| s.fail(e))?;
    let e = &rotated.endpoint;
    let now = Utc::now();
    let json = serde_json::to_value(&rotated).map_err(anyhow::Error::from)?;
    let still: Vec<String> = e
        .signing_secrets
        .iter()
        .filter_map(|h| {
            h.expires_at.filter(|at| *at > now).map(|at| {
                format!(
                    "The replaced secret {} still signs deliveries until {} ({}): switch your app to the new one before then.",
                    prefix_text(h),
                    output::absolute(at),
                    output::relative(at, now)
                )
            })
        })
        .collect();
    let after = if still.is_empty() {
        vec!["The replaced secret no longer signs deliveries.".to_owned()]
    } else {
        still
    };
    once::print(
        s.json(),
        &rotated.signing_secret,
        Shown {
            heading: format!(
                "Rotated the signing secret of webhook endpoint \"{}\" ({})",
                e.name, e.id
            ),
            fields: Vec::new(),
            after,
            key_label: Some("Signing secret"),
            notice: NOTICE,
            json,
            also: None,
        },
    );
    Ok(())
}

async fn deliveries(s: &Session<'_>, args: DeliveriesArgs) -> CmdResult {
    let wanted = if args.all {
        usize::MAX
    } else {
        args.limit as usize
    };
    let client = &s.client;
    let id = args.endpoint.id.as_str();
    let (all, cursor) = collect(s, wanted, args.cursor, |limit, cursor| {
        let query = DeliveryQuery {
            status: args.status.map(Into::into),
            limit: Some(limit),
            cursor,
        };
        async move { client.webhook_deliveries(id, &query).await }
    })
    .await?;
    if s.json() {
        output::print_json(&json!({ "data": all, "next_cursor": cursor }));
        return Ok(());
    }
    let empty = match args.status {
        Some(status) => format!("No {} deliveries.", delivery_word(status.into())),
        None => "No deliveries: nothing has arrived at this endpoint's ingress URL yet.".to_owned(),
    };
    output::print_table(
        &[
            "ID",
            "STATUS",
            "RECEIVED",
            "ATTEMPTS",
            "LAST CODE",
            "NEXT ATTEMPT",
            "ERROR",
        ],
        delivery_rows(&all),
        &empty,
    );
    if let Some(c) = cursor {
        output::note(&format!(
            "More deliveries: keyward webhooks deliveries {id} --cursor {c}   (or --all)"
        ));
    }
    Ok(())
}

async fn replay(s: &Session<'_>, args: ReplayArgs) -> CmdResult {
    let id = &args.endpoint.id;
    match (args.delivery_id, args.since) {
        (Some(delivery_id), _) => {
            let d = s
                .client
                .replay_webhook_delivery(id, &delivery_id)
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&d);
            } else {
                output::done(&format!(
                    "Queued delivery {} again ({}, {} attempt{} so far).",
                    d.id,
                    delivery_word(d.status),
                    d.attempts,
                    if d.attempts == 1 { "" } else { "s" }
                ));
                output::note(&format!(
                    "`keyward webhooks delivery {id} {}` shows how it goes.",
                    d.id
                ));
            }
        }
        (None, Some(since)) => {
            let r = s
                .client
                .replay_failed_webhook_deliveries(id, since)
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&r);
            } else {
                output::done(&format!(
                    "Queued {} failed deliver{} received since {} again.",
                    r.replayed,
                    if r.replayed == 1 { "y" } else { "ies" },
                    output::both(since, Utc::now())
                ));
            }
        }
        // clap's group `what` requires one of the two.
        (None, None) => {
            return Err(Failure::usage("give a DELIVERY_ID or --since TIME"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::ClientCommand;
    use super::*;
    use clap::{CommandFactory, FromArgMatches};

    /// Parses `keyward ARGS` as the binary does; the `webhooks` command's own.
    fn parse(args: &[&str]) -> Result<WebhooksCommand, clap::Error> {
        let matches = super::super::command(crate::Cli::command())
            .try_get_matches_from(std::iter::once("keyward").chain(args.iter().copied()))?;
        match crate::Cli::from_arg_matches(&matches)?.command {
            crate::Command::Client(c) => match *c {
                ClientCommand::Webhooks(w) => Ok(w.command),
                _ => panic!("not a webhooks command: {args:?}"),
            },
            _ => panic!("not a client command: {args:?}"),
        }
    }

    fn kind(args: &[&str]) -> clap::error::ErrorKind {
        match parse(args) {
            Ok(_) => panic!("{args:?} parsed"),
            Err(e) => e.kind(),
        }
    }

    #[test]
    fn create_takes_secrets_from_files_stdin_and_argv() {
        let WebhooksCommand::Create(c) = parse(&[
            "webhooks",
            "create",
            "--provider",
            "slack",
            "--name",
            "bot",
            "--destination",
            "https://app.example.com/slack",
            "--secret-file",
            "a.txt",
            "--secret",
            "-",
            "--secret-file",
            "b.txt",
            "--disabled",
            "--json",
        ])
        .unwrap() else {
            panic!("not create")
        };
        assert_eq!(c.provider, ProviderArg::Slack);
        assert!(c.disabled);
        let plan = c.secrets.plan().unwrap();
        let (a, b) = (PathBuf::from("a.txt"), PathBuf::from("b.txt"));
        assert_eq!(
            plan.secrets,
            vec![
                SecretSource::Stdin,
                SecretSource::File(&a),
                SecretSource::File(&b)
            ]
        );
        assert_eq!(plan.verify_token, None);
        // The provider must be one Keyward knows; name and destination are required.
        use clap::error::ErrorKind;
        assert_eq!(
            kind(&[
                "webhooks",
                "create",
                "--provider",
                "github",
                "--name",
                "x",
                "--destination",
                "u"
            ]),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            kind(&["webhooks", "create", "--provider", "slack", "--name", "x"]),
            ErrorKind::MissingRequiredArgument
        );
        // Whatever the provider: --verify-token and --verify-token-file are one or the other.
        assert_eq!(
            kind(&[
                "webhooks",
                "create",
                "--provider",
                "whatsapp",
                "--name",
                "x",
                "--destination",
                "u",
                "--verify-token",
                "t",
                "--verify-token-file",
                "f"
            ]),
            ErrorKind::ArgumentConflict
        );
    }

    fn secrets(args: &[&str]) -> SecretArgs {
        let mut all = vec![
            "webhooks",
            "create",
            "--provider",
            "standard",
            "--name",
            "x",
            "--destination",
            "https://app.example.com",
        ];
        all.extend_from_slice(args);
        match parse(&all).unwrap() {
            WebhooksCommand::Create(c) => c.secrets,
            _ => unreachable!(),
        }
    }

    #[test]
    fn stdin_gives_one_secret_and_none_is_empty() {
        let two = secrets(&["--secret", "-", "--verify-token", "-"]);
        assert!(two.plan().unwrap_err().message.contains("only one secret"));
        let twice = secrets(&["--secret", "-", "--secret", "-"]);
        assert_eq!(
            twice.plan().unwrap_err().exit,
            super::super::failure::EXIT_USAGE
        );
        let empty = secrets(&["--secret", " "]);
        assert_eq!(empty.plan().unwrap_err().message, "--secret is empty");
        let plan = secrets(&["--secret", "whsec_abc", "--verify-token-file", "v.txt"]);
        let plan = plan.plan().unwrap();
        assert_eq!(plan.secrets, vec![SecretSource::Arg("whsec_abc")]);
        assert!(matches!(plan.verify_token, Some(SecretSource::File(_))));
    }

    #[test]
    fn create_checks_what_each_provider_needs() {
        let none = SecretArgs::default();
        let secret = secrets(&["--secret-file", "s.txt"]);
        let both = secrets(&["--secret-file", "s.txt", "--verify-token-file", "v.txt"]);
        use WebhookProvider::*;
        let f = check_create(Slack, &none, false, true).unwrap_err();
        assert!(f.message.contains("Slack signing secret"), "{}", f.message);
        assert!(f.hint.unwrap().contains("--secret-file"));
        assert!(check_create(Slack, &secret, false, false).is_ok());
        assert!(check_create(Discord, &secret, true, false).is_ok());
        let f = check_create(Whatsapp, &secret, false, true).unwrap_err();
        assert!(f.message.contains("verify token"), "{}", f.message);
        assert!(check_create(Whatsapp, &both, false, true).is_ok());
        let f = check_create(Slack, &both, false, true).unwrap_err();
        assert!(f
            .message
            .contains("--verify-token is for --provider whatsapp"));
        // Telegram without a secret: Keyward makes one, shown once: not when piped
        // without --json, where stdout carries the signing secret alone.
        assert!(check_create(Telegram, &none, false, true).is_ok());
        assert!(check_create(Telegram, &none, true, false).is_ok());
        assert!(check_create(Telegram, &secret, false, false).is_ok());
        let f = check_create(Telegram, &none, false, false).unwrap_err();
        assert!(f.hint.unwrap().contains("--json"));
    }

    #[test]
    fn secret_files_are_read_whole_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.txt");
        std::fs::write(&path, "  8f14e45fceea167a5a36dedd4bea2543\n").unwrap();
        assert_eq!(
            read_secret_file(&path).unwrap().expose_secret(),
            "8f14e45fceea167a5a36dedd4bea2543"
        );
        std::fs::write(&path, "\n\n").unwrap();
        assert!(read_secret_file(&path)
            .unwrap_err()
            .message
            .ends_with("is empty"));
        std::fs::write(&path, vec![b'a'; 70_000]).unwrap();
        assert!(read_secret_file(&path)
            .unwrap_err()
            .message
            .contains("64 KiB"));
        let missing = read_secret_file(&dir.path().join("nope")).unwrap_err();
        assert_eq!(missing.exit, super::super::failure::EXIT_USAGE);
    }

    #[test]
    fn edit_needs_something_to_change() {
        use clap::error::ErrorKind;
        assert_eq!(
            kind(&["webhooks", "edit", "wh_1"]),
            ErrorKind::MissingRequiredArgument
        );
        let WebhooksCommand::Edit(e) = parse(&[
            "webhooks",
            "edit",
            "wh_1",
            "--secret-file",
            "new",
            "--secret-file",
            "old",
        ])
        .unwrap() else {
            panic!("not edit")
        };
        assert_eq!(e.endpoint.id, "wh_1");
        assert!(e.secrets.given() && e.name.is_none());
        assert!(parse(&["webhooks", "edit", "wh_1", "--name", "n"]).is_ok());
    }

    #[test]
    fn replay_takes_a_delivery_or_since_but_not_both() {
        use clap::error::ErrorKind;
        let WebhooksCommand::Replay(r) = parse(&["webhooks", "replay", "wh_1", "msg_1"]).unwrap()
        else {
            panic!("not replay")
        };
        assert_eq!((r.delivery_id.as_deref(), r.since), (Some("msg_1"), None));
        let WebhooksCommand::Replay(r) = parse(&[
            "webhooks",
            "replay",
            "wh_1",
            "--since",
            "2026-12-01T00:00:00Z",
        ])
        .unwrap() else {
            panic!("not replay")
        };
        assert_eq!(r.since, Some("2026-12-01T00:00:00Z".parse().unwrap()));
        let before = Utc::now() - chrono::Duration::hours(2);
        let WebhooksCommand::Replay(r) =
            parse(&["webhooks", "replay", "wh_1", "--since", "2h"]).unwrap()
        else {
            panic!("not replay")
        };
        let since = r.since.unwrap();
        assert!(since >= before - chrono::Duration::seconds(5) && since <= Utc::now());
        assert_eq!(
            kind(&["webhooks", "replay", "wh_1"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            kind(&["webhooks", "replay", "wh_1", "msg_1", "--since", "2h"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            kind(&["webhooks", "replay", "wh_1", "--since", "soon"]),
            ErrorKind::ValueValidation
        );
    }

    #[test]
    fn rotate_overlaps_are_durations_of_at_most_a_week() {
        use clap::error::ErrorKind;
        let overlap = |args: &[&str]| match parse(args).unwrap() {
            WebhooksCommand::RotateSecret(r) => r.overlap,
            _ => unreachable!(),
        };
        assert_eq!(overlap(&["webhooks", "rotate-secret", "wh_1"]), None);
        assert_eq!(
            overlap(&["webhooks", "rotate-secret", "wh_1", "--overlap", "24h"]),
            Some(86_400)
        );
        assert_eq!(
            overlap(&["webhooks", "rotate-secret", "wh_1", "--overlap", "0"]),
            Some(0)
        );
        assert_eq!(
            overlap(&["webhooks", "rotate-secret", "wh_1", "--overlap", "7d"]),
            Some(604_800)
        );
        assert_eq!(
            kind(&["webhooks", "rotate-secret", "wh_1", "--overlap", "8d"]),
            ErrorKind::ValueValidation
        );
    }

    #[test]
    fn listings_filter_by_provider_and_status() {
        let WebhooksCommand::List(l) = parse(&[
            "webhooks",
            "list",
            "--provider",
            "whatsapp",
            "--workspace",
            "prod",
        ])
        .unwrap() else {
            panic!("not list")
        };
        assert_eq!(l.provider, Some(ProviderArg::Whatsapp));
        assert_eq!((l.limit, l.all), (50, false));
        let WebhooksCommand::Deliveries(d) = parse(&[
            "webhooks",
            "deliveries",
            "wh_1",
            "--status",
            "failed",
            "--limit",
            "5",
        ])
        .unwrap() else {
            panic!("not deliveries")
        };
        assert_eq!((d.status, d.limit), (Some(DeliveryStatusArg::Failed), 5));
        assert!(parse(&["webhooks", "deliveries", "wh_1", "--all", "--limit", "5"]).is_err());
        assert!(parse(&["webhooks", "delivery", "wh_1"]).is_err());
        let WebhooksCommand::Delete(d) = parse(&["webhooks", "delete", "wh_1", "-y"]).unwrap()
        else {
            panic!("not delete")
        };
        assert!(d.yes);
    }

    #[test]
    fn secrets_read_as_prefixes_and_expiries() {
        let now = Utc::now();
        let hint = |prefix: &str, expires_at| SecretHint {
            prefix: prefix.to_owned(),
            expires_at,
        };
        assert_eq!(prefix_text(&hint("abcd", None)), "abcd…");
        assert_eq!(prefix_text(&hint("abcd…", None)), "abcd…");
        assert_eq!(
            signing_secret_text(&hint("Q2x5…", None), now),
            "Q2x5… (current)"
        );
        let later = now + chrono::Duration::hours(30);
        assert!(signing_secret_text(&hint("Q2x5", Some(later)), now)
            .starts_with("Q2x5… signs until 20"));
        assert!(signing_secret_text(&hint("Q2x5", Some(later)), now).ends_with("(in 1 day)"));
        assert_eq!(clip("connection refused", 60), "connection refused");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
