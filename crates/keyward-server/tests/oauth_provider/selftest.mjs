// Self-test of server.mjs without Keyward: `npm test` (node --test selftest.mjs).
// Plays both the OAuth client and the person's browser with fetch, manual redirects and a
// hand-kept cookie jar — the same way harness.rs does.

import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REDIRECT = 'http://127.0.0.1:9/callback';
const CLIENT = { id: 'vault-basic', secret: 'basic-secret-0123456789' };
const POST_CLIENT = { id: 'vault-post', secret: 'post-secret-0123456789' };

let child;
let info;

before(async () => {
  child = spawn(process.execPath, [fileURLToPath(new URL('./server.mjs', import.meta.url))], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, ACCESS_TOKEN_TTL: '120' },
  });
  const lines = createInterface({ input: child.stdout });
  info = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server.mjs exited early (${code})`)));
    lines.once('line', (line) => resolve(JSON.parse(line)));
  });
});

after(() => {
  child.stdin.end(); // the server exits when its stdin closes
});

const control = async (path, body) => {
  const res = await fetch(`${info.issuer}/__control/${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.equal(res.status, 200, `control ${path}: ${res.status}`);
  return res.json();
};

const sha256 = (value) => crypto.createHash('sha256').update(value).digest('hex');

function pkcePair() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

// Follows the provider's redirects by hand, carrying its cookies, until one points at
// `redirectPrefix`; returns that URL (not requested).
async function authorize(url, redirectPrefix) {
  const jar = new Map();
  let next = url;
  for (let hop = 0; hop < 20; hop += 1) {
    const res = await fetch(next, {
      redirect: 'manual',
      headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*(max-age=0|expires=.*1970)/i.test(a));
      if (expired || value === '') jar.delete(name); else jar.set(name, value);
    }
    const location = res.headers.get('location');
    assert.ok(
      res.status >= 300 && res.status < 400 && location,
      `hop ${hop} to ${next}: ${res.status} ${await res.text()}`,
    );
    next = new URL(location, next).href;
    if (next.startsWith(redirectPrefix)) return next;
  }
  throw new Error('too many redirects');
}

function authorizeUrl({ clientId = CLIENT.id, challenge, state, scope = 'read write' }) {
  const url = new URL(info.authorize_url);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    scope,
    state,
    ...(challenge ? { code_challenge: challenge, code_challenge_method: 'S256' } : {}),
  }).toString();
  return url.href;
}

async function tokenRequest(params, { client = CLIENT, method = 'basic' } = {}) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  const body = new URLSearchParams(params);
  if (method === 'basic') {
    const enc = encodeURIComponent;
    headers.authorization = `Basic ${Buffer.from(`${enc(client.id)}:${enc(client.secret)}`).toString('base64')}`;
  } else {
    body.set('client_id', client.id);
    body.set('client_secret', client.secret);
  }
  const res = await fetch(info.token_url, { method: 'POST', headers, body });
  return { status: res.status, body: await res.json() };
}

async function codeFor({ clientId = CLIENT.id, scope } = {}) {
  const { verifier, challenge } = pkcePair();
  const state = crypto.randomBytes(8).toString('hex');
  const back = new URL(await authorize(authorizeUrl({ clientId, challenge, state, scope }), REDIRECT));
  assert.equal(back.searchParams.get('state'), state);
  assert.ok(back.searchParams.get('code'), `no code in ${back}`);
  return { code: back.searchParams.get('code'), verifier };
}

