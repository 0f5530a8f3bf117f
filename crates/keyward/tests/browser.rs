//! The web console in a real browser: runs the `node:test` specs of `tests/browser/`
//! (`*.spec.mjs`, one file at a time) against this build of the `keyward` binary, with
//! Debian's Chromium driven by playwright-core. The specs start their own servers on
//! loopback (`tests/browser/harness.mjs`); screenshots go to `<target>/browser-artifacts`.
//!
//! Needs `node`, the specs' `node_modules` (`npm ci` in `tests/browser/`, with
//! `PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1`) and Chromium (`/usr/bin/chromium`, or
//! `$CHROMIUM`). `.ci/run` installs all three. Without one of them the test is skipped,
//! except under `CI=true`, where it fails and says what to install.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The whole suite's bound (`KEYWARD_BROWSER_TIMEOUT_SECS` to change it): past it, node
/// and everything it started are killed and the test fails.
const SUITE_TIMEOUT: Duration = Duration::from_secs(8 * 60);
/// One test's bound inside node's runner (milliseconds).
const TEST_TIMEOUT_MS: u32 = 120_000;

fn specs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// What is missing to run the specs, each with how to install it.
fn missing(dir: &Path, node: &str, chromium: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    let node_ok = Command::new(node)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !node_ok {
        missing.push(format!(
            "`{node}` (Node.js 20 or later): apt-get install -y nodejs npm"
        ));
    }
    for package in ["playwright-core", "@axe-core/playwright"] {
        if !dir.join("node_modules").join(package).is_dir() {
            missing.push(format!(
                "{}/node_modules/{package}: cd {} && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci",
                dir.display(),
                dir.display()
            ));
        }
    }
    if !chromium.is_file() {
        missing.push(format!(
            "{} (Chromium): apt-get update && apt-get install -y chromium fonts-liberation, or set CHROMIUM",
            chromium.display()
        ));
    }
    missing
}

/// The `<target>` directory of this build: the binary is `<target>/<profile>/keyward`.
fn target_dir() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_keyward"));
    bin.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir)
}

/// Straight to the process's stderr, which the test harness does not capture (as it does
/// `eprintln!`), so the skip notice and where the screenshots are always show.
fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

#[test]
fn browser_specs() {
    let dir = specs_dir();
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
    let chromium =
        PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()));
    let missing = missing(&dir, &node, &chromium);
    if !missing.is_empty() {
        let list = missing.join("\n  ");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the browser tests cannot run under CI=true; missing:\n  {list}\n(.ci/run installs all of these)");
        }
        say(&format!(
            "browser_specs skipped: missing\n  {list}\n(set CI=true to make this a failure)"
        ));
        return;
    }

    let mut specs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(".spec.mjs")))
        .collect();
    specs.sort();
    assert!(!specs.is_empty(), "no *.spec.mjs in {}", dir.display());

    let artifacts = std::env::var_os("KEYWARD_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("browser-artifacts"));
    std::fs::create_dir_all(&artifacts).unwrap();
    say(&format!(
        "browser specs: {} file(s) with {}; screenshots in {}",
        specs.len(),
        chromium.display(),
        artifacts.display()
    ));

    let timeout = std::env::var("KEYWARD_BROWSER_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(SUITE_TIMEOUT, Duration::from_secs);
    let started = Instant::now();
    let mut child = Command::new(&node)
        .arg("--test")
        .arg("--test-concurrency=1")
        .arg(format!("--test-timeout={TEST_TIMEOUT_MS}"))
        .arg("--test-reporter=spec")
        .args(&specs)
        .current_dir(&dir)
        .env("KEYWARD_BIN", env!("CARGO_BIN_EXE_keyward"))
        .env("KEYWARD_ARTIFACTS", &artifacts)
        .env("CHROMIUM", &chromium)
        // Its own process group, so a timeout ends the servers and browsers it started too.
        .process_group(0)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {node}: {e}"));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > timeout {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.wait();
            panic!(
                "the browser specs took over {} s and were killed (screenshots so far in {})",
                timeout.as_secs(),
                artifacts.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    say(&format!(
        "browser specs finished in {:.1} s: {status}",
        started.elapsed().as_secs_f64()
    ));
    assert!(
        status.success(),
        "browser specs failed ({status}); the failures are printed above, screenshots in {}",
        artifacts.display()
    );
}
