// Shared helpers of the browser specs: a real `keyward serve` on a free loopback port with
// a data directory of its own, the real `keyward` CLI pointed at it, Debian's Chromium
// driven by playwright-core, axe-core's accessibility check and screenshots at two widths.
//
// The binary is $KEYWARD_BIN (browser.rs sets it to Cargo's build of `keyward`); the
// browser is $CHROMIUM or /usr/bin/chromium. Nothing is mocked and nothing is downloaded.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The repository's root (this file is crates/keyward/tests/browser/harness.mjs). */
export const REPO_ROOT = path.resolve(HERE, '..', '..', '..', '..');

/** Longest `keyward serve` may take to print its address. */
const START_TIMEOUT_MS = 30_000;
/** Longest one CLI command may take. */
const COMMAND_TIMEOUT_MS = 30_000;
/** Longest a form submission may take to load the next page. */
export const NAVIGATION_TIMEOUT_MS = 15_000;

/** The owner `keyward serve` creates on first start when given no `--email`. */
export const OWNER_EMAIL = 'owner@localhost';

/** The `keyward` binary: $KEYWARD_BIN, else the debug build in the target directory. */
export function keywardBin() {
  if (process.env.KEYWARD_BIN) return process.env.KEYWARD_BIN;
  const target = process.env.CARGO_TARGET_DIR || path.join(REPO_ROOT, 'target');
  const guess = path.join(target, 'debug', 'keyward');
  if (existsSync(guess)) return guess;
  throw new Error(
    'KEYWARD_BIN is not set and there is no debug build at ' +
      guess +
      ': run `cargo test -p keyward --test browser`, or `cargo build -p keyward` and set KEYWARD_BIN',
  );
}

// Every server and CLI process a spec started, killed when the spec's process exits even
// if a test threw before its cleanup ran (a live child would otherwise keep it running).
const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** A clean environment: none of the caller's KEYWARD_* settings, a home of its own. */
function cleanEnv(home, extra = {}) {
  return {
    PATH: process.env.PATH || '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    NO_COLOR: '1',
    LANG: 'C.UTF-8',
    ...extra,
  };
}

/**
 * Starts `keyward serve --listen 127.0.0.1:0 --data-dir <fresh dir> ...args` and waits
 * for its "Keyward is listening on http://…" line.
 *
 * Returns `{ url, token, setupLink, output, stop, cli }`: `token` is the owner's personal
 * access token printed on first start, `setupLink` the owner's one-time password link
 * (or null when the server printed none), `output()` what the server printed so far
 * (stdout and stderr), `stop()` ends the server and removes its directory, and
 * `cli(args, opts)` runs the CLI against this server with the owner's token.
 */
