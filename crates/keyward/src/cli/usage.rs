//! `keyward keys usage`: a key's verifications and API calls over time
//! (`GET /v1/keys/{id}/usage`), as a bar chart with its totals and utilization lines.
//!
//! The rendering is a pure function of the report and a [`Style`], so it is tested
//! without a server.

use super::context::{Context, Session};
use super::failure::{CmdResult, Failure};
use super::lookup::{self, KeyRef};
use super::output::{self, Color, Style};
use super::parse::parse_time;
use super::text::{count_text, percent_text, quota_text};
use chrono::{DateTime, Local, Utc};
use clap::{Args, ValueEnum};
use keyward_client::{Granularity, Quota, RateLimitUsage, UsageParams, UsageReport};

#[derive(Clone, Copy, ValueEnum)]
enum GranularityArg {
    Minute,
    Hour,
    Day,
}

/// A key's verifications and API calls over time, with its rate limit and quota use.
#[derive(Args)]
#[command(
    long_about = "A key's verifications (valid and denied) and API calls over time, as a \
        chart with one row per minute, hour or day, then the totals and how much of the \
        key's rate limit, its owner's shared rate limit and its quota are used. With \
        --json, the server's report (GET /v1/keys/{id}/usage).",
    after_help = "Examples:\n  \
        keyward keys usage \"CI pipeline\"                     # the last 24 hours, by hour\n  \
        keyward keys usage key_4kQ0… --from 7d --granularity day\n  \
        keyward keys usage kw_live_ab12 --from 1h --granularity minute\n  \
        keyward keys usage key_4kQ0… --from 2026-11-01T00:00:00Z --to 2026-11-02T00:00:00Z --json"
)]
pub struct UsageArgs {
    #[command(flatten)]
    key: KeyRef,
    /// Start: RFC 3339, a date, or a time ago (24h, 7d) [default: 24 hours before --to]
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    from: Option<chrono::DateTime<Utc>>,
    /// End: RFC 3339, a date, now, or a time ago (1h) [default: now]
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    to: Option<chrono::DateTime<Utc>>,
    /// The size of a row
    #[arg(long, value_enum, default_value = "hour")]
    granularity: GranularityArg,
}

pub async fn run(ctx: &Context, args: UsageArgs) -> CmdResult {
    let s = Session::open(ctx)?;
    if let (Some(from), Some(to)) = (args.from, args.to) {
        if from >= to {
            return Err(Failure::usage(format!(
                "--from ({}) must be before --to ({})",
                output::absolute(from),
                output::absolute(to)
            )));
        }
    }
    let key = lookup::key(&s, &args.key.key).await?;
    let params = UsageParams {
        from: args.from,
        to: args.to,
        granularity: Some(match args.granularity {
            GranularityArg::Minute => Granularity::Minute,
            GranularityArg::Hour => Granularity::Hour,
            GranularityArg::Day => Granularity::Day,
        }),
    };
    let report = s
        .client
        .key_usage(&key.id, &params)
        .await
        .map_err(|e| s.fail(e))?;
    if s.json() {
        output::print_json(&report);
    } else {
        let label = format!("\"{}\" ({}, {}…)", key.name, key.id, key.prefix);
        print!("{}", render_report(Style::stdout(), &report, &label));
    }
    Ok(())
}

/// The widest bar, in characters.
const BAR_WIDTH: usize = 40;

/// The start of a bucket in local time, as precise as the granularity.
fn bucket_label(start: DateTime<Utc>, granularity: Granularity, with_date: bool) -> String {
    let local = start.with_timezone(&Local);
    match granularity {
        Granularity::Day => local.format("%a %d %b").to_string(),
        _ if with_date => local.format("%a %d %b %H:%M").to_string(),
        _ => local.format("%H:%M").to_string(),
    }
}

