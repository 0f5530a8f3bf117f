// Signing in to the console in a real browser: the owner's first-start password link,
// sign-in and sign-out, the same answer for a wrong password and an unknown email,
// throttling, CSRF, idle sessions, signing out other sessions, used links, and the
// pages' accessibility. Each test has its own server. Elements are found by their
// accessible names only (labels, roles), never by the markup's classes or ids.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import {
  OWNER_EMAIL,
  alertText,
  checkA11y,
  describePage,
  h1,
  launchBrowser,
  newContext,
  pathOf,
  screenshot,
  setPassword,
  signIn,
  signOut,
  startKeyward,
  submitAndWait,
} from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const WRONG = 'not the right password at all';
const HOME_HEADING = 'API Keys';
const NAV_LINKS = [
  'API Keys',
  'Personal Access Tokens',
  'Service Accounts',
  'Channels',
  'Workspaces and Agents',
  'Members',
  'Settings',
  'Integrations',
  'Audit Log',
  'Usage',
  'Sessions',
];

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** A server of the test's own that printed the owner's password link (unless `link: false`). */
async function server(t, args = [], { link = true } = {}) {
  const s = await startKeyward({ args });
  t.after(() => s.stop());
  assert.ok(!link || s.setupLink, `keyward serve printed no /console/password?code=kw_pwl_… link on first start:\n${s.output()}`);
  return s;
}

/** A page in a browser context of its own (its own cookies). */
async function newPage(t, s) {
  const context = await newContext(browser, s.url);
  t.after(() => context.close());
  return context.newPage();
}

/** Where `/console` leads a signed-in person: its first section, API Keys. */
const HOME_PATHS = ['/console', '/console/keys'];

/** Asserts the page is the signed-in console's home. */
async function assertSignedInHome(page, what) {
  assert.ok(HOME_PATHS.includes(pathOf(page)), `${what}: landed on ${await describePage(page)}`);
  assert.equal(await h1(page), HOME_HEADING, `${what}: the home page's heading`);
}

/** Asserts the page is the sign-in form. */
async function assertSignInPage(page, what) {
  assert.equal(pathOf(page), '/console/signin', `${what}: landed on ${await describePage(page)}`);
  try {
    await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor({ timeout: 5_000 });
  } catch {
    assert.fail(`${what}: no "Sign in" heading on ${await describePage(page)}`);
  }
}

/** The owner, signed in through the printed link, on a page of their own. */
async function owner(t, s) {
  const page = await newPage(t, s);
  await setPassword(page, s.setupLink, PASSWORD);
  await assertSignedInHome(page, 'after setting the password');
  return page;
}

/**
 * A session row's own sign-out button: its visible text is "Sign out", its accessible
 * name may go on to say which session ("Sign out the session from …").
 */
const ROW_SIGN_OUT = { name: /^Sign out(?! everywhere)/ };

/** The data rows of the one table on the page (rows that have cells, not headers). */
function sessionRows(page) {
  return page.getByRole('table').getByRole('row').filter({ has: page.getByRole('cell') });
}

test('the printed link sets the owner password, signs them in; sign out, sign in again', async (t) => {
  const s = await server(t);
  const page = await newPage(t, s);

  await page.goto('/');
  await assertSignInPage(page, 'GET / unsigned');
  await page.goto('/console');
  await assertSignInPage(page, 'GET /console unsigned');

  await setPassword(page, s.setupLink, PASSWORD);
  await assertSignedInHome(page, 'after setting the password');
  const nav = page.getByRole('navigation', { name: 'Console', exact: true });
  for (const name of NAV_LINKS) {
    assert.equal(await nav.getByRole('link', { name, exact: true }).count(), 1, `the Console navigation has a link "${name}"`);
  }
  await page.goto('/');
  await assertSignedInHome(page, 'GET / signed in');

  await signOut(page);
  await assertSignInPage(page, 'after signing out');
  await page.goto('/console');
  await assertSignInPage(page, 'GET /console after signing out');

  await signIn(page, OWNER_EMAIL, PASSWORD);
  await assertSignedInHome(page, 'after signing in');
});

