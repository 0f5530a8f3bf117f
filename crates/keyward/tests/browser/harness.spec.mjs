// The harness itself: the server starts and its first-start output is read, the CLI
// reaches it with the printed token, Chromium launches and loads a page from it over
// loopback, and the artifacts are written. Independent of the console's pages.

import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { checkA11y, launchBrowser, newContext, runKeyward, screenshot, startKeyward } from './harness.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

test('startKeyward reads the address and the owner token, and stop() removes the data', async () => {
  const server = await startKeyward();
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(server.token ?? '', /^kw_pat_[0-9A-Za-z]{38}$/, `no token in:\n${server.output()}`);
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    const me = await fetch(`${server.url}/v1/me`, { headers: { authorization: `Bearer ${server.token}` } });
    assert.equal(me.status, 200, await me.clone().text());
    const body = await me.json();
    assert.equal(JSON.stringify(body).includes('owner@localhost'), true, JSON.stringify(body));
  } finally {
    await server.stop();
  }
  assert.equal(existsSync(server.dir), false, 'stop() leaves the data directory behind');
  await assert.rejects(fetch(`${server.url}/healthz`), 'the server still answers after stop()');
});

test('runKeyward runs the CLI against the server with its token', async () => {
  const server = await startKeyward();
  try {
    const whoami = await server.cli(['auth', 'whoami']);
    assert.equal(whoami.code, 0, whoami.stderr);
    assert.match(whoami.stdout, /owner@localhost/);
    // Without a token the CLI says so with its "not authenticated" exit code.
    const anonymous = await runKeyward(['auth', 'whoami'], { server: server.url });
    assert.equal(anonymous.code, 3, `${anonymous.stdout}\n${anonymous.stderr}`);
  } finally {
    await server.stop();
  }
});

test('startKeyward passes args through and reports a server that fails to start', async () => {
  const server = await startKeyward({ args: ['--org', 'acme', '--email', 'team@acme.test'] });
  try {
    const me = await server.cli(['auth', 'whoami']);
    assert.equal(me.code, 0, me.stderr);
    assert.match(me.stdout, /team@acme\.test/);
  } finally {
    await server.stop();
  }
  await assert.rejects(startKeyward({ args: ['--no-such-flag'] }), /exited .* before listening/);
});

test('Chromium loads a page of the server over loopback, and screenshots are written', async () => {
  const server = await startKeyward();
  const context = await newContext(browser, server.url);
  try {
    const page = await context.newPage();
    const response = await page.goto('/openapi.json');
    assert.equal(response.status(), 200);
    const doc = JSON.parse(await response.text());
    assert.equal(typeof doc.openapi, 'string');
    assert.ok(doc.paths['/v1/keys'], 'the OpenAPI document has /v1/keys');
    await page.setContent('<main><h1>Harness</h1><p>Chromium renders this.</p></main>');
    const files = await screenshot(page, 'harness-smoke');
    assert.equal(files.length, 2);
    for (const file of files) assert.ok(statSync(file).size > 1000, `${file} is empty`);
    assert.deepEqual(page.viewportSize(), { width: 1280, height: 800 }, 'screenshot() restores the viewport');
  } finally {
    await context.close();
    await server.stop();
  }
});

test('checkA11y fails on a serious violation and passes a clean page', async () => {
  const context = await newContext(browser, 'http://127.0.0.1:9');
  try {
    const page = await context.newPage();
    await page.setContent(
      '<!doctype html><html lang="en"><head><title>Bad</title></head><body><main><h1>Bad</h1>' +
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><form><input name="q"></form></main></body></html>',
    );
    await assert.rejects(checkA11y(page, 'bad page'), (e) => {
      assert.match(e.message, /image-alt/);
      assert.match(e.message, /label/);
      assert.match(e.message, /at img/);
      return true;
    });
    await page.setContent(
      '<!doctype html><html lang="en"><head><title>Good</title></head><body><main><h1>Good</h1>' +
        '<form><label for="q">Search</label><input id="q" name="q"></form></main></body></html>',
    );
    await checkA11y(page, 'good page');
  } finally {
    await context.close();
  }
});
