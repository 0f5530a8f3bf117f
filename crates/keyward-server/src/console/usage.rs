//! Usage: pick a key (`/console/usage`), then its verifications over time
//! (`/console/usage/{key_id}`): valid and denied per bucket against its rate limit, and
//! its quota, read through `GET /v1/keys/{id}/usage`'s handler.
//!
//! The chart is SVG markup made here: no script, no library, no inline style (the CSP
//! allows none); colours come from `console.css` classes, sizes from SVG attributes. A
//! table of the same numbers follows it for screen readers and for copying.

use super::failure::PageResult;
use super::keys::view::status;
use super::layout::{maybe_time, page, time};
use super::visitor::Signed;
use crate::extract::ApiQuery;
use crate::http::{keys, usage};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use keyward_api::{Granularity, KeyView, ListQuery, RateLimit, UsageQuery, UsageReport};
use maud::{html, Markup};
use serde::Deserialize;

/// The ranges offered: (query value, label, how far back, granularity).
const RANGES: &[(&str, &str, &str, Granularity)] = &[
    ("1h", "Last hour, by minute", "1h", Granularity::Minute),
    ("24h", "Last 24 hours, by hour", "24h", Granularity::Hour),
    ("30d", "Last 30 days, by day", "30d", Granularity::Day),
];