/// `█` for the requests that went through, `░` for the denied ones, scaled to `max`.
fn bar(style: Style, ok: i64, denied: i64, max: i64) -> (String, usize) {
    if max <= 0 {
        return (String::new(), 0);
    }
    let cells = |n: i64| -> usize {
        if n <= 0 {
            0
        } else {
            ((n as f64 / max as f64 * BAR_WIDTH as f64).round() as usize).max(1)
        }
    };
    let (mut a, mut b) = (cells(ok), cells(denied));
    while a + b > BAR_WIDTH {
        if b > 1 || (b == 1 && a == 0) {
            b -= 1;
        } else {
            a -= 1;
        }
    }
    let text = format!(
        "{}{}",
        style.paint(Color::Green, &"█".repeat(a)),
        style.paint(Color::Red, &"░".repeat(b))
    );
    (text, a + b)
}

fn rate_line(label: &str, r: &RateLimitUsage) -> String {
    format!(
        "{label} {}/{}: {} now ({} in the last {}), peak {}",
        r.limit,
        r.period,
        percent_text(r.utilization),
        count_text(r.used_in_last_period),
        r.period,
        percent_text(r.peak_utilization),
    )
}

/// The whole human report: a header, one row per bucket, totals and utilization.
pub fn render_report(style: Style, report: &UsageReport, key_label: &str) -> String {
    let mut out = String::new();
    let local_offset = Local::now().format("%:z");
    out.push_str(&format!(
        "Usage of {key_label}, {} to {}, by {} (times are local, UTC{local_offset})\n\n",
        output::absolute(report.from),
        output::absolute(report.to),
        report.granularity.as_str(),
    ));
    let max = report
        .series
        .iter()
        .map(|b| b.counts.valid + b.counts.api + b.counts.denied)
        .max()
        .unwrap_or(0);
    let multi_day = report.to - report.from > chrono::Duration::hours(24)
        || report.from.with_timezone(&Local).date_naive()
            != (report.to - chrono::Duration::seconds(1))
                .with_timezone(&Local)
                .date_naive();
    let labels: Vec<String> = report
        .series
        .iter()
        .map(|b| bucket_label(b.start, report.granularity, multi_day))
        .collect();
    let label_width = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let nums = |f: fn(&keyward_client::UsageCounts) -> i64, head: &str| {
        report
            .series
            .iter()
            .map(|b| count_text(f(&b.counts)).chars().count())
            .chain([head.len()])
            .max()
            .unwrap_or(0)
    };
    let (wv, wd, wa) = (
        nums(|c| c.valid, "VALID"),
        nums(|c| c.denied, "DENIED"),
        nums(|c| c.api, "API"),
    );
    out.push_str(&style.paint(
        Color::Bold,
        &format!(
            "{:<label_width$}  {:<BAR_WIDTH$}  {:>wv$}  {:>wd$}  {:>wa$}",
            "TIME", "", "VALID", "DENIED", "API"
        ),
    ));
    out.push('\n');
    for (b, label) in report.series.iter().zip(&labels) {
        let c = &b.counts;
        let (bar_text, bar_len) = bar(style, c.valid + c.api, c.denied, max);
        let dim = |n: i64, w: usize| {
            let text = format!("{:>w$}", count_text(n));
            if n == 0 {
                style.paint(Color::Dim, &text)
            } else {
                text
            }
        };
        out.push_str(&format!(
            "{label:<label_width$}  {bar_text}{}  {}  {}  {}",
            " ".repeat(BAR_WIDTH - bar_len),
            dim(c.valid, wv),
            dim(c.denied, wd),
            dim(c.api, wa),
        ));
        out.push('\n');
    }
    out.push_str(&format!(
        "\n{} valid and {} denied verifications, {} API calls.\n",
        count_text(report.totals.valid),
        count_text(report.totals.denied),
        count_text(report.totals.api),
    ));
    if max > 0 {
        out.push_str(&style.paint(
            Color::Dim,
            &format!(
                "█ valid verifications and API calls, ░ denied; the longest bar is {} requests.\n",
                count_text(max)
            ),
        ));
    }
    out.push_str(&utilization_lines(report));
    out
}

