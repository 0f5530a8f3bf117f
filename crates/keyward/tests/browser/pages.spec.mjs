// The people and organization pages in a real browser, with data in them: axe finds no
// serious or critical violation on any (light and dark), and each is photographed at 1280
// and 390 pixels wide — Members (with a one-time link shown), a member's page, Join,
// Channels, Workspaces and Agents, Settings, Integrations (two configured, one pending
// connection), Webhooks (one disabled endpoint) with its delivery log, Workers (empty, then one
// registered, shown and removed), the Audit Log and
// Usage with its chart.
// One server; the data is made through the API with the owner's printed token.

import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { checkA11y, h1, launchBrowser, newContext, screenshot, setPassword, startKeyward, submitAndWait } from './harness.mjs';

const PASSWORD = 'correct horse battery staple';

let browser;
let s;
before(async () => {
  browser = await launchBrowser();
  s = await startKeyward({ args: ['--config', await integrationsConfig()] });
  assert.ok(s.setupLink, `no password link printed on first start:\n${s.output()}`);
  await seed();
  await signInOwner();
});
after(async () => {
  await s?.stop();
  await browser?.close();
});

/**
 * A keyward.yaml with two integrations: Gmail (built in) and one described by its
 * endpoints. Nothing here talks to them; the Integrations page only lists them.
 */
async function integrationsConfig() {
  const file = path.join(await mkdtemp(path.join(tmpdir(), 'keyward-pages-')), 'keyward.yaml');
  await writeFile(file, `integrations:
  gmail:
    enabled: true
    credentials: {client_id: browser-tests, client_secret: not-a-real-secret}
  acme:
    display_name: Acme Mail
    credentials: {client_id: browser-tests, client_secret: not-a-real-secret}
    oauth:
      authorize_url: http://127.0.0.1:9/authorize
      token_url: http://127.0.0.1:9/token
      scopes: {read: read, write: write}
      default_scopes: [read]
`);
  return file;
}