async function tokensFor(opts = {}) {
  const { code, verifier } = await codeFor(opts);
  const res = await tokenRequest(
    { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier },
    opts,
  );
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

test('discovery line names the endpoints', () => {
  assert.equal(info.issuer, `http://127.0.0.1:${info.port}`);
  assert.equal(info.authorize_url, `${info.issuer}/auth`);
  assert.equal(info.token_url, `${info.issuer}/token`);
  assert.equal(info.revoke_url, `${info.issuer}/token/revocation`);
});

test('clients added after start are found', async () => {
  await control('clients', {
    client_id: CLIENT.id,
    client_secret: CLIENT.secret,
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'client_secret_basic',
  });
  await control('clients', {
    client_id: POST_CLIENT.id,
    client_secret: POST_CLIENT.secret,
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'client_secret_post',
  });
  // an unknown client never reaches the redirect_uri
  const res = await fetch(authorizeUrl({ clientId: 'nobody', challenge: pkcePair().challenge, state: 's' }), { redirect: 'manual' });
  assert.equal(res.status, 400);
});

test('full flow: code, refresh rotates, old refresh token is invalid_grant, revoke', async () => {
  await control('reset', {});
  const first = await tokensFor();
  assert.equal(first.token_type, 'Bearer');
  assert.equal(first.expires_in, 120);
  assert.equal(first.scope, 'read write');
  assert.ok(first.access_token && first.refresh_token);

  const second = await tokenRequest({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
  assert.equal(second.status, 200, JSON.stringify(second.body));
  assert.ok(second.body.refresh_token);
  assert.notEqual(second.body.refresh_token, first.refresh_token, 'refresh token rotated');
  assert.notEqual(second.body.access_token, first.access_token);

  const reuse = await tokenRequest({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
  assert.equal(reuse.status, 400);
  assert.equal(reuse.body.error, 'invalid_grant');

  // reuse of a rotated token revoked the whole grant (oidc-provider's reuse detection)
  const after = await tokenRequest({ grant_type: 'refresh_token', refresh_token: second.body.refresh_token });
  assert.equal(after.body.error, 'invalid_grant');

  const fresh = await tokensFor();
  const revoke = await fetch(info.revoke_url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token: fresh.refresh_token, token_type_hint: 'refresh_token' }),
  });
  assert.equal(revoke.status, 200);
  const dead = await tokenRequest({ grant_type: 'refresh_token', refresh_token: fresh.refresh_token });
  assert.equal(dead.body.error, 'invalid_grant');

  const introspect = await fetch(info.introspection_url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token: fresh.refresh_token }),
  });
  assert.equal(introspect.status, 200);
  assert.equal((await introspect.json()).active, false);

  // a client_secret_basic client is held to basic: its secret in the body is invalid_client
  const posted = await tokenRequest(
    { grant_type: 'refresh_token', refresh_token: fresh.refresh_token },
    { method: 'post' },
  );
  assert.equal(posted.status, 401);
  assert.equal(posted.body.error, 'invalid_client');

  const stats = await control('stats');
  assert.deepEqual(stats.token_requests, { authorization_code: 2, refresh_token: 4 });
  assert.equal(stats.revocations, 1);
  assert.deepEqual(stats.revoked_tokens, [sha256(fresh.refresh_token)]);
  for (const rt of [first.refresh_token, second.body.refresh_token, fresh.refresh_token]) {
    assert.ok(stats.refresh_tokens_seen.includes(sha256(rt)), 'issued refresh token recorded');
  }
  assert.equal(stats.refresh_tokens_presented.length, 4);
  assert.equal(stats.failed_token_requests, 0);
  assert.equal(stats.rejected_client_auth, 1);
});

test('client_secret_post client and introspection', async () => {
  const tokens = await tokensFor({ clientId: POST_CLIENT.id, client: POST_CLIENT, method: 'post' });
  const introspect = async (token) => {
    const res = await fetch(info.introspection_url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, client_id: POST_CLIENT.id, client_secret: POST_CLIENT.secret }),
    });
    assert.equal(res.status, 200);
    return res.json();
  };
  assert.equal((await introspect(tokens.access_token)).active, true);
  const revoke = await fetch(info.revoke_url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: tokens.access_token, client_id: POST_CLIENT.id, client_secret: POST_CLIENT.secret }),
  });
  assert.equal(revoke.status, 200);
  assert.equal((await introspect(tokens.access_token)).active, false);
  // basic auth is refused for a client_secret_post client
  const wrong = await tokenRequest(
    { grant_type: 'refresh_token', refresh_token: tokens.refresh_token },
    { client: POST_CLIENT, method: 'basic' },
  );
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.error, 'invalid_client');
});

