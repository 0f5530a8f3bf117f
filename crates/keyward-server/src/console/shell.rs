//! The document around every console page: `<head>` with the embedded stylesheet and
//! script, and the plain card for pages shown before sign-in and for errors.

use super::assets;
use maud::{html, Markup, DOCTYPE};

pub(super) fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · Keyward" }
            link rel="stylesheet" href=(assets::CSS_PATH);
            script src=(assets::JS_PATH) defer {}
        }
    }
}

/// A page for a visitor who is not signed in (sign-in, password links, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body class="bare" {
                main id="main" class="card" {
                    p class="brand" { "Keyward" }
                    (body)
                }
            }
        }
    }
}