/** A call to the API with the owner's token; fails the test unless it succeeds. */
async function api(method, path, body) {
  const r = await fetch(`${s.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

let keyId;
let memberId;
let webhookId;
async function seed() {
  await api('POST', '/v1/workspaces', { name: 'production' });
  await api('POST', '/v1/workspaces', { name: 'staging' });
  const bot = await api('POST', '/v1/agents', { name: 'support-bot' });
  await api('POST', '/v1/channels', { agent: bot.id, name: 'WhatsApp' });
  const off = await api('POST', '/v1/channels', { agent: bot.id, name: 'Slack' });
  await api('PATCH', `/v1/channels/${off.id}`, { enabled: false });
  const key = await api('POST', '/v1/keys', {
    name: 'acme production',
    kind: 'api',
    owner: 'cus_42',
    permissions: ['keys:read'],
    ratelimit: { limit: 20, period: '1h' },
    quota: { limit: 1000, refill: 'monthly' },
  });
  keyId = key.id;
  for (let i = 0; i < 12; i++) await api('POST', '/v1/keys/verify', { key: key.key, permission: 'keys:read' });
  for (let i = 0; i < 4; i++) await api('POST', '/v1/keys/verify', { key: key.key, permission: 'keys:write' });
  await api('PUT', '/v1/owner-limits/external/cus_42', { ratelimit: { limit: 500, period: '1h' } });
  const invited = await api('POST', '/v1/invitations', { email: 'dev@company.com', role: 'member' });
  const joined = await api('POST', '/v1/invitations/accept', { code: invited.code });
  memberId = joined.member.user_id;
  await api('POST', '/v1/invitations', { email: 'ops@company.com', role: 'agent_admin', agents: [bot.id] });
  // Started and never completed: a pending connection.
  await api('POST', '/v1/integrations/acme/authorize', { connection_id: 'support-inbox', scopes: ['read', 'write'] });
  // A Telegram endpoint (Keyward generates its secret token), disabled by hand.
  const hook = await api('POST', '/v1/webhook-endpoints', {
    provider: 'telegram', name: 'support bot', destination: 'https://app.example.com/updates', enabled: false,
  });
  webhookId = hook.endpoint.id;
}

/** The owner's session cookie, from setting their password once. */
let cookies;
async function signInOwner() {
  const context = await newContext(browser, s.url);
  const page = await context.newPage();
  await setPassword(page, s.setupLink, PASSWORD);
  assert.equal(await h1(page), 'API Keys');
  cookies = await context.cookies();
  await context.close();
}

/** A page of the signed-in owner, in a browser context of its own (`options`). */
async function owner(options = {}) {
  const context = await newContext(browser, s.url, options);
  await context.addCookies(cookies);
  return context.newPage();
}

const PAGES = [
  ['/console/members', 'Members', 'members'],
  [() => `/console/members/${memberId}`, 'dev@company.com', 'member'],
  ['/console/channels', 'Channels', 'channels'],
  ['/console/resources', 'Workspaces and Agents', 'resources'],
  ['/console/settings', 'Organization settings', 'settings'],
  ['/console/integrations', 'Integrations', 'integrations'],
  ['/console/settings/webhooks', 'Webhooks', 'webhooks'],
  [() => `/console/settings/webhooks/${webhookId}`, 'Deliveries of support bot', 'webhook-deliveries'],
  ['/console/settings/workers', 'Workers', 'workers-empty'],
  ['/console/audit', 'Audit Log', 'audit'],
  ['/console/usage', 'Usage', 'usage-keys'],
  [() => `/console/usage/${keyId}`, 'Usage of acme production', 'usage-chart'],
];

test('accessibility and screenshots of every page, light and dark', async () => {
  for (const scheme of ['light', 'dark']) {
    const page = await owner({ colorScheme: scheme });
    for (const [path, heading, name] of PAGES) {
      await page.goto(typeof path === 'function' ? path() : path);
      assert.equal(await h1(page), heading, `${name}: the page's heading`);
      await checkA11y(page, `${name} (${scheme})`);
      await screenshot(page, `${name}${scheme === 'dark' ? '-dark' : ''}`);
      // Usable at 390 px: wide tables scroll inside their box, the page does not.
      await page.setViewportSize({ width: 390, height: 844 });
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `${name}: the page is ${width} px wide at 390`);
      await page.setViewportSize({ width: 1280, height: 800 });
    }
    await page.context().close();
  }
});

test('Settings → Workers: the empty state, then a worker with its troubleshooting table, removed', async () => {
  const page = await owner();
  await page.goto('/console/settings');
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Workers', exact: true }).click();
  assert.equal(await h1(page), 'Workers');
  const main = page.locator('main');
  assert.match(await main.innerText(), /No workers yet/);
  assert.match(await main.innerText(), /keyward login --token <worker key>\s+keyward worker/);

  // A worker registers as its daemon does, with a worker key of production.
  const workspaces = await api('GET', '/v1/workspaces');
  const production = workspaces.find((w) => w.name === 'production');
  const key = await api('POST', '/v1/keys', { name: 'build-box-worker', kind: 'worker', workspace: production.id });
  const r = await fetch(`${s.url}/v1/workers/register`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'build-box', host: 'build-box.local', os: 'linux x86_64', version: '0.1.0', labels: ['gpu'], instance: 'browser1' }),
  });
  assert.equal(r.status, 201, await r.text());
  await page.reload();
  const row = main.getByRole('row', { name: /build-box/ });
  assert.match(await row.innerText(), /online/);
  assert.match(await row.innerText(), /gpu/);
  assert.match(await row.innerText(), /kw_wk_/);

  await row.getByRole('link', { name: 'build-box', exact: true }).click();
  assert.equal(await h1(page), 'Worker build-box');
  const checks = page.getByRole('table').filter({ hasText: 'What Keyward sees' });
  assert.equal(await checks.getByRole('row').count(), 6, 'a header and the five lines of the product page');
  assert.match(await checks.innerText(), /1 of 25 active worker keys/);
  await checkA11y(page, 'worker detail');
  await screenshot(page, 'worker-detail');

  await page.getByText('Remove…').click();
  await submitAndWait(page, page.getByRole('button', { name: 'Remove build-box', exact: true }));
  assert.equal(await h1(page), 'Workers');
  assert.match(await main.innerText(), /The worker is removed/);
  assert.match(await main.innerText(), /No workers yet/);
  await page.context().close();
});