test('a wrong password and an unknown email get the very same alert', async (t) => {
  const s = await server(t);
  await owner(t, s);
  const page = await newPage(t, s);

  await signIn(page, OWNER_EMAIL, WRONG);
  await assertSignInPage(page, 'wrong password');
  const wrongPassword = await alertText(page);
  assert.ok(wrongPassword.length > 0, 'the alert says something');

  await signIn(page, 'nobody@localhost', PASSWORD);
  await assertSignInPage(page, 'unknown email');
  const unknownEmail = await alertText(page);

  assert.equal(unknownEmail, wrongPassword, 'an unknown email is told apart from a wrong password');
  await page.goto('/console');
  await assertSignInPage(page, 'GET /console after failed sign-ins');
});

test('after 10 wrong passwords sign-in is throttled, even with the right password', async (t) => {
  const s = await server(t);
  await owner(t, s);
  const page = await newPage(t, s);

  for (let i = 1; i <= 10; i++) {
    await signIn(page, OWNER_EMAIL, `${WRONG} ${i}`);
    await assertSignInPage(page, `wrong password #${i}`);
  }
  await signIn(page, OWNER_EMAIL, PASSWORD);
  await assertSignInPage(page, 'the right password while throttled');
  assert.match(await alertText(page), /Too many/, 'the alert says to try again later');
  await page.goto('/console');
  await assertSignInPage(page, 'GET /console while throttled');
});

test('state-changing posts without the right CSRF token are refused with 403', async (t) => {
  const s = await server(t);
  const page = await owner(t, s);

  const missing = await page.request.post('/console/signout', { form: {}, maxRedirects: 0 });
  assert.equal(missing.status(), 403, `sign-out without _csrf: ${missing.status()} ${await missing.text()}`);
  const wrong = await page.request.post('/console/signout', { form: { _csrf: 'wrong' }, maxRedirects: 0 });
  assert.equal(wrong.status(), 403, `sign-out with a wrong _csrf: ${wrong.status()} ${await wrong.text()}`);
  for (const refused of [missing, wrong]) {
    // A console answer is a page for people, not the API's problem+json.
    assert.match(refused.headers()['content-type'] ?? '', /^text\/html/, `the 403 is a page: ${await refused.text()}`);
  }

  await page.reload();
  await assertSignedInHome(page, 'the session after the refused posts');
  // The page's own form still signs out: its token is the right one.
  await signOut(page);
  await assertSignInPage(page, 'signing out with the page\'s form');
});

test('a session idle past --session-idle-timeout goes back to sign-in', async (t) => {
  const s = await server(t, ['--session-idle-timeout', '2s']);
  const page = await owner(t, s);
  await page.reload();
  await assertSignedInHome(page, 'reloaded at once');
  await sleep(3_000);
  await page.reload();
  await assertSignInPage(page, 'reloaded after 3 s idle');
});

test('"Sign out everywhere else" ends the other sessions and keeps this one', async (t) => {
  const s = await server(t);
  const first = await owner(t, s);
  const second = await newPage(t, s);
  await signIn(second, OWNER_EMAIL, PASSWORD);
  await assertSignedInHome(second, 'the second browser');

  await first.goto('/console/sessions');
  assert.equal(pathOf(first), '/console/sessions');
  const rows = sessionRows(first);
  assert.equal(await rows.count(), 2, `two sessions listed: ${await rows.allInnerTexts()}`);
  const others = rows.filter({ has: first.getByRole('button', ROW_SIGN_OUT) });
  assert.equal(await others.count(), 1, 'only the other session has its own "Sign out" button');

  await submitAndWait(first, first.getByRole('button', { name: 'Sign out everywhere else', exact: true }));
  await second.reload();
  await assertSignInPage(second, 'the second browser after "Sign out everywhere else"');

  await first.goto('/console/sessions');
  assert.equal(pathOf(first), '/console/sessions', 'the first browser is still signed in');
  assert.equal(await sessionRows(first).count(), 1, `one session left: ${await sessionRows(first).allInnerTexts()}`);
});

