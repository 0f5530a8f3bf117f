// The key pages in a real browser: create a key, copy it from the one-time dialog, see it
// listed by its prefix, revoke it after the confirmation, and the verify API refuses it;
// a hostile name stays text; a member gets no create button and a 403 when posting anyway;
// personal tokens, service accounts and Copy for LLM; axe and screenshots (1280 and 390 px)
// of every page. Each test has its own server. Elements are found by their accessible
// names (labels, roles), not by the markup's classes or ids.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  checkA11y,
  describePage,
  h1,
  launchBrowser,
  newContext,
  pathOf,
  runKeyward,
  screenshot,
  setPassword,
  startKeyward,
  submitAndWait,
} from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const MEMBER_EMAIL = 'dev@company.com';

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
  assert.ok(s.setupLink, `no password link printed on first start:\n${s.output()}`);
  assert.ok(s.token, `no owner token printed on first start:\n${s.output()}`);
  return s;
}

/** A page in a context of its own that may read and write the clipboard. */
async function newPage(t, s) {
  const context = await newContext(browser, s.url);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: s.url });
  t.after(() => context.close());
  return context.newPage();
}

/** The owner, signed in through the printed link. */
async function owner(t, s) {
  const page = await newPage(t, s);
  await setPassword(page, s.setupLink, PASSWORD);
  assert.equal(await h1(page), 'API Keys', await describePage(page));
  return page;
}

