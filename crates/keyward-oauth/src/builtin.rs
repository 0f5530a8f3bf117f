//! The providers Keyward knows without being told: three Google APIs and Notion.
//!
//! Google (integrations spec §6): authorize at `accounts.google.com` with
//! `access_type=offline` (a refresh token), `prompt=consent` (a refresh token every time,
//! not only the first) and `include_granted_scopes=true`; the token endpoint takes the
//! client id and secret in the form body; revocation is a form `token=`.
//!
//! Notion: `owner=user` on the authorization URL, no PKCE and no scopes; token and
//! revocation requests are JSON with HTTP Basic client auth and a pinned
//! `Notion-Version` header.

use crate::config::{BodyFormat, ClientAuth};

/// The names of integrations that a later part of Keyward handles as webhook senders:
/// without an `oauth:` block they are not OAuth providers and are passed over quietly.
pub(crate) const WEBHOOK_ONLY: &[&str] = &["whatsapp", "slack", "telegram", "discord", "standard"];

/// The `Notion-Version` every Notion request carries.
pub(crate) const NOTION_VERSION: &str = "2022-06-28";

/// A provider Keyward knows, before the config's credentials and overrides.
pub(crate) struct Builtin {
    pub(crate) display_name: &'static str,
    pub(crate) authorize_url: &'static str,
    pub(crate) token_url: &'static str,
    pub(crate) revoke_url: &'static str,
    /// What short scope names become: `prefix` + name.
    pub(crate) scope_prefix: &'static str,
    pub(crate) scopes: &'static [&'static str],
    pub(crate) default_scopes: &'static [&'static str],
    pub(crate) pkce: bool,
    pub(crate) body: BodyFormat,
    pub(crate) client_auth: ClientAuth,
    pub(crate) authorize_params: &'static [(&'static str, &'static str)],
    pub(crate) token_headers: &'static [(&'static str, &'static str)],
}

const GOOGLE_AUTHORIZE: &str = "https://accounts.google.com/o/oauth2/v2/auth";
const GOOGLE_TOKEN: &str = "https://oauth2.googleapis.com/token";
const GOOGLE_REVOKE: &str = "https://oauth2.googleapis.com/revoke";
const GOOGLE_SCOPES: &str = "https://www.googleapis.com/auth/";
const GOOGLE_PARAMS: &[(&str, &str)] = &[
    ("access_type", "offline"),
    ("prompt", "consent"),
    ("include_granted_scopes", "true"),
];

const fn google(
    display_name: &'static str,
    scopes: &'static [&'static str],
    default_scopes: &'static [&'static str],
) -> Builtin {
    Builtin {
        display_name,
        authorize_url: GOOGLE_AUTHORIZE,
        token_url: GOOGLE_TOKEN,
        revoke_url: GOOGLE_REVOKE,
        scope_prefix: GOOGLE_SCOPES,
        scopes,
        default_scopes,
        pkce: true,
        body: BodyFormat::Form,
        client_auth: ClientAuth::Body,
        authorize_params: GOOGLE_PARAMS,
        token_headers: &[],
    }
}

static GMAIL: Builtin = google(
    "Gmail",
    &[
        "gmail.readonly",
        "gmail.send",
        "gmail.modify",
        "gmail.compose",
        "gmail.labels",
    ],
    &["gmail.readonly"],
);

static GOOGLE_CALENDAR: Builtin = google(
    "Google Calendar",
    &[
        "calendar",
        "calendar.readonly",
        "calendar.events",
        "calendar.events.readonly",
    ],
    &["calendar.readonly"],
);

static GOOGLE_DRIVE: Builtin = google(
    "Google Drive",
    &[
        "drive",
        "drive.file",
        "drive.readonly",
        "drive.metadata.readonly",
    ],
    &["drive.file"],
);

static NOTION: Builtin = Builtin {
    display_name: "Notion",
    authorize_url: "https://api.notion.com/v1/oauth/authorize",
    token_url: "https://api.notion.com/v1/oauth/token",
    revoke_url: "https://api.notion.com/v1/oauth/revoke",
    scope_prefix: "",
    scopes: &[],
    default_scopes: &[],
    pkce: false,
    body: BodyFormat::Json,
    client_auth: ClientAuth::Basic,
    authorize_params: &[("owner", "user")],
    token_headers: &[("Notion-Version", NOTION_VERSION)],
};

/// The built-in provider of that name.
pub(crate) fn builtin(name: &str) -> Option<&'static Builtin> {
    match name {
        "gmail" => Some(&GMAIL),
        "google_calendar" => Some(&GOOGLE_CALENDAR),
        "google_drive" => Some(&GOOGLE_DRIVE),
        "notion" => Some(&NOTION),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_scope_is_a_known_one() {
        for name in ["gmail", "google_calendar", "google_drive", "notion"] {
            let b = builtin(name).unwrap();
            for d in b.default_scopes {
                assert!(b.scopes.contains(d), "{name}: {d}");
            }
        }
        assert!(builtin("slack").is_none());
    }
}