test('the Integrations page lists the integrations, their Connect forms and the pending connection', async () => {
  const page = await owner();
  await page.goto('/console/integrations');
  const main = page.locator('main');
  for (const name of ['Gmail', 'Acme Mail']) {
    assert.equal(await main.getByRole('button', { name: `Connect ${name}`, exact: true }).count(), 1, `Connect ${name}`);
  }
  const row = main.getByRole('row', { name: /support-inbox/ });
  assert.match(await row.innerText(), /pending/);
  assert.match(await row.innerText(), /read, write/);
  // Acme's default scope is checked; the others are not.
  const acme = page.locator('#connect-acme');
  assert.equal(await acme.getByRole('checkbox', { name: 'read', exact: true }).isChecked(), true);
  assert.equal(await acme.getByRole('checkbox', { name: 'write', exact: true }).isChecked(), false);
  // Disconnect asks first.
  await row.getByText('Disconnect…').click();
  assert.equal(await row.getByRole('button', { name: 'Disconnect support-inbox', exact: true }).isVisible(), true);
  await page.context().close();
});

test('the usage chart is SVG with valid and denied bars, the limit line, and a table', async () => {
  const page = await owner();
  await page.goto(`/console/usage/${keyId}`);
  const chart = page.getByRole('img', { name: 'Verifications over time' });
  await chart.waitFor();
  assert.ok((await page.locator('svg.chart rect.valid').count()) > 0, 'valid bars');
  assert.ok((await page.locator('svg.chart rect.denied').count()) > 0, 'denied bars');
  assert.equal(await page.locator('svg.chart line.limit').count(), 1, 'the rate limit line');
  assert.match(await page.locator('main').innerText(), /12 valid, 4 denied/);
  await page.getByText('The numbers as a table').click();
  const total = page.getByRole('row', { name: /Total/ });
  assert.match(await total.innerText(), /12\s+4/);
  // Colours come from the stylesheet: the bars are filled without inline styles.
  const fill = await page.locator('svg.chart rect.valid').first().evaluate((el) => getComputedStyle(el).fill);
  assert.notEqual(fill, 'none');
  assert.notEqual(fill, 'rgb(0, 0, 0)', 'the .valid class gives the bar its colour');
  await page.context().close();
});

test('accessibility and screenshots: a one-time link shown, and the join page', async () => {
  const page = await owner();
  await page.goto('/console/members');
  await page.getByLabel('Email', { exact: true }).fill('new@company.com');
  await submitAndWait(page, page.getByRole('button', { name: 'Invite', exact: true }));
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  const link = await dialog.getByLabel('The one-time link', { exact: true }).inputValue();
  await checkA11y(page, 'members with the link shown');
  await screenshot(page, 'members-link');

  const context = await newContext(browser, s.url);
  const visitor = await context.newPage();
  await visitor.goto(link);
  assert.equal(await h1(visitor), 'Join default');
  await checkA11y(visitor, 'join page');
  await screenshot(visitor, 'join');
  // A mistake: the alert, on the same form.
  await visitor.getByLabel('New password', { exact: true }).fill('a long enough passphrase');
  await visitor.getByLabel('Repeat password', { exact: true }).fill('another long passphrase');
  await submitAndWait(visitor, visitor.getByRole('button', { name: 'Join', exact: true }));
  await visitor.getByRole('alert').waitFor();
  await checkA11y(visitor, 'join page with an error');
  await screenshot(visitor, 'join-error');
  await context.close();
  await page.context().close();
});

test('hook ids are copied with the Copy button', async () => {
  const page = await owner({ permissions: ['clipboard-read', 'clipboard-write'] });
  await page.goto('/console/channels');
  const row = page.getByRole('row', { name: /WhatsApp/ });
  const hook = (await row.locator('code').first().innerText()).trim();
  assert.match(hook, /^[0-9a-z]{20}$/);
  await row.getByRole('button', { name: 'Copy the hook id of WhatsApp' }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), hook);
  await page.context().close();
});