pub async fn pick(State(state): State<AppState>, signed: Signed) -> PageResult {
    let keys = keys::list_keys(
        State(state.clone()),
        signed.principal.clone(),
        ApiQuery(ListQuery {
            limit: Some(100),
            cursor: None,
        }),
    )
    .await?
    .0;
    let body = html! {
        h1 { "Usage" }
        p { "Choose a key to see its verifications over time, against its rate limit and quota." }
        @if keys.data.is_empty() {
            p class="muted" { "No keys to show." }
        } @else {
            div class="table-wrap" {
                table {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Key" } th scope="col" { "Last used" }
                        th scope="col" { "Status" } th scope="col" { span class="visually-hidden" { "Usage" } }
                    } }
                    tbody {
                        @for k in &keys.data {
                            tr {
                                td { (k.name) }
                                td { code { (k.prefix) "…" } }
                                td { (maybe_time(k.last_used_at, "never")) }
                                td { (status(k)) }
                                td { a href={ "/console/usage/" (k.id) } aria-label={ "Usage of " (k.name) } { "Usage" } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&signed, "Usage", body).into_response())
}

#[derive(Deserialize, Default)]
pub struct RangeQuery {
    range: Option<String>,
}

pub async fn key(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> PageResult {
    let chosen = RANGES
        .iter()
        .find(|r| Some(r.0) == q.range.as_deref())
        .unwrap_or(&RANGES[1]);
    let key = keys::get_key(
        State(state.clone()),
        signed.principal.clone(),
        Path(id.clone()),
    )
    .await?
    .0;
    let report = usage::key_usage(
        State(state.clone()),
        signed.principal.clone(),
        Path(id.clone()),
        ApiQuery(UsageQuery {
            from: Some(chosen.2.to_owned()),
            to: None,
            granularity: Some(chosen.3),
        }),
    )
    .await?
    .0;
    let title = format!("Usage of {}", key.name);
    let body = html! {
        p { a href="/console/usage" { "← Usage" } }
        h1 { (title) }
        p { code { (key.prefix) "…" } " " (status(&key)) " · last used " (maybe_time(key.last_used_at, "never")) }
        nav class="ranges" aria-label="Time range" {
            @for (value, label, _, _) in RANGES {
                @if value == &chosen.0 {
                    a href={ "/console/usage/" (key.id) "?range=" (value) } aria-current="page" { (label) }
                } @else {
                    a href={ "/console/usage/" (key.id) "?range=" (value) } { (label) }
                }
            }
        }
        (limits(&key, &report))
        (chart(&report, key.ratelimit))
        (numbers(&report))
    };
    Ok(page(&signed, &title, body).into_response())
}

fn percent(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// The rate limits and quota in words, with the quota as a meter.
fn limits(key: &KeyView, r: &UsageReport) -> Markup {
    html! {
        dl class="facts" {
            dt { "Verifications" }
            dd { (r.totals.valid) " valid, " (r.totals.denied) " denied from " (time(r.from)) " to " (time(r.to)) }
            dt { "Rate limit" }
            dd {
                @match (&key.ratelimit, &r.ratelimit) {
                    (Some(limit), Some(u)) => {
                        (limit.limit) " per " (limit.period_text()) ": " (u.used_in_last_period) " in the last period (" (percent(u.utilization)) "), at most " (percent(u.peak_utilization)) " in this range"
                    }
                    _ => span class="muted" { "none" }
                }
            }
            @if let Some(u) = &r.owner_ratelimit {
                dt { "Shared with the owner's other keys" }
                dd { (u.limit) " per " (u.period) ": " (percent(u.utilization)) " used in the last period" }
            }
            dt { @if r.quota.is_some() { label for="quota-meter" { "Quota" } } @else { "Quota" } }
            dd {
                @match &r.quota {
                    Some(q) => {
                        meter id="quota-meter" min="0" max=(q.limit) value=(q.used) { (q.used) " of " (q.limit) }
                        " " (q.used) " of " (q.limit) " credits used (" (percent(q.utilization)) "), " (q.remaining) " left"
                        @match q.refill {
                            Some(keyward_api::Refill::Daily) => " today",
                            Some(keyward_api::Refill::Monthly) => " this month",
                            None => " in total",
                        }
                    }
                    None => span class="muted" { "none" }
                }
            }
        }
    }
}

/// A round number at or above `v` (1, 2 or 5 times a power of ten).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 1.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if step * magnitude >= v {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

fn n1(v: f64) -> String {
    format!("{v:.1}")
}

fn bucket_label(r: &UsageReport, at: chrono::DateTime<chrono::Utc>) -> String {
    match r.granularity {
        Granularity::Day => at.format("%m-%d").to_string(),
        _ => at.format("%H:%M").to_string(),
    }
}

/// Valid (bottom) and denied (stacked on top) verifications per bucket, and the rate
/// limit as what a bucket could hold at most; the quota is the meter above.
pub fn chart(r: &UsageReport, ratelimit: Option<RateLimit>) -> Markup {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let n = r.series.len().max(1) as f64;
    let slot = plot_w / n;
    let bar = (slot * 0.7).max(1.0);
    let peak = r
        .series
        .iter()
        .map(|b| b.counts.valid + b.counts.denied)
        .max()
        .unwrap_or(0) as f64;
    let bucket_secs = (r.granularity.minutes() * 60) as f64;
    let capacity = ratelimit.map(|l| f64::from(l.limit) * bucket_secs / f64::from(l.period.max(1)));
    // A limit far above the traffic would flatten every bar: then it is said, not drawn.
    let drawn = capacity.filter(|c| *c <= peak.max(1.0) * 10.0);
    let top_value = nice_ceiling(peak.max(drawn.unwrap_or(0.0)));
    let y = |v: f64| TOP + plot_h - v / top_value * plot_h;
    let h = |v: i64| {
        if v == 0 {
            0.0
        } else {
            (v as f64 / top_value * plot_h).max(1.0)
        }
    };
    let per_bucket = r.granularity.as_str();
    let summary = format!(
        "{} valid and {} denied verifications per {per_bucket} from {} to {}{}",
        r.totals.valid,
        r.totals.denied,
        r.from.format("%Y-%m-%d %H:%M UTC"),
        r.to.format("%Y-%m-%d %H:%M UTC"),
        match (ratelimit, capacity) {
            (Some(l), Some(c)) => format!(
                "; the rate limit of {} per {} allows about {c:.0} per {per_bucket}",
                l.limit,
                l.period_text()
            ),
            _ => String::new(),
        }
    );
    let last = r.series.len().saturating_sub(1);
    let labelled = [0, last / 2, last];
    html! {
        figure class="usage" {
            svg class="chart" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg" {
                title id="chart-title" { "Verifications over time" }
                desc id="chart-desc" { (summary) }
                line class="axis" x1=(LEFT) x2=(LEFT + plot_w) y1=(n1(y(0.0))) y2=(n1(y(0.0))) {}
                text x=(LEFT - 6.0) y=(n1(y(0.0) + 4.0)) text-anchor="end" { "0" }
                text x=(LEFT - 6.0) y=(n1(y(top_value) + 4.0)) text-anchor="end" { (top_value) }
                line class="grid" x1=(LEFT) x2=(LEFT + plot_w) y1=(n1(y(top_value))) y2=(n1(y(top_value))) {}
                @for (i, b) in r.series.iter().enumerate() {
                    @let x = LEFT + i as f64 * slot + (slot - bar) / 2.0;
                    @let valid = h(b.counts.valid);
                    @let denied = h(b.counts.denied);
                    @let base = y(0.0);
                    g {
                        title { (bucket_label(r, b.start)) ": " (b.counts.valid) " valid, " (b.counts.denied) " denied" }
                        @if valid > 0.0 {
                            rect class="valid" x=(n1(x)) y=(n1(base - valid)) width=(n1(bar)) height=(n1(valid)) {}
                        }
                        @if denied > 0.0 {
                            rect class="denied" x=(n1(x)) y=(n1(base - valid - denied)) width=(n1(bar)) height=(n1(denied)) {}
                        }
                    }
                    @if labelled.contains(&i) {
                        text x=(n1(LEFT + i as f64 * slot + slot / 2.0)) y=(n1(HEIGHT - BOTTOM + 18.0)) text-anchor="middle" { (bucket_label(r, b.start)) }
                    }
                }
                @if let Some(c) = drawn {
                    line class="limit" x1=(LEFT) x2=(LEFT + plot_w) y1=(n1(y(c))) y2=(n1(y(c))) {}
                    text x=(LEFT + plot_w) y=(n1(y(c) - 4.0)) text-anchor="end" { "rate limit" }
                }
            }
            figcaption class="legend" {
                span { span class="swatch valid" {} "Valid" }
                span { span class="swatch denied" {} "Denied" }
                @if drawn.is_some() { span { span class="swatch limit" {} "Rate limit (per " (per_bucket) ")" } }
                @if let (Some(c), None) = (capacity, drawn) {
                    span class="muted" { "The rate limit (about " (format!("{c:.0}")) " per " (per_bucket) ") is far above this traffic." }
                }
            }
        }
    }
}

/// The chart's numbers as a table.
fn numbers(r: &UsageReport) -> Markup {
    html! {
        details class="numbers" {
            summary { "The numbers as a table" }
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "Verifications per " (r.granularity.as_str()) }
                    thead { tr { th scope="col" { "From" } th scope="col" { "Valid" } th scope="col" { "Denied" } th scope="col" { "API calls" } } }
                    tbody {
                        @for b in &r.series {
                            tr {
                                td { (time(b.start)) }
                                td { (b.counts.valid) }
                                td { (b.counts.denied) }
                                td { (b.counts.api) }
                            }
                        }
                    }
                    tfoot { tr { th scope="row" { "Total" } td { (r.totals.valid) } td { (r.totals.denied) } td { (r.totals.api) } } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use keyward_api::{UsageBucket, UsageCounts};

    fn report(counts: &[(i64, i64)]) -> UsageReport {
        let start = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        UsageReport {
            key_id: "key_1".into(),
            from: start,
            to: start + chrono::Duration::hours(counts.len() as i64),
            granularity: Granularity::Hour,
            totals: UsageCounts {
                valid: counts.iter().map(|c| c.0).sum(),
                denied: counts.iter().map(|c| c.1).sum(),
                api: 0,
            },
            series: counts
                .iter()
                .enumerate()
                .map(|(i, (valid, denied))| UsageBucket {
                    start: start + chrono::Duration::hours(i as i64),
                    counts: UsageCounts {
                        valid: *valid,
                        denied: *denied,
                        api: 0,
                    },
                })
                .collect(),
            ratelimit: None,
            owner_ratelimit: None,
            quota: None,
        }
    }

    #[test]
    fn bars_are_drawn_for_counts_and_the_limit_when_it_is_near() {
        let r = report(&[(3, 1), (0, 0), (5, 0)]);
        let near = RateLimit {
            limit: 8,
            period: 3600,
        };
        let svg = chart(&r, Some(near)).into_string();
        assert_eq!(svg.matches("class=\"valid\"").count(), 2, "{svg}");
        assert_eq!(svg.matches("class=\"denied\"").count(), 1);
        assert!(svg.contains("class=\"limit\""));
        assert!(!svg.contains("style="));
        let far = RateLimit {
            limit: 100,
            period: 60,
        };
        let svg = chart(&r, Some(far)).into_string();
        assert!(!svg.contains("line class=\"limit\""));
        assert!(svg.contains("far above this traffic"));
    }

    #[test]
    fn the_scale_is_a_round_number() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(12.0), 20.0);
        assert_eq!(nice_ceiling(20.0), 20.0);
        assert_eq!(nice_ceiling(430.0), 500.0);
    }
}
