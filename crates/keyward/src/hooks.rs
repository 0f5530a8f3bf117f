//! What `serve` runs webhook ingress with: the `webhooks:` section of keyward.yaml
//! (limits, retry schedule, timeouts) and the endpoints defined under `integrations:`
//! (an entry with a `webhook:` block).
//!
//! ```yaml
//! webhooks:
//!   body_limit: 1048576          # bytes (413 above)
//!   schedule: [5s, 5m, 30m, 2h, 5h, 10h, 10h]
//!   disable_after: 1d
//!   timeout: 15s
//!   retention: 30d
//! ```

use crate::config::FileConfig;
use anyhow::{bail, Context};
use keyward_server::webhooks::WebhookProvider;
use keyward_server::webhooks::{Config, ConfigEndpoint};
use std::time::Duration;

fn duration(name: &str, raw: &str) -> anyhow::Result<Duration> {
    let d = keyward_core::expiry::parse_duration(raw, chrono::Duration::days(1), "1d").map_err(
        |_| anyhow::anyhow!("{name} {raw:?} is not a duration like 500ms, 30s, 5m or 1h"),
    )?;
    d.to_std()
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{name} must be positive"))
}

/// A duration with `ms` allowed too (tests run short schedules).
fn short_duration(name: &str, raw: &str) -> anyhow::Result<Duration> {
    if let Some(ms) = raw.trim().strip_suffix("ms") {
        let ms: u64 = ms.trim().parse().map_err(|_| {
            anyhow::anyhow!("{name} {raw:?} is not a duration like 500ms, 30s or 5m")
        })?;
        if ms == 0 {
            bail!("{name} must be positive");
        }
        return Ok(Duration::from_millis(ms));
    }
    duration(name, raw)
}

fn set(target: &mut Duration, name: &str, raw: &Option<String>) -> anyhow::Result<()> {
    if let Some(raw) = raw {
        *target = short_duration(name, raw)?;
    }
    Ok(())
}

/// The server's webhook config from the file.
pub fn config(file: &FileConfig) -> anyhow::Result<Config> {
    let mut config = Config::default();
    let section = file.webhooks.clone().unwrap_or_default();
    if let Some(limit) = section.body_limit {
        if !(1024..=64 * 1024 * 1024).contains(&limit) {
            bail!("webhooks.body_limit must be between 1024 and 67108864 bytes");
        }
        config.body_limit = limit;
    }
    if let Some(schedule) = &section.schedule {
        if schedule.len() > 20 {
            bail!("webhooks.schedule has at most 20 delays");
        }
        config.schedule = schedule
            .iter()
            .map(|d| short_duration("webhooks.schedule", d))
            .collect::<anyhow::Result<_>>()?;
        if config
            .schedule
            .iter()
            .any(|d| *d > Duration::from_secs(30 * 24 * 3600))
        {
            bail!("webhooks.schedule: a delay is at most 30d");
        }
    }
    set(
        &mut config.disable_after,
        "webhooks.disable_after",
        &section.disable_after,
    )?;
    set(&mut config.timeout, "webhooks.timeout", &section.timeout)?;
    set(
        &mut config.retention,
        "webhooks.retention",
        &section.retention,
    )?;
    set(
        &mut config.poll_interval,
        "webhooks.poll_interval",
        &section.poll_interval,
    )?;
    if let Some(allow) = section.allow_private_destinations {
        config.allow_private_destinations = allow;
    }
    if let Some(n) = section.concurrency {
        if !(1..=1024).contains(&n) {
            bail!("webhooks.concurrency must be between 1 and 1024");
        }
        config.concurrency = n;
    }
    config.endpoints = endpoints(file, config.allow_private_destinations)?;
    Ok(config)
}

/// The credential that holds each provider's secret.
fn secret_name(p: WebhookProvider) -> &'static str {
    match p {
        WebhookProvider::Whatsapp => "app_secret",
        WebhookProvider::Slack => "signing_secret",
        WebhookProvider::Telegram => "secret_token",
        WebhookProvider::Discord => "public_key",
        WebhookProvider::Standard => "secret",
    }
}

