//! Webhook ingress: providers' webhooks verified on arrival, kept durably, and delivered
//! to each endpoint's destination re-signed with Standard Webhooks.
//!
//! - [`Config`]: the operator's settings (`keyward.yaml` `webhooks:`) and the endpoints
//!   defined in `integrations:`.
//! - [`secrets`]: an endpoint's sealed secrets ⇄ in the clear (the vault's envelope
//!   encryption, bound to the endpoint's id and the field).
//! - [`ingress`]: `GET`/`POST /hooks/{id}`: the provider's signature checked on the raw
//!   body, handshakes answered, the event kept before the provider hears 2xx.
//! - [`deliver`]: the deliverer every node runs: due events leased one by one in the
//!   database (so no two nodes send the same one), retries on the schedule with jitter,
//!   an endpoint disabled after a day of failures.
//! - [`sync`]: endpoints of keyward.yaml written to the database at start.
//!
//! The API (`/v1/webhook-endpoints…`) is in `http/webhooks.rs`.

pub mod deliver;
pub mod guard;
pub mod ingress;
pub mod secrets;
pub mod sync;

pub use keyward_api::WebhookProvider;
use keyward_oauth::SecretText;
use std::time::Duration;

/// The delays between attempts of a delivery, like Svix's: after the first attempt
/// fails, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; then it is `failed`.
pub const DEFAULT_SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// How webhook ingress and delivery run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The largest body the ingress takes (413 above): default 1 MiB.
    pub body_limit: usize,
    /// Delays between attempts; each is varied by ±10 % (jitter).
    pub schedule: Vec<Duration>,
    /// An endpoint whose deliveries have all failed for this long is disabled.
    pub disable_after: Duration,
    /// How long one attempt may take (connect, send, answer).
    pub timeout: Duration,
    /// How long delivered and failed events are kept, and so how long a repeated event
    /// id is recognized as a duplicate.
    pub retention: Duration,
    /// How often the deliverer looks for due events when nothing wakes it.
    pub poll_interval: Duration,
    /// Attempts in flight at once on one node.
    pub concurrency: usize,
    /// Whether destinations may be loopback or private addresses (an app on this
    /// machine or network). Off by default: any organization's admin sets destinations.
    /// Link-local (cloud metadata) ones are refused either way ([`guard`]).
    pub allow_private_destinations: bool,
    /// Endpoints from keyward.yaml.
    pub endpoints: Vec<ConfigEndpoint>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            schedule: DEFAULT_SCHEDULE.to_vec(),
            disable_after: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(15),
            retention: Duration::from_secs(30 * 24 * 3600),
            poll_interval: Duration::from_secs(1),
            concurrency: 32,
            allow_private_destinations: false,
            endpoints: Vec::new(),
        }
    }
}

impl Config {
    /// How long a node holds an event it is delivering: an attempt's timeout and some
    /// margin. A node that died holding one gives it up when this passes.
    pub fn lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(5)
    }
}

/// An endpoint defined in keyward.yaml (`integrations: slack: {credentials: …,
/// webhook: {org, destination}}`), resolved by the binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEndpoint {
    /// The ingress is `/hooks/{id}`; default the integration's name.
    pub id: String,
    /// The organization's id.
    pub org: String,
    pub provider: WebhookProvider,
    pub name: String,
    pub workspace: Option<String>,
    pub destination: String,
    pub enabled: bool,
    /// The provider's secrets (several while rotating).
    pub secrets: Vec<SecretText>,
    /// WhatsApp: `settings.webhook_verify_token`.
    pub verify_token: Option<SecretText>,
    /// Keyward's `whsec_` secret for deliveries; absent: generated at first start (see
    /// it with `keyward webhooks rotate-secret`).
    pub signing_secret: Option<SecretText>,
}

/// Refusals an endpoint's log takes at once before one a second.
pub const REFUSAL_BURST: std::num::NonZeroU32 = match std::num::NonZeroU32::new(20) {
    Some(n) => n,
    None => unreachable!(),
};