/// "Rate limit 100/1m: 12% now, peak 55%" and "Quota 10000/monthly: 2 340 used, 7 660 left (23%)".
pub fn utilization_lines(report: &UsageReport) -> String {
    let mut out = String::new();
    match &report.ratelimit {
        Some(r) => out.push_str(&rate_line("Rate limit", r)),
        None => out.push_str("Rate limit: none"),
    }
    out.push('\n');
    if let Some(r) = &report.owner_ratelimit {
        out.push_str(&rate_line("Owner's shared rate limit", r));
        out.push('\n');
    }
    match &report.quota {
        Some(q) => {
            let spec = quota_text(&Quota {
                limit: q.limit,
                refill: q.refill,
            });
            out.push_str(&format!(
                "Quota {spec}: {} used, {} left ({})",
                count_text(q.used),
                count_text(q.remaining),
                percent_text(q.utilization)
            ));
        }
        None => out.push_str("Quota: none"),
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_client::{QuotaUsage, Refill, UsageBucket, UsageCounts};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn report() -> UsageReport {
        let bucket = |start: &str, valid, denied, api| UsageBucket {
            start: t(start),
            counts: UsageCounts { valid, denied, api },
        };
        UsageReport {
            key_id: "key_1".into(),
            from: t("2030-01-01T00:00:00Z"),
            to: t("2030-01-01T03:00:00Z"),
            granularity: Granularity::Hour,
            totals: UsageCounts {
                valid: 30,
                denied: 10,
                api: 0,
            },
            series: vec![
                bucket("2030-01-01T00:00:00Z", 20, 0, 0),
                bucket("2030-01-01T01:00:00Z", 0, 0, 0),
                bucket("2030-01-01T02:00:00Z", 10, 10, 0),
            ],
            ratelimit: Some(RateLimitUsage {
                limit: 100,
                period: "1m".into(),
                used_in_last_period: 12,
                utilization: 0.12,
                peak_utilization: 0.55,
            }),
            owner_ratelimit: None,
            quota: Some(QuotaUsage {
                limit: 10_000,
                refill: Some(Refill::Monthly),
                remaining: 7_660,
                used: 2_340,
                utilization: 0.234,
            }),
        }
    }

    #[test]
    fn the_chart_scales_bars_to_the_busiest_bucket() {
        let out = render_report(Style { color: false }, &report(), "\"ci\" (key_1)");
        // Chart rows start with the time; the legend starts with a bar.
        let rows: Vec<&str> = out
            .lines()
            .filter(|l| !l.starts_with('█'))
            .filter(|l| l.contains('█') || l.contains('░'))
            .collect();
        assert_eq!(rows.len(), 2, "{out}");
        assert_eq!(rows[0].matches('█').count(), BAR_WIDTH, "{out}");
        assert_eq!(rows[1].matches('█').count(), BAR_WIDTH / 2, "{out}");
        assert_eq!(rows[1].matches('░').count(), BAR_WIDTH / 2, "{out}");
        assert!(
            out.contains("30 valid and 10 denied verifications, 0 API calls."),
            "{out}"
        );
        assert!(
            out.contains("Rate limit 100/1m: 12% now (12 in the last 1m), peak 55%"),
            "{out}"
        );
        assert!(
            out.contains("Quota 10000/monthly: 2 340 used, 7 660 left (23%)"),
            "{out}"
        );
        assert!(!out.contains('\x1b'));
        let colored = render_report(Style { color: true }, &report(), "k");
        assert!(colored.contains("\x1b[32m█"));
    }

    #[test]
    fn an_empty_report_has_no_bars() {
        let mut r = report();
        for b in &mut r.series {
            b.counts = UsageCounts::default();
        }
        r.ratelimit = None;
        r.quota = None;
        let out = render_report(Style { color: false }, &r, "k");
        assert!(!out.contains('█'));
        assert!(
            out.contains("Rate limit: none") && out.contains("Quota: none"),
            "{out}"
        );
    }
}