/** Calls the API with the owner's token: `{ status, body }`. */
async function api(s, method, path, body) {
  const r = await fetch(`${s.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** What verify says of `key`. */
async function verifyCode(s, key) {
  const r = await api(s, 'POST', '/v1/keys/verify', { key });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.code;
}

/** A member who joined by invitation and set their password: their signed-in page. */
async function member(t, s) {
  const invited = await api(s, 'POST', '/v1/invitations', { email: MEMBER_EMAIL, role: 'member' });
  assert.equal(invited.status, 201, JSON.stringify(invited.body));
  const accepted = await fetch(`${s.url}/v1/invitations/accept`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: invited.body.code }),
  });
  assert.equal(accepted.status, 201, await accepted.text());
  const link = await runKeyward([
    'admin', 'password-link', '--org', 'default', '--email', MEMBER_EMAIL,
    '--data-dir', `${s.dir}/data`, '--base-url', s.url,
  ]);
  assert.equal(link.code, 0, `keyward admin password-link: ${link.stderr}`);
  const page = await newPage(t, s);
  await setPassword(page, link.stdout.trim(), PASSWORD);
  return page;
}

/** Fills in and sends the create form of the page it is on; returns the dialog. */
async function createKey(page, name, { restricted = false } = {}) {
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Expiration', { exact: true }).selectOption('30d');
  if (restricted) {
    await page.getByRole('radio', { name: /^Restricted/ }).check();
    await page.getByLabel('API keys', { exact: true }).selectOption('keys:read');
    await page.getByRole('checkbox', { name: /Verify keys/ }).check();
  }
  await submitAndWait(page, page.getByRole('button', { name: 'Create key', exact: true }));
  const dialog = page.getByRole('dialog', { name: 'Your new key' });
  await dialog.waitFor({ state: 'visible' });
  return dialog;
}

/** The key in the open dialog, as its Copy button puts it on the clipboard. */
async function copyFromDialog(page, dialog) {
  const field = dialog.getByLabel('The new key', { exact: true });
  const shown = await field.inputValue();
  await dialog.getByRole('button', { name: 'Copy', exact: true }).click();
  await dialog.getByRole('button', { name: 'Copied', exact: true }).waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(copied, shown, 'the clipboard holds the key shown');
  return copied;
}

/** The ⋮ menu of the row named `name`. */
function menuOf(page, name) {
  return page.locator('details', { has: page.getByLabel(`Actions for ${name}`, { exact: true }) });
}

test('create a key, copy it once, see its prefix, revoke it, and verify refuses it', async (t) => {
  const s = await server(t);
  const page = await owner(t, s);
  await page.goto('/console/keys');
  await checkA11y(page, 'API Keys');
  await screenshot(page, 'keys-list');

  await page.getByRole('link', { name: 'Create API key', exact: true }).click();
  assert.equal(pathOf(page), '/console/keys/new');
  assert.equal(await h1(page), 'Create API key');
  await page.getByRole('radio', { name: /^Restricted/ }).check();
  await checkA11y(page, 'create form');
  await screenshot(page, 'keys-create-form');

  const dialog = await createKey(page, 'CI pipeline', { restricted: true });
  assert.equal(pathOf(page), '/console/keys', 'the POST answers the page itself');
  assert.match(await dialog.innerText(), /cannot see it again/);
  await checkA11y(page, 'new key dialog');
  await screenshot(page, 'keys-created-dialog');
  const key = await copyFromDialog(page, dialog);
  assert.match(key, /^kw_live_[0-9A-Za-z]{38}$/);
  assert.equal(await verifyCode(s, key), 'VALID');

  await dialog.getByRole('link', { name: 'Done', exact: true }).click();
  await dialog.waitFor({ state: 'detached' });
  assert.ok(!(await page.content()).includes(key), 'the key is gone from the page once closed');
  const row = page.getByRole('row', { name: /CI pipeline/ });
  assert.match(await row.innerText(), new RegExp(`${key.slice(0, 12)}…`));

  await menuOf(page, 'CI pipeline').getByLabel('Actions for CI pipeline').click();
  await menuOf(page, 'CI pipeline').getByRole('link', { name: 'Revoke', exact: true }).waitFor();
  await checkA11y(page, 'menu open');
  await screenshot(page, 'keys-menu-open');

  await menuOf(page, 'CI pipeline').getByRole('link', { name: 'Revoke', exact: true }).click();
  assert.equal(await h1(page), 'Revoke CI pipeline?');
  assert.match(await page.locator('main').innerText(), /immediate and irreversible/);
  await checkA11y(page, 'revoke confirmation');
  await screenshot(page, 'keys-revoke-confirm');
  assert.equal(await verifyCode(s, key), 'VALID', 'the confirmation itself revokes nothing');

  await submitAndWait(page, page.getByRole('button', { name: 'Revoke key', exact: true }));
  assert.equal(pathOf(page), '/console/keys');
  await page.getByRole('status').filter({ hasText: 'The key is revoked' }).waitFor();
  assert.equal(await verifyCode(s, key), 'REVOKED');
});

test('a key named <script> is shown as text and runs nothing', async (t) => {
  const s = await server(t);
  const page = await owner(t, s);
  let fired = null;
  page.on('dialog', async (d) => {
    fired = d.message();
    await d.dismiss();
  });
  const name = '<script>alert(1)</script>';
  await page.goto('/console/keys/new');
  const dialog = await createKey(page, name);
  assert.match(await dialog.innerText(), /<script>alert\(1\)<\/script>/);
  await dialog.getByRole('link', { name: 'Done', exact: true }).click();
  await page.goto('/console/keys');
  assert.ok((await page.getByRole('row').filter({ hasText: name }).count()) === 1, 'listed by its name, as text');
  const id = (await api(s, 'GET', '/v1/keys')).body.data.find((k) => k.name === name).id;
  for (const path of [`/console/keys/${id}/edit`, `/console/keys/${id}/revoke`, `/console/keys/${id}/llm`]) {
    await page.goto(path);
    assert.match(await h1(page), /<script>alert\(1\)<\/script>/, path);
  }
  assert.equal(fired, null, `no JavaScript dialog fires (got ${fired})`);
});

test('a member sees no create button on API Keys and gets 403 posting; makes own tokens', async (t) => {
  const s = await server(t);
  const page = await member(t, s);
  await page.goto('/console/keys');
  assert.equal(await h1(page), 'API Keys');
  assert.equal(await page.getByRole('link', { name: 'Create API key' }).count(), 0, 'no create button');
  await checkA11y(page, 'API Keys as a member');
  await screenshot(page, 'keys-member');

  // Posting anyway, from the page, as a forged form would.
  const refused = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/console/keys');
  await page.evaluate(() => {
    const form = document.createElement('form');
    form.method = 'post';
    form.action = '/console/keys';
    for (const [name, value] of [
      ['_csrf', document.querySelector('input[name="_csrf"]').value],
      ['name', 'sneaky'],
      ['kind', 'api'],
      ['scope', 'organization'],
    ]) {
      const input = document.createElement('input');
      input.type = 'hidden';
      input.name = name;
      input.value = value;
      form.append(input);
    }
    document.body.append(form);
    form.submit();
  });
  assert.equal((await refused).status(), 403);
  await page.waitForLoadState('load');
  assert.match(await page.locator('body').innerText(), /role_forbidden/);

  await page.goto('/console/tokens');
  assert.equal(await h1(page), 'Personal Access Tokens');
  await checkA11y(page, 'Personal Access Tokens');
  await screenshot(page, 'tokens');
  await page.getByRole('link', { name: 'Create token', exact: true }).click();
  const dialog = await createKey(page, 'my laptop');
  const token = await copyFromDialog(page, dialog);
  assert.match(token, /^kw_pat_/);
  assert.equal(await verifyCode(s, token), 'VALID');
  await checkA11y(page, 'new token dialog');
  await screenshot(page, 'tokens-created-dialog');
});

test('service accounts: create one, its key shown once, its page lists the key', async (t) => {
  const s = await server(t);
  const page = await owner(t, s);
  await page.goto('/console/service-accounts');
  assert.equal(await h1(page), 'Service Accounts');
  await page.getByRole('link', { name: 'Create service account', exact: true }).click();
  await page.getByLabel('Name', { exact: true }).fill('production-bot');
  await page.getByLabel('Integrations', { exact: true }).selectOption('integrations:write');
  await page.getByRole('checkbox', { name: /Execute skills/ }).check();
  await checkA11y(page, 'create service account');
  await screenshot(page, 'service-account-create');
  await submitAndWait(page, page.getByRole('button', { name: 'Create service account', exact: true }));
  const dialog = page.getByRole('dialog', { name: "The service account's key" });
  await dialog.waitFor({ state: 'visible' });
  const key = await copyFromDialog(page, dialog);
  assert.match(key, /^kw_sa_/);
  assert.equal(await verifyCode(s, key), 'VALID');
  await checkA11y(page, 'service account key dialog');
  await screenshot(page, 'service-account-created');
  await dialog.getByRole('link', { name: 'Done', exact: true }).click();
  assert.equal(await h1(page), 'production-bot');
  assert.match(await page.getByRole('row', { name: /production-bot/ }).innerText(), new RegExp(`${key.slice(0, 10)}…`));
  await page.goto('/console/service-accounts');
  await checkA11y(page, 'Service Accounts');
  await screenshot(page, 'service-accounts');
});

test('Copy for LLM copies a summary without the key', async (t) => {
  const s = await server(t);
  const page = await owner(t, s);
  await page.goto('/console/keys/new');
  const dialog = await createKey(page, 'support bot');
  const key = await copyFromDialog(page, dialog);
  await dialog.getByRole('link', { name: 'Done', exact: true }).click();
  await menuOf(page, 'support bot').getByLabel('Actions for support bot').click();
  await menuOf(page, 'support bot').getByRole('link', { name: 'Copy for LLM', exact: true }).click();
  assert.equal(await h1(page), 'Copy for LLM: support bot');
  await page.getByRole('button', { name: 'Copy', exact: true }).click();
  await page.getByRole('button', { name: 'Copied', exact: true }).waitFor();
  const text = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(text, /Key name: support bot/);
  assert.match(text, new RegExp(`Visible prefix: ${key.slice(0, 12)}…`));
  assert.match(text, /key\.create by owner@localhost/);
  assert.ok(!text.includes(key) && !text.includes(key.slice(12)), 'no secret in the summary');
  assert.ok(!(await page.content()).includes(key.slice(12)), 'nor on the page');
  await checkA11y(page, 'Copy for LLM');
  await screenshot(page, 'copy-for-llm');
});

test('edit and rotate a key: the form keeps its settings, the new key shows once', async (t) => {
  const s = await server(t);
  const page = await owner(t, s);
  await page.goto('/console/keys/new');
  const dialog = await createKey(page, 'deploy', { restricted: true });
  const old = await copyFromDialog(page, dialog);
  await dialog.getByRole('link', { name: 'Done', exact: true }).click();

  await menuOf(page, 'deploy').getByLabel('Actions for deploy').click();
  await menuOf(page, 'deploy').getByRole('link', { name: 'Edit', exact: true }).click();
  assert.equal(await h1(page), 'Edit deploy');
  assert.equal(await page.getByLabel('API keys', { exact: true }).inputValue(), 'keys:read', 'the permissions as they are');
  await checkA11y(page, 'edit');
  await screenshot(page, 'keys-edit');
  await page.getByLabel('Name', { exact: true }).fill('deploy (prod)');
  await submitAndWait(page, page.getByRole('button', { name: 'Save', exact: true }));
  await page.getByRole('status').filter({ hasText: 'The key is saved' }).waitFor();

  await menuOf(page, 'deploy (prod)').getByLabel('Actions for deploy (prod)').click();
  await menuOf(page, 'deploy (prod)').getByRole('link', { name: 'Rotate', exact: true }).click();
  await page.getByLabel('The old key keeps working for', { exact: true }).selectOption('1h');
  await checkA11y(page, 'rotate');
  await submitAndWait(page, page.getByRole('button', { name: 'Rotate key', exact: true }));
  const rotated = page.getByRole('dialog', { name: 'Your new key' });
  await rotated.waitFor({ state: 'visible' });
  const fresh = await copyFromDialog(page, rotated);
  assert.notEqual(fresh, old);
  assert.match(await rotated.innerText(), /keeps working until/);
  await checkA11y(page, 'rotated');
  await screenshot(page, 'keys-rotated-dialog');
  assert.equal(await verifyCode(s, fresh), 'VALID');
  assert.equal(await verifyCode(s, old), 'VALID', 'the old key in its grace period');
});

test('dark mode: the list, the create form and the new key dialog pass axe', async (t) => {
  const s = await server(t);
  const context = await newContext(browser, s.url, { colorScheme: 'dark' });
  t.after(() => context.close());
  const page = await context.newPage();
  await setPassword(page, s.setupLink, PASSWORD);
  await page.goto('/console/keys/new');
  await checkA11y(page, 'create form, dark');
  const dialog = await createKey(page, 'night shift', { restricted: true });
  await checkA11y(page, 'new key dialog, dark');
  await screenshot(page, 'keys-created-dialog-dark');
  await dialog.getByRole('link', { name: 'Done', exact: true }).click();
  await menuOf(page, 'night shift').getByLabel('Actions for night shift').click();
  await checkA11y(page, 'list with the menu open, dark');
  await screenshot(page, 'keys-menu-open-dark');
});