test('PKCE is strict', async () => {
  // no code_challenge: the authorization request itself is refused back to the client
  const state = 'nopkce';
  const back = new URL(await authorize(authorizeUrl({ state }), REDIRECT));
  assert.equal(back.searchParams.get('error'), 'invalid_request');
  assert.equal(back.searchParams.get('state'), state);

  // plain is not accepted
  const plain = new URL(info.authorize_url);
  plain.search = new URLSearchParams({
    response_type: 'code', client_id: CLIENT.id, redirect_uri: REDIRECT, scope: 'read',
    state: 'plain', code_challenge: 'a'.repeat(43), code_challenge_method: 'plain',
  }).toString();
  const plainBack = new URL(await authorize(plain.href, REDIRECT));
  assert.equal(plainBack.searchParams.get('error'), 'invalid_request');

  // a code without its verifier, or with the wrong one, is invalid_grant
  const { code } = await codeFor();
  const missing = await tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT });
  assert.equal(missing.status, 400);
  assert.ok(['invalid_grant', 'invalid_request'].includes(missing.body.error), missing.body.error);

  const other = await codeFor();
  const wrong = await tokenRequest({
    grant_type: 'authorization_code', code: other.code, redirect_uri: REDIRECT, code_verifier: pkcePair().verifier,
  });
  assert.equal(wrong.body.error, 'invalid_grant');
});

test('fail_next answers 503 then recovers, counted apart', async () => {
  await control('reset', {});
  const tokens = await tokensFor();
  await control('fail', { status: 503, count: 2 });
  for (let i = 0; i < 2; i += 1) {
    const res = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(res.status, 503);
    assert.deepEqual(res.body, { error: 'temporarily_unavailable' });
  }
  const ok = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
  assert.equal(ok.status, 200, 'the failed requests did not consume the refresh token');
  const stats = await control('stats');
  assert.equal(stats.failed_token_requests, 2);
  assert.deepEqual(stats.token_requests, { authorization_code: 1, refresh_token: 1 });
});

test('revoke-all makes the next refresh a real invalid_grant', async () => {
  const tokens = await tokensFor();
  const { destroyed } = await control('revoke-all', {});
  assert.ok(destroyed > 0);
  const res = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
  assert.equal(res.status, 400);
  assert.equal(res.body.error, 'invalid_grant');
  // and a new authorization still works
  await tokensFor();
});

test('deny_next: the redirect carries error=access_denied, once', async () => {
  await control('deny-next', {});
  const { challenge } = pkcePair();
  const back = new URL(await authorize(authorizeUrl({ challenge, state: 'deny-me' }), REDIRECT));
  assert.equal(back.searchParams.get('error'), 'access_denied');
  assert.equal(back.searchParams.get('error_description'), 'the user refused');
  assert.equal(back.searchParams.get('state'), 'deny-me');
  assert.equal(back.searchParams.get('code'), null);
  await tokensFor(); // the flag was cleared
});

test('omit-refresh-token: answer has no refresh_token and the old one stays good', async () => {
  const tokens = await tokensFor();
  await control('omit-refresh-token', { omit: true });
  const a = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
  assert.equal(a.status, 200);
  assert.ok(a.body.access_token);
  assert.equal(a.body.refresh_token, undefined);
  const b = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
  assert.equal(b.status, 200, 'not rotated while omitting');
  await control('omit-refresh-token', { omit: false });
  const c = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
  assert.equal(c.status, 200);
  assert.ok(c.body.refresh_token && c.body.refresh_token !== tokens.refresh_token, 'rotates again');
  const d = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
  assert.equal(d.body.error, 'invalid_grant');
});

test('token-delay-ms holds the token endpoint', async () => {
  const tokens = await tokensFor();
  await control('token-delay-ms', { ms: 300 });
  const started = Date.now();
  const res = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
  assert.equal(res.status, 200);
  assert.ok(Date.now() - started >= 290, `took ${Date.now() - started} ms`);
  await control('reset', {});
  const stats = await control('stats');
  assert.deepEqual(stats.token_requests, { authorization_code: 0, refresh_token: 0 });
  assert.equal(stats.flags.delayMs, 0);
});

test('custom scopes are granted; offline_access is not needed for a refresh token', async () => {
  const tokens = await tokensFor({ scope: 'openid offline_access read write mail.read' });
  // oidc-provider drops offline_access unless prompt=consent is asked for (OpenID Connect
  // Core 11); refresh tokens are issued regardless (issueRefreshToken)
  assert.deepEqual(tokens.scope.split(' ').sort(), ['mail.read', 'openid', 'read', 'write']);
  assert.ok(tokens.id_token);
  assert.ok(tokens.refresh_token);
  const unknown = await tokensFor({ scope: 'read nonsense' });
  assert.equal(unknown.scope, 'read', 'a scope the provider does not know is dropped, not an error');
});
