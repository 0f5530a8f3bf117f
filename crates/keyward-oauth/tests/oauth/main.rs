//! keyward-oauth against a real local authorization server (integrations spec §6:
//! "provider endpoints are configuration, so tests run a real local authorization
//! server").

mod config;
mod custom;
mod failures;
mod google;
mod notion;
mod server;

use keyward_oauth::{providers, IntegrationsConfig, Provider};
use std::sync::Arc;

/// The one provider of `name` in `yaml` (an `integrations:` section).
pub fn provider(yaml: &str, name: &str) -> Arc<Provider> {
    let config: IntegrationsConfig = serde_yaml::from_str(yaml).expect("valid YAML");
    providers(&config)
        .expect("a valid config")
        .get(name)
        .expect("the provider")
}

pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}