test('a session row\'s "Sign out" ends that session only', async (t) => {
  const s = await server(t);
  const first = await owner(t, s);
  const second = await newPage(t, s);
  await signIn(second, OWNER_EMAIL, PASSWORD);
  await assertSignedInHome(second, 'the second browser');

  await first.goto('/console/sessions');
  const table = first.getByRole('table');
  await submitAndWait(first, table.getByRole('button', ROW_SIGN_OUT));
  await second.reload();
  await assertSignInPage(second, 'the signed-out session');
  await first.goto('/console');
  await assertSignedInHome(first, 'the session that signed the other out');
});

test('a used password link says it was already used', async (t) => {
  const s = await server(t);
  const page = await owner(t, s);
  await page.goto(s.setupLink);
  assert.match(await alertText(page), /already (been )?used/i);
  assert.equal(await page.getByLabel('New password', { exact: true }).count(), 0, 'a used link offers no form');

  // Signed out, in another browser, the link is just as used.
  const other = await newPage(t, s);
  await other.goto(s.setupLink);
  assert.match(await alertText(other), /already (been )?used/i);
  // And it set the password it was used for.
  await signIn(other, OWNER_EMAIL, PASSWORD);
  await assertSignedInHome(other, 'signing in with the password the link set');
});

test('a short or mismatched new password is refused and the link still works', async (t) => {
  const s = await server(t);
  const page = await newPage(t, s);
  await page.goto(s.setupLink);
  const fresh = page.getByLabel('New password', { exact: true });
  const repeat = page.getByLabel('Repeat password', { exact: true });
  const submit = page.getByRole('button', { name: 'Set password', exact: true });

  // 11 characters: the server must refuse it even if the browser's own check is skipped.
  await fresh.fill('elevenchars');
  await repeat.fill('elevenchars');
  await fresh.evaluate((input) => input.form && (input.form.noValidate = true));
  await submitAndWait(page, submit);
  assert.equal(pathOf(page), '/console/password', `a short password: landed on ${page.url()}`);
  assert.match(await alertText(page), /12/, 'the alert names the minimum length');

  await page.goto(s.setupLink);
  await fresh.fill(PASSWORD);
  await repeat.fill(`${PASSWORD}!`);
  await submitAndWait(page, submit);
  assert.equal(pathOf(page), '/console/password', `mismatched passwords: landed on ${page.url()}`);
  assert.ok((await alertText(page)).length > 0);

  await setPassword(page, s.setupLink, PASSWORD);
  await assertSignedInHome(page, 'the link after two refused passwords');
});

test('accessibility and screenshots: sign-in page', async (t) => {
  const s = await server(t, [], { link: false });
  const page = await newPage(t, s);
  await page.goto('/console/signin');
  await checkA11y(page, 'sign-in page');
  await screenshot(page, 'signin');

  await signIn(page, OWNER_EMAIL, WRONG);
  await assertSignInPage(page, 'a wrong password');
  await alertText(page);
  await checkA11y(page, 'sign-in page with an error');
  await screenshot(page, 'signin-error');
});

test('accessibility and screenshots: password page', async (t) => {
  const s = await server(t);
  const page = await newPage(t, s);
  await page.goto(s.setupLink);
  await page.getByRole('heading', { name: 'Set your password', exact: true }).waitFor();
  await checkA11y(page, 'password page');
  await screenshot(page, 'password');
});

test('accessibility and screenshots: sessions page', async (t) => {
  const s = await server(t);
  const page = await owner(t, s);
  await checkA11y(page, 'console home');
  await screenshot(page, 'console-home');

  const second = await newPage(t, s);
  await signIn(second, OWNER_EMAIL, PASSWORD);
  await page.goto('/console/sessions');
  await page.getByRole('table').waitFor();
  await checkA11y(page, 'sessions page');
  await screenshot(page, 'sessions');
});
