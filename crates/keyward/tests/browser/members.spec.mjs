// Members in a real browser: the owner invites someone on the Members page and gets a
// one-time join link, shown once; the invited person opens it in a browser of their own,
// sets a password and is signed in as a member, who sees and can do only what a member
// may (no invite form, no member to manage; a forced post is refused with 403). Then the
// owner changes their role, which the member's next page shows. Elements are found by
// their accessible names (labels, roles).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  OWNER_EMAIL,
  alertText,
  h1,
  launchBrowser,
  newContext,
  pathOf,
  setPassword,
  signIn,
  startKeyward,
  submitAndWait,
} from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const MEMBER_PASSWORD = 'a different long passphrase';
const MEMBER = 'dev@company.com';

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
  return s;
}

async function newPage(t, s) {
  const context = await newContext(browser, s.url);
  t.after(() => context.close());
  return context.newPage();
}

async function owner(t, s) {
  const page = await newPage(t, s);
  await setPassword(page, s.setupLink, PASSWORD);
  assert.equal(await h1(page), 'API Keys');
  return page;
}

/** Invites `email` as `role` on the Members page; returns the link the dialog shows once. */
async function invite(page, email, role = 'Member') {
  await page.goto('/console/members');
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Role', { exact: true }).selectOption({ label: role });
  await submitAndWait(page, page.getByRole('button', { name: 'Invite', exact: true }));
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  const link = await dialog.getByLabel('The one-time link', { exact: true }).inputValue();
  assert.match(link, /\/console\/join\?code=kw_inv_[0-9A-Za-z]+$/, 'the dialog shows a join link');
  return { dialog, link };
}

/** The CSRF token of the page's forms (what a forged request would need to know). */
async function csrf(page) {
  return page.locator('input[name="_csrf"]').first().inputValue();
}

test('an invited person joins through the link and can do only what a member may', async (t) => {
  const s = await server(t);
  const admin = await owner(t, s);
  const { dialog, link } = await invite(admin, MEMBER);
  assert.ok(link.startsWith(s.url), `the link is on this server: ${link}`);
  assert.equal(await dialog.getByRole('button', { name: 'Copy the link' }).isVisible(), true, 'a Copy button');
  // Closing the dialog forgets the link: it is shown once.
  await dialog.getByRole('button', { name: 'Done', exact: true }).click();
  assert.equal(await admin.getByRole('dialog').count(), 0, 'the dialog is gone');
  assert.equal((await admin.content()).includes(link), false, 'the link is no longer in the page');
  const pending = admin.getByRole('table').filter({ hasText: 'Invited by' });
  assert.match(await pending.innerText(), new RegExp(MEMBER), 'the invitation is pending');

  // The invited person, in a browser of their own.
  const member = await newPage(t, s);
  await member.goto(link);
  assert.equal(await h1(member), 'Join default');
  assert.match(await member.locator('main').innerText(), /as member/);
  await member.getByLabel('New password', { exact: true }).fill(MEMBER_PASSWORD);
  await member.getByLabel('Repeat password', { exact: true }).fill(MEMBER_PASSWORD);
  await submitAndWait(member, member.getByRole('button', { name: 'Join', exact: true }));
  assert.equal(await h1(member), 'API Keys', `signed in after joining: ${member.url()}`);

  // A member's Members page: everyone listed, no invite form, nobody to manage.
  await member.goto('/console/members');
  const people = await member.getByRole('table').first().innerText();
  assert.match(people, new RegExp(MEMBER));
  assert.match(people, new RegExp(OWNER_EMAIL));
  assert.equal(await member.getByRole('button', { name: 'Invite', exact: true }).count(), 0, 'no Invite button');
  assert.equal(await member.getByRole('link', { name: /^Manage/ }).count(), 0, 'no one to manage');
  assert.equal(await member.getByRole('heading', { name: 'Pending invitations' }).count(), 0);
  // Forced anyway, with the member's own valid form token: the API's 403.
  const forced = await member.request.post('/console/members/invite', {
    form: { _csrf: await csrf(member), email: 'sneaky@company.com', role: 'member', expires: '24h' },
    maxRedirects: 0,
  });
  assert.equal(forced.status(), 403, `a member's invite: ${forced.status()}`);
  assert.match(await forced.text(), /role_forbidden/);
  // Nor the settings, nor a channel.
  await member.goto('/console/settings');
  assert.equal(await member.getByRole('button', { name: 'Save settings' }).count(), 0);
  const settings = await member.request.post('/console/settings', {
    form: { _csrf: await csrf(member), name: 'taken', max_keys: '1', max_worker_keys: '1' },
    maxRedirects: 0,
  });
  assert.equal(settings.status(), 403);

  // The link worked once.
  const again = await newPage(t, s);
  await again.goto(link);
  assert.match(await alertText(again), /already accepted/);

  // The owner makes them an org admin; the member's next page shows it.
  await admin.goto('/console/members');
  await submitAndWait(admin, admin.getByRole('link', { name: `Manage ${MEMBER}` }));
  await admin.getByLabel('Role', { exact: true }).selectOption({ label: 'Org admin' });
  await submitAndWait(admin, admin.getByRole('button', { name: 'Change role', exact: true }));
  assert.match(await admin.getByRole('status').innerText(), /role is changed/);
  await member.goto('/console/members');
  assert.equal(await member.getByRole('button', { name: 'Invite', exact: true }).count(), 1, 'an org admin invites');

  // And removes them: their session ends.
  await admin.goto('/console/members');
  await submitAndWait(admin, admin.getByRole('link', { name: `Manage ${MEMBER}` }));
  await admin.getByText('Remove…', { exact: true }).click();
  await submitAndWait(admin, admin.getByRole('button', { name: `Remove ${MEMBER}`, exact: true }));
  assert.match(await admin.getByRole('status').innerText(), /removed/);
  await member.goto('/console/members');
  assert.equal(pathOf(member), '/console/signin', 'the removed member is signed out');
});

test('a reset link from an admin sets a new password once', async (t) => {
  const s = await server(t);
  const admin = await owner(t, s);
  const { link } = await invite(admin, MEMBER);
  const member = await newPage(t, s);
  await member.goto(link);
  await member.getByLabel('New password', { exact: true }).fill(MEMBER_PASSWORD);
  await member.getByLabel('Repeat password', { exact: true }).fill(MEMBER_PASSWORD);
  await submitAndWait(member, member.getByRole('button', { name: 'Join', exact: true }));

  await admin.goto('/console/members');
  await submitAndWait(admin, admin.getByRole('link', { name: `Manage ${MEMBER}` }));
  await submitAndWait(admin, admin.getByRole('button', { name: 'Password reset link', exact: true }));
  const reset = await admin.getByRole('dialog').getByLabel('The one-time link', { exact: true }).inputValue();
  assert.match(reset, /\/console\/password\?code=kw_pwl_/);

  const other = await newPage(t, s);
  await setPassword(other, reset, PASSWORD);
  assert.equal(await h1(other), 'API Keys');
  // Their earlier session ended; the new password signs in, the old one does not.
  await member.goto('/console/members');
  assert.equal(pathOf(member), '/console/signin');
  await signIn(member, MEMBER, MEMBER_PASSWORD);
  assert.equal(pathOf(member), '/console/signin');
  await signIn(member, MEMBER, PASSWORD);
  assert.equal(await h1(member), 'API Keys');
  const used = await newPage(t, s);
  await used.goto(reset);
  assert.match(await alertText(used), /already (been )?used/i);
});