/// What one node holds for webhooks: the HTTP client of deliveries and the signal that
/// wakes its deliverer when an event arrives.
pub struct Hub {
    pub config: Config,
    pub client: reqwest::Client,
    /// This node's name in delivery leases (random per process).
    pub node: String,
    pub(crate) wake: tokio::sync::Notify,
    /// Refusals written to each endpoint's log: a burst of [`REFUSAL_BURST`], then one a
    /// second (governor's GCRA), so a flood of forged requests does not occupy the
    /// database's writer.
    refusals: governor::DefaultKeyedRateLimiter<String>,
}

impl Hub {
    pub fn new(config: Config) -> Self {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            // A redirect is answered as a failure: following one would send the event
            // (and its signature) somewhere the endpoint does not name.
            .redirect(reqwest::redirect::Policy::none())
            // No proxy from the environment: through one, the destination's name would
            // be resolved (and connected to) where the guard never sees it.
            .no_proxy()
            .user_agent(concat!("Keyward-Webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(std::sync::Arc::new(guard::GuardedResolver {
                allow_private: config.allow_private_destinations,
            }))
            .build()
            .expect("the delivery HTTP client builds");
        Self {
            config,
            client,
            node: keyward_core::ids::new_id("node"),
            wake: tokio::sync::Notify::new(),
            refusals: governor::RateLimiter::keyed(
                governor::Quota::per_second(std::num::NonZeroU32::MIN).allow_burst(REFUSAL_BURST),
            ),
        }
    }

    /// Whether a refusal of `endpoint` should be written now.
    pub(crate) fn note_refusal(&self, endpoint: &str) -> bool {
        if self.refusals.len() > 10_000 {
            // Endpoints whose allowance is whole again need no state.
            self.refusals.retain_recent();
        }
        self.refusals.check_key(&endpoint.to_owned()).is_ok()
    }

    /// Tells this node's deliverer that an event is due now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// An endpoint's name: 1 to 100 characters, trimmed, without control, direction-changing
/// or invisible characters (which would let one name pass for another in the console).
pub fn check_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let hidden = |c: char| {
        c.is_control()
            || keyward_oauth::is_bidi_control(c)
            || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
    };
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(hidden) {
        return Err("must be 1 to 100 characters, without control or invisible characters".into());
    }
    Ok(name.to_owned())
}

/// A destination: the workers of the endpoint's workspace (`workers`, or
/// `workers:LABEL` for those carrying a label; the endpoint must name a workspace), or
/// an absolute http(s) URL with a host, no user or password, no fragment, and an
/// allowed address ([`guard`]); normalized.
pub fn check_destination(
    raw: &str,
    workspace: Option<&str>,
    allow_private: bool,
) -> Result<String, String> {
    if let Some(workers) = keyward_core::worker::parse_workers_destination(raw.trim()) {
        let label = workers.map_err(|e| format!("workers:LABEL: {e}"))?;
        if workspace.is_none() {
            return Err(
                "`workers` delivers to the workers of the endpoint's workspace: \
                 name the workspace too"
                    .into(),
            );
        }
        return Ok(match label {
            Some(l) => format!("{}:{l}", keyward_core::worker::WORKERS_DESTINATION),
            None => keyward_core::worker::WORKERS_DESTINATION.to_owned(),
        });
    }
    check_url(raw, allow_private)
}

fn check_url(raw: &str, allow_private: bool) -> Result<String, String> {
    if raw.len() > 2000 {
        return Err("must be at most 2000 characters".into());
    }
    let url = url::Url::parse(raw).map_err(|_| "must be an absolute URL".to_owned())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http or https URL with a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not hold a user name or password".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment (#…)".into());
    }
    guard::check_host(&url, allow_private).map_err(|why| format!("must not be {why}"))?;
    Ok(url.to_string())
}

/// A random number in `[0, 1)`.
pub(crate) fn unit_random() -> f64 {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).expect("the OS has randomness");
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// `d` varied by ±10 %.
pub(crate) fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.9 + 0.2 * unit_random())
}
