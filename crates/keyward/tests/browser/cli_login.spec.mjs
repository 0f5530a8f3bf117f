// `keyward auth login --web` with a real browser: the CLI waits on its loopback, Chromium
// opens the link it printed, the person signs in if needed, authorizes or cancels on
// "Authorize the Keyward CLI", and the console's redirect carries the browser back to the
// CLI (which the page's CSP must allow: Chromium applies form-action to the redirect of a
// form). Elements are found by their accessible names only.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, test } from 'node:test';
import {
  OWNER_EMAIL,
  checkA11y,
  describePage,
  h1,
  keywardBin,
  launchBrowser,
  newContext,
  runKeyward,
  screenshot,
  setPassword,
  startKeyward,
  submitAndWait,
} from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const HEADING = 'Authorize the Keyward CLI';
const MACHINE = 'browser-box';
/** Longest the CLI may take to finish once the browser is back. */
const FINISH_TIMEOUT_MS = 30_000;

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

async function server(t) {
  const s = await startKeyward();
  t.after(() => s.stop());
  assert.ok(s.setupLink, `keyward serve printed no password link:\n${s.output()}`);
  return s;
}

async function newPage(t, s) {
  const context = await newContext(browser, s.url);
  t.after(() => context.close());
  return context.newPage();
}

/**
 * Starts `keyward auth login --web --no-browser` against `s` on a machine of its own
 * (its own config directory) and resolves, once it printed its link, to
 * `{ link, configDir, finished }`; `finished` resolves to `{ code, stdout, stderr }`.
 */
async function startWebLogin(t, s) {
  const dir = await mkdtemp(path.join(tmpdir(), 'keyward-web-login-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const configDir = path.join(dir, 'config');
  await mkdir(configDir);
  const child = spawn(keywardBin(), ['auth', 'login', '--web', '--no-browser', '--server', s.url], {
    cwd: dir,
    env: {
      PATH: process.env.PATH || '/usr/bin:/bin',
      HOME: dir,
      KEYWARD_CONFIG_DIR: configDir,
      HOSTNAME: MACHINE,
      NO_COLOR: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.exitCode === null && child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
  const link = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no link within 15 s; stderr:\n${stderr}`)), 15_000);
    readline.createInterface({ input: child.stderr }).on('line', (line) => {
      stderr += `${line}\n`;
      const m = /^Open this link to sign in: (\S+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`the CLI exited (${code}) before printing a link:\n${stderr}`)));
  });
  const finished = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the CLI did not finish within ${FINISH_TIMEOUT_MS} ms; stderr:\n${stderr}`));
    }, FINISH_TIMEOUT_MS);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  // Unhandled until awaited: a test that fails earlier must not also reject this.
  finished.catch(() => {});
  return { link, configDir, finished };
}

test('Authorize signs the CLI in: the browser goes back to it, and its token works', async (t) => {
  const s = await server(t);
  const page = await newPage(t, s);
  await setPassword(page, s.setupLink, PASSWORD);
  const cli = await startWebLogin(t, s);
  assert.ok(cli.link.startsWith(`${s.url}/console/cli-login?`), cli.link);

  await page.goto(cli.link);
  assert.equal(await h1(page), HEADING, await describePage(page));
  const text = await page.locator('main').innerText();
  assert.ok(text.includes(MACHINE), `the page names the machine: ${text}`);
  assert.ok(text.includes(OWNER_EMAIL), `the page names the person: ${text}`);
  await checkA11y(page, 'authorize the CLI');
  await screenshot(page, 'cli-login-authorize');

  await page.getByLabel(/^Read only/).check();
  await page.getByLabel('Expires', { exact: true }).selectOption('30d');
  await submitAndWait(page, page.getByRole('button', { name: 'Authorize', exact: true }));
  const back = new URL(page.url());
  assert.equal(back.origin.startsWith('http://127.0.0.1:'), true, `the browser went to ${page.url()}`);
  assert.equal(back.pathname, '/callback');
  assert.equal(await h1(page), 'Keyward CLI is signed in', await describePage(page));

  const done = await cli.finished;
  assert.equal(done.code, 0, `stdout:\n${done.stdout}\nstderr:\n${done.stderr}`);
  assert.match(done.stdout, new RegExp(`Signed in as ${OWNER_EMAIL} in \\S+; token kw_pat_`));
  const whoami = await runKeyward(['auth', 'whoami'], { env: { KEYWARD_CONFIG_DIR: cli.configDir } });
  assert.equal(whoami.code, 0, whoami.stderr);
  assert.match(whoami.stdout, new RegExp(`^Authenticated as: ${OWNER_EMAIL} `));
  const keys = await runKeyward(['keys', 'list', '--json'], { env: { KEYWARD_CONFIG_DIR: cli.configDir } });
  const token = JSON.parse(keys.stdout).data.find((k) => k.name === `keyward CLI on ${MACHINE}`);
  assert.ok(token, `the token is listed: ${keys.stdout}`);
  assert.deepEqual(token.permissions, ['*:read']);
});

test('a visitor signs in first and comes back; Cancel ends the CLI with access denied', async (t) => {
  const s = await server(t);
  const setup = await newPage(t, s);
  await setPassword(setup, s.setupLink, PASSWORD);
  const cli = await startWebLogin(t, s);

  const page = await newPage(t, s);
  await page.goto(cli.link);
  assert.equal(new URL(page.url()).pathname, '/console/signin', await describePage(page));
  await page.getByLabel('Email', { exact: true }).fill(OWNER_EMAIL);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await submitAndWait(page, page.getByRole('button', { name: 'Sign in', exact: true }));
  assert.equal(await h1(page), HEADING, `after signing in: ${await describePage(page)}`);

  await submitAndWait(page, page.getByRole('button', { name: 'Cancel', exact: true }));
  assert.equal(new URL(page.url()).pathname, '/callback', page.url());
  assert.equal(await h1(page), 'Sign-in cancelled', await describePage(page));
  const done = await cli.finished;
  assert.equal(done.code, 3, `stdout:\n${done.stdout}\nstderr:\n${done.stderr}`);
  assert.match(done.stderr, /authorization was cancelled in the browser/);
});