export async function startKeyward({ args = [], env = {} } = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'keyward-browser-'));
  const home = path.join(dir, 'home');
  await mkdir(home, { recursive: true });
  const bin = keywardBin();
  const child = spawn(
    bin,
    ['serve', '--listen', '127.0.0.1:0', '--data-dir', path.join(dir, 'data'), ...args],
    {
      cwd: dir,
      env: cleanEnv(home, { KEYWARD_LOG: 'warn,keyward=warn', ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  live.add(child);
  const lines = [];
  const errors = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => errors.push(chunk));
  const output = () => `${lines.join('\n')}\n--- stderr ---\n${errors.join('')}`;

  let token = null;
  let setupLink = null;
  let url;
  try {
    url = await listening();
  } catch (e) {
    live.delete(child);
    await rm(dir, { recursive: true, force: true });
    throw e;
  }

  function listening() {
   return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`keyward serve did not print its address within ${START_TIMEOUT_MS} ms:\n${output()}`));
    }, START_TIMEOUT_MS);
    const onExit = (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`keyward serve exited (code ${code}, signal ${signal}) before listening:\n${output()}`));
    };
    child.once('exit', onExit);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${bin}: ${e.message}`));
    });
    // Keeps reading after the address line too, so the server never blocks on a full pipe.
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      const pat = /^ {4}(kw_pat_[0-9A-Za-z]+)$/.exec(line);
      if (pat && token === null) token = pat[1];
      const link = /(https?:\/\/[^\s"'<>]*\/console\/password\?code=kw_pwl_[^\s"'<>]*)/.exec(line);
      if (link && setupLink === null) setupLink = link[1];
      const listening = /^Keyward is listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
      if (listening) {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(listening[1]);
      }
    });
   });
  }

  let stopped = null;
  const stop = () => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      live.delete(child);
      await rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  return {
    url,
    token,
    setupLink,
    dir,
    output,
    stop,
    cli: (cliArgs, opts = {}) => runKeyward(cliArgs, { server: url, token, ...opts }),
  };
}

/**
 * Runs the `keyward` CLI: `server` and `token` become KEYWARD_SERVER and KEYWARD_API_KEY
 * (the CLI's own variables; see crates/keyward/src/cli/context.rs), `env` adds more. It
 * runs in an empty directory with a home of its own, so no `.env` file or stored login
 * of the machine's is used. Resolves to `{ code, stdout, stderr }`.
 */
export async function runKeyward(args, { server, token, env = {}, input, timeoutMs = COMMAND_TIMEOUT_MS } = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'keyward-cli-'));
  try {
    const extra = { ...env };
    if (server) extra.KEYWARD_SERVER = server;
    if (token) extra.KEYWARD_API_KEY = token;
    const child = spawn(keywardBin(), args, {
      cwd: dir,
      env: cleanEnv(dir, extra),
      // No input: stdin is /dev/null (a prompt reads end of file).
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    live.add(child);
    if (input !== undefined) {
      // A command that exits without reading its input closes the pipe first: not an error.
      child.stdin.on('error', () => {});
      child.stdin.end(input);
    }
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
    const code = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`keyward ${args.join(' ')} took over ${timeoutMs} ms; stdout:\n${stdout}\nstderr:\n${stderr}`));
      }, timeoutMs);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    live.delete(child);
    return { code, stdout, stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Launches headless Chromium ($CHROMIUM or /usr/bin/chromium), never a downloaded one. */
export async function launchBrowser() {
  const args = [
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
    '--disable-sync',
    '--disable-default-apps',
  ];
  // Chromium refuses to start its sandbox as root (CI runs as root).
  if (typeof process.getuid === 'function' && process.getuid() === 0) args.push('--no-sandbox');
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args,
    timeout: 30_000,
  });
}

/** A fresh browser context (its own cookies) whose relative URLs resolve against `baseURL`. */
export async function newContext(browser, baseURL, options = {}) {
  const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 800 }, ...options });
  context.setDefaultTimeout(NAVIGATION_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
  return context;
}

/**
 * Runs axe-core on the page and fails on any violation of impact `serious` or
 * `critical`, naming each rule, its help and the selectors of the elements at fault.
 * Lesser violations are printed, not failed. Returns axe's results.
 */
export async function checkA11y(page, label) {
  const results = await new AxeBuilder({ page }).analyze();
  const describe = (v) =>
    `  - ${v.id} [${v.impact}]: ${v.help} (${v.helpUrl})\n` +
    v.nodes.map((n) => `      at ${n.target.join(' ')}${n.failureSummary ? `\n        ${n.failureSummary.replace(/\n/g, '\n        ')}` : ''}`).join('\n');
  const grave = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const minor = results.violations.filter((v) => !grave.includes(v));
  if (minor.length) {
    console.log(`a11y ${label}: ${minor.length} minor violation(s), not failing:\n${minor.map(describe).join('\n')}`);
  }
  if (grave.length) {
    assert.fail(`a11y ${label} (${page.url()}): ${grave.length} serious or critical violation(s):\n${grave.map(describe).join('\n')}`);
  }
  return results;
}

/** Where screenshots go: $KEYWARD_ARTIFACTS, else target/browser-artifacts in the repo. */
export function artifactsDir() {
  return process.env.KEYWARD_ARTIFACTS || path.join(REPO_ROOT, 'target', 'browser-artifacts');
}

/**
 * Full-page screenshots at 1280 and 390 pixels wide: `<name>-1280.png` and
 * `<name>-390.png` in artifactsDir(). The page's viewport is restored afterwards.
 */
export async function screenshot(page, name) {
  const dir = artifactsDir();
  await mkdir(dir, { recursive: true });
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, '-');
  const before = page.viewportSize();
  const written = [];
  try {
    for (const [width, height] of [
      [1280, 800],
      [390, 844],
    ]) {
      await page.setViewportSize({ width, height });
      const file = path.join(dir, `${safe}-${width}.png`);
      await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
      written.push(file);
    }
  } finally {
    if (before) await page.setViewportSize(before);
  }
  return written;
}

/**
 * Clicks `locator` (a submit button) and waits for the page that the submission loads,
 * whether it redirects or answers with the form again.
 */
export async function submitAndWait(page, locator) {
  const loaded = page.waitForEvent('load', { timeout: NAVIGATION_TIMEOUT_MS });
  await locator.click();
  await loaded;
}

/** Signs in on /console/signin by the form's accessible names; leaves the page where it lands. */
export async function signIn(page, email, password) {
  await page.goto('/console/signin');
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await submitAndWait(page, page.getByRole('button', { name: 'Sign in', exact: true }));
}

/** Opens a one-time password link and sets the password; leaves the page where it lands. */
export async function setPassword(page, link, password) {
  await page.goto(link);
  await page.getByLabel('New password', { exact: true }).fill(password);
  await page.getByLabel('Repeat password', { exact: true }).fill(password);
  await submitAndWait(page, page.getByRole('button', { name: 'Set password', exact: true }));
}

/** Presses the top bar's "Sign out" and waits for the page it lands on. */
export async function signOut(page) {
  await submitAndWait(page, page.getByRole('button', { name: 'Sign out', exact: true }).first());
}

/** The page's path (no origin, no query). */
export function pathOf(page) {
  return new URL(page.url()).pathname;
}

/** What the page shows, in short, for assertion messages: its URL and the start of its text. */
export async function describePage(page) {
  const text = await page
    .locator('body')
    .innerText({ timeout: 2_000 })
    .catch(() => '(no body)');
  const shown = text.replace(/\s+/g, ' ').trim().slice(0, 400);
  return `${page.url()} showing: ${shown}`;
}

/** The text of the page's one `role="alert"` element (waits for it to appear). */
export async function alertText(page) {
  const alert = page.getByRole('alert');
  try {
    await alert.first().waitFor({ state: 'visible' });
  } catch (e) {
    assert.fail(`no role="alert" on ${await describePage(page)} (${e.message.split('\n')[0]})`);
  }
  const count = await alert.count();
  assert.equal(count, 1, `expected one alert on ${page.url()}, found ${count}: ${await alert.allInnerTexts()}`);
  return (await alert.innerText()).trim();
}

/** The text of the page's level-1 heading (waits for it). */
export async function h1(page) {
  return (await page.getByRole('heading', { level: 1 }).first().innerText()).trim();
}