fn endpoints(file: &FileConfig, allow_private: bool) -> anyhow::Result<Vec<ConfigEndpoint>> {
    let mut out: Vec<ConfigEndpoint> = Vec::new();
    let Some(integrations) = &file.integrations else {
        return Ok(out);
    };
    for (name, entry) in &integrations.0 {
        let Some(w) = &entry.webhook else { continue };
        let at = format!("integrations.{name}.webhook");
        let provider_name = w.provider.as_deref().unwrap_or(name);
        let provider = WebhookProvider::parse(provider_name).with_context(|| {
            format!("{at}: provider {provider_name:?} is not one of whatsapp, slack, telegram, discord, standard")
        })?;
        let id = w.id.clone().unwrap_or_else(|| name.clone());
        if id.is_empty()
            || id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            bail!("{at}.id must be 1 to 64 of letters, digits, _ and -");
        }
        if out.iter().any(|e| e.id == id) {
            bail!("{at}.id {id:?} is used twice");
        }
        if w.org.trim().is_empty() {
            bail!("{at}.org must name the organization (its id, org_…)");
        }
        let destination = keyward_server::http::webhooks::check_destination(
            &w.destination,
            w.workspace.as_deref(),
            allow_private,
        )
        .map_err(|e| anyhow::anyhow!("{at}.destination: {e}"))?;
        if let Some(s) = &w.signing_secret {
            keyward_webhooks::standard::Secret::parse(s.expose()).map_err(|e| {
                anyhow::anyhow!("{at}.signing_secret must be a whsec_ secret ({e})")
            })?;
        }
        let key = secret_name(provider);
        let secret = entry.credentials.get(key).cloned().with_context(|| {
            format!(
                "integrations.{name}.credentials.{key} is required for a {} webhook endpoint",
                provider.as_str()
            )
        })?;
        let verify_token = match provider {
            WebhookProvider::Whatsapp => {
                let token = entry
                    .settings
                    .get("webhook_verify_token")
                    .and_then(serde_yaml::Value::as_str)
                    .filter(|t| !t.is_empty())
                    .with_context(|| {
                        format!("integrations.{name}.settings.webhook_verify_token is required for a WhatsApp webhook endpoint")
                    })?;
                Some(keyward_oauth::SecretText::new(token))
            }
            _ => None,
        };
        out.push(ConfigEndpoint {
            id,
            org: w.org.trim().to_owned(),
            provider,
            name: keyward_server::http::webhooks::check_name(
                w.name
                    .as_deref()
                    .or(entry.display_name.as_deref())
                    .unwrap_or(name),
            )
            .map_err(|e| anyhow::anyhow!("{at}.name: {e}"))?,
            workspace: w.workspace.clone(),
            destination,
            enabled: entry.is_enabled(),
            secrets: vec![secret],
            verify_token,
            signing_secret: w.signing_secret.clone(),
        });
    }
    Ok(out)
}

/// The server's worker config from the `workers:` section.
///
/// ```yaml
/// workers:
///   retention: 14d          # workers not heard from for this long are removed (audited)
///   forward_timeout: 10s    # one event's forward; its lease is this and 5 s more
///   max_in_flight: 4        # events one worker forwards at once (each of another endpoint)
/// ```
pub fn workers(file: &FileConfig) -> anyhow::Result<keyward_server::workers::Config> {
    let mut config = keyward_server::workers::Config::default();
    let section = file.workers.clone().unwrap_or_default();
    set(
        &mut config.retention,
        "workers.retention",
        &section.retention,
    )?;
    set(
        &mut config.forward_timeout,
        "workers.forward_timeout",
        &section.forward_timeout,
    )?;
    if config.forward_timeout < Duration::from_secs(1)
        || config.forward_timeout > Duration::from_secs(600)
    {
        bail!("workers.forward_timeout must be between 1s and 10m");
    }
    if let Some(n) = section.max_in_flight {
        if !(1..=100).contains(&n) {
            bail!("workers.max_in_flight must be between 1 and 100");
        }
        config.max_in_flight = n;
    }
    Ok(config)
}
