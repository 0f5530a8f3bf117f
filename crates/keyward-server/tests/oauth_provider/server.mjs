// A real OAuth 2.0 authorization server for Keyward's OAuth vault tests: the npm package
// `oidc-provider` (strict PKCE S256, refresh-token rotation, RFC 7009 revocation), plus a
// few `/__control` endpoints a test uses to register clients, count requests and inject
// faults. Nothing here is Keyward's code: the OAuth answers are oidc-provider's own.
//
// Starts on 127.0.0.1, port 0, and prints ONE line of JSON on stdout once listening:
//   {"port":N,"issuer":"http://127.0.0.1:N","authorize_url":…,"token_url":…,"revoke_url":…,
//    "introspection_url":…,"control_url":…}
// Everything else goes to stderr. Exits when stdin closes (so a test process that dies
// takes it along) and on SIGTERM/SIGINT.
//
// Environment:
//   ACCESS_TOKEN_TTL  access token lifetime in seconds (default 3600)
//   SCOPES            extra scopes to accept, space separated (always accepted: openid,
//                     offline_access, read, write, mail.read, mail.send, profile, email)
//   PROVIDER_DEBUG    set to 1 to log every request to stderr
//
// Control endpoints (JSON; not part of the OAuth server):
//   POST /__control/clients              {client_id, client_secret, redirect_uris, token_endpoint_auth_method}
//   GET  /__control/stats                counters, see `stats()` below
//   POST /__control/fail                 {status, count}: the next `count` token requests answer `status`
//   POST /__control/revoke-all           destroys every grant, code, access and refresh token
//   POST /__control/omit-refresh-token   {omit}: refresh answers carry no refresh_token (and do not rotate)
//   POST /__control/token-delay-ms       {ms}: the token endpoint waits that long before answering
//   POST /__control/deny-next            the next interaction ends in access_denied
//   POST /__control/reset                counters and flags back to zero (clients and tokens stay)

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

const log = (...args) => console.error('[oauth-provider]', ...args);

const accessTokenTtl = Number.parseInt(process.env.ACCESS_TOKEN_TTL ?? '3600', 10);
if (!Number.isFinite(accessTokenTtl) || accessTokenTtl <= 0) {
  log(`bad ACCESS_TOKEN_TTL: ${process.env.ACCESS_TOKEN_TTL}`);
  process.exit(2);
}
const scopes = [
  ...new Set([
    'openid', 'offline_access', 'read', 'write', 'mail.read', 'mail.send', 'profile', 'email',
    // Gmail's, for the tests that point the built-in `gmail` integration here.
    'https://www.googleapis.com/auth/gmail.readonly', 'https://www.googleapis.com/auth/gmail.send',
    ...(process.env.SCOPES ?? '').split(/\s+/).filter(Boolean),
  ]),
];
const ACCOUNT_ID = 'user-1';

const sha256 = (value) => crypto.createHash('sha256').update(String(value)).digest('hex');

// ---------------------------------------------------------------------------------------
// In-memory adapter: one Map per model, so `revoke-all` can really empty the token stores
// (oidc-provider's bundled MemoryAdapter keeps one module-level LRU that is not exposed).

const stores = new Map(); // model name -> Map(id -> { payload, expiresAt })
const storeFor = (name) => {
  if (!stores.has(name)) stores.set(name, new Map());
  return stores.get(name);
};
const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode',
]);

class MapAdapter {
  constructor(name) {
    this.name = name;
    this.store = storeFor(name);
  }

  live(id) {
    const entry = this.store.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.store.delete(id);
      return undefined;
    }
    return entry;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
    this.store.set(id, { payload: structuredClone(payload), expiresAt });
  }

  async find(id) {
    const entry = this.live(id);
    return entry ? structuredClone(entry.payload) : undefined;
  }

  async findByUserCode(userCode) {
    for (const [id, { payload }] of this.store) {
      if (payload.userCode === userCode) return this.find(id);
    }
    return undefined;
  }

  async findByUid(uid) {
    for (const [id, { payload }] of this.store) {
      if (payload.uid === uid) return this.find(id);
    }
    return undefined;
  }

  async consume(id) {
    const entry = this.live(id);
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    this.store.delete(id);
  }

  async revokeByGrantId(grantId) {
    for (const name of GRANTABLE) {
      const store = storeFor(name);
      for (const [id, { payload }] of store) {
        if (payload.grantId === grantId) store.delete(id);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Test-controlled state.

const freshCounters = () => ({
  token_requests: { authorization_code: 0, refresh_token: 0 },
  failed_token_requests: 0,
  rejected_client_auth: 0,
  revocations: 0,
  revoked_tokens: [],
  refresh_tokens_seen: [],
  refresh_tokens_presented: [],
  interactions: 0,
  denied_interactions: 0,
});
const freshFlags = () => ({
  fail: { status: 0, count: 0 },
  delayMs: 0,
  omitRefreshToken: false,
  denyNext: false,
});
let counters = freshCounters();
let flags = freshFlags();

// ---------------------------------------------------------------------------------------
// The provider. The issuer names the port, so listen first and build the provider after.

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

// A fresh signing key per run (ID tokens when `openid` is asked for).
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'k1' };

const provider = new Provider(issuer, {
  adapter: MapAdapter,
  clients: [],
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  scopes,
  claims: { openid: ['sub'], email: ['email'], profile: ['name'] },
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, email: `${sub}@example.test`, name: sub };
      },
    };
  },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    introspection: { enabled: true },
  },
  // PKCE for every client and every authorization request, S256 only.
  pkce: { methods: ['S256'], required: () => true },
  // A refresh token with every code exchange, whatever the scopes (no offline_access
  // needed), and tokens do not die with the provider's login session.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: async () => false,
  // Rotation on every refresh: the presented refresh token is consumed, and presenting it
  // again is `invalid_grant` (and oidc-provider then revokes the whole grant). While
  // omit-refresh-token is on, the refresh does not rotate, so the caller's old refresh
  // token stays good after an answer that leaves it out.
  rotateRefreshToken: () => !flags.omitRefreshToken,
  ttl: {
    AccessToken: accessTokenTtl,
    AuthorizationCode: 600,
    Interaction: 3600,
    Session: 24 * 3600,
    Grant: 14 * 24 * 3600,
    RefreshToken: 14 * 24 * 3600,
  },
  interactions: {
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
});
provider.proxy = false;
provider.on('server_error', (_ctx, err) => log('server_error', err));
if (process.env.PROVIDER_DEBUG === '1') {
  for (const event of ['grant.error', 'authorization.error', 'revocation.error', 'introspection.error']) {
    provider.on(event, (_ctx, err) => log(event, err.message, err.error_description ?? ''));
  }
}

// Filled in from discovery once listening; the middleware below only needs the paths.
const paths = { token: '/token', revocation: '/token/revocation', introspection: '/token/introspection' };

async function readJson(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    ctx.throw(400, 'body is not JSON');
  }
  return {};
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// oidc-provider accepts client_secret_basic and client_secret_post interchangeably for a
// client registered with either. A real provider may not, and the vault must send what it
// registered, so this one holds each client to its registered method, on the token,
// revocation and introspection endpoints, with oidc-provider's own error text.
// The form body is read here and handed back as `req.body`, which oidc-provider's body
// parser takes when the stream was already read (it warns once about that on stderr).
async function checkClientAuthMethod(ctx) {
  if (!ctx.is('application/x-www-form-urlencoded')) return true;
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > 56 * 1024) ctx.throw(413, 'request entity too large');
    chunks.push(chunk);
  }
  const raw = Buffer.concat(chunks).toString('utf8');
  ctx.req.body = raw;
  const form = new URLSearchParams(raw);
  let clientId;
  let used;
  const basic = /^basic\s+(.+)$/i.exec(ctx.get('authorization') ?? '');
  if (basic) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    try {
      clientId = decodeURIComponent(decoded.slice(0, decoded.indexOf(':')).replace(/\+/g, ' '));
    } catch {
      return true; // malformed: oidc-provider answers that itself
    }
    used = 'client_secret_basic';
  } else if (form.has('client_secret')) {
    clientId = form.get('client_id');
    used = 'client_secret_post';
  } else {
    return true;
  }
  const registered = (await new MapAdapter('Client').find(clientId ?? ''))?.token_endpoint_auth_method;
  if (registered && registered !== used) {
    log(`client ${clientId} registered ${registered} but used ${used}: invalid_client`);
    ctx.status = 401;
    ctx.type = 'json';
    ctx.set('cache-control', 'no-store');
    if (used === 'client_secret_basic') ctx.set('www-authenticate', `Basic realm="${issuer}"`);
    ctx.body = {
      error: 'invalid_client',
      error_description: 'client authentication failed',
    };
    return false;
  }
  return true;
}

// Control endpoints, the automatic interaction, and the token/revocation counters. All of
// this runs in front of oidc-provider's router (provider.use sees every request). What
// was in an OAuth request is read back from `ctx.oidc` (params/body) after `await next()`.
provider.use(async (ctx, next) => {
  if (process.env.PROVIDER_DEBUG === '1') log(ctx.method, ctx.path);

  if (ctx.path.startsWith('/__control/')) {
    await control(ctx);
    return;
  }

  const interaction = ctx.method === 'GET' && /^\/interaction\/([^/]+)$/.exec(ctx.path);
  if (interaction) {
    await finishInteraction(ctx);
    return;
  }

  if (ctx.method === 'POST' && ctx.path === paths.token) {
    if (flags.delayMs > 0) await sleep(flags.delayMs);
    if (flags.fail.count > 0) {
      flags.fail.count -= 1;
      counters.failed_token_requests += 1;
      ctx.status = flags.fail.status;
      ctx.type = 'json';
      ctx.set('cache-control', 'no-store');
      ctx.body = { error: 'temporarily_unavailable' };
      return;
    }
    if (!(await checkClientAuthMethod(ctx))) {
      counters.rejected_client_auth += 1;
      return;
    }
    await next();
    const params = ctx.oidc?.params ?? ctx.oidc?.body ?? {};
    const grantType = params.grant_type ?? ctx.oidc?.body?.grant_type;
    if (typeof grantType === 'string') {
      counters.token_requests[grantType] = (counters.token_requests[grantType] ?? 0) + 1;
    }
    if (grantType === 'refresh_token' && typeof params.refresh_token === 'string') {
      counters.refresh_tokens_presented.push(sha256(params.refresh_token));
    }
    if (ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      if (grantType === 'refresh_token' && flags.omitRefreshToken) {
        delete ctx.body.refresh_token;
      }
      if (typeof ctx.body.refresh_token === 'string') {
        const hash = sha256(ctx.body.refresh_token);
        if (!counters.refresh_tokens_seen.includes(hash)) counters.refresh_tokens_seen.push(hash);
      }
    }
    return;
  }

  if (ctx.method === 'POST' && ctx.path === paths.introspection) {
    if (await checkClientAuthMethod(ctx)) await next();
    return;
  }

  if (ctx.method === 'POST' && ctx.path === paths.revocation) {
    if (!(await checkClientAuthMethod(ctx))) return;
    await next();
    const token = ctx.oidc?.params?.token ?? ctx.oidc?.body?.token;
    if (ctx.status === 200) {
      counters.revocations += 1;
      if (typeof token === 'string') counters.revoked_tokens.push(sha256(token));
    }
    return;
  }

  await next();
});

// The person at the browser: logs in as user-1 and grants every scope asked for, or
// refuses once when deny-next is set. Ends with a 303 back to the provider's authorize
// resume URL, which then redirects to the client's redirect_uri with code and state.
async function finishInteraction(ctx) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  counters.interactions += 1;
  let result;
  if (flags.denyNext) {
    flags.denyNext = false;
    counters.denied_interactions += 1;
    result = { error: 'access_denied', error_description: 'the user refused' };
  } else {
    const { params, prompt } = details;
    let grant;
    if (details.grantId) grant = await provider.Grant.find(details.grantId);
    grant ??= new provider.Grant({ accountId: ACCOUNT_ID, clientId: params.client_id });
    if (params.scope) grant.addOIDCScope(params.scope);
    const missing = prompt.details ?? {};
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, wanted] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, wanted.join(' '));
    }
    const grantId = await grant.save();
    result = { login: { accountId: ACCOUNT_ID }, consent: { grantId } };
  }
  const to = await provider.interactionResult(ctx.req, ctx.res, result, {
    mergeWithLastSubmission: false,
  });
  ctx.status = 303;
  ctx.redirect(to);
}

async function control(ctx) {
  const route = `${ctx.method} ${ctx.path.slice('/__control'.length)}`;
  const ok = (body = { ok: true }) => {
    ctx.status = 200;
    ctx.type = 'json';
    ctx.body = body;
  };
  switch (route) {
    case 'POST /clients': {
      const body = await readJson(ctx);
      const method = body.token_endpoint_auth_method ?? 'client_secret_basic';
      if (!['client_secret_basic', 'client_secret_post'].includes(method)) {
        ctx.throw(400, `unsupported token_endpoint_auth_method ${method}`);
      }
      if (!body.client_id || !body.client_secret || !Array.isArray(body.redirect_uris)) {
        ctx.throw(400, 'client_id, client_secret and redirect_uris are required');
      }
      const metadata = {
        client_id: String(body.client_id),
        client_secret: String(body.client_secret),
        redirect_uris: body.redirect_uris.map(String),
        token_endpoint_auth_method: method,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        scope: scopes.join(' '),
      };
      // Clients live in the adapter (not `clients: []`, which is fixed at construction):
      // Client.find reads the adapter every time and caches only by the metadata's hash.
      await new MapAdapter('Client').upsert(metadata.client_id, metadata);
      const found = await provider.Client.find(metadata.client_id);
      if (!found) ctx.throw(500, 'the provider did not find the client just added');
      log(`client ${metadata.client_id} (${method}) -> ${metadata.redirect_uris.join(', ')}`);
      ok({ ok: true, client_id: found.clientId });
      return;
    }
    case 'GET /stats':
      ok({ ...counters, flags });
      return;
    case 'POST /fail': {
      const body = await readJson(ctx);
      flags.fail = { status: Number(body.status ?? 503), count: Number(body.count ?? 1) };
      ok();
      return;
    }
    case 'POST /revoke-all': {
      let destroyed = 0;
      for (const name of [...GRANTABLE, 'Grant', 'Session', 'Interaction']) {
        destroyed += storeFor(name).size;
        storeFor(name).clear();
      }
      ok({ ok: true, destroyed });
      return;
    }
    case 'POST /omit-refresh-token': {
      const body = await readJson(ctx);
      flags.omitRefreshToken = body.omit !== false;
      ok();
      return;
    }
    case 'POST /token-delay-ms': {
      const body = await readJson(ctx);
      flags.delayMs = Math.max(0, Number(body.ms ?? 0));
      ok();
      return;
    }
    case 'POST /deny-next':
      flags.denyNext = true;
      ok();
      return;
    case 'POST /reset':
      counters = freshCounters();
      flags = freshFlags();
      ok();
      return;
    default:
      ctx.status = 404;
      ctx.type = 'json';
      ctx.body = { error: 'no such control endpoint', route };
  }
}

server.on('request', provider.callback());

const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
const pathOf = (url) => new URL(url).pathname;
paths.token = pathOf(discovery.token_endpoint);
paths.revocation = pathOf(discovery.revocation_endpoint);
paths.introspection = pathOf(discovery.introspection_endpoint);

process.stdout.write(`${JSON.stringify({
  port,
  issuer,
  authorize_url: discovery.authorization_endpoint,
  token_url: discovery.token_endpoint,
  revoke_url: discovery.revocation_endpoint,
  introspection_url: discovery.introspection_endpoint,
  control_url: `${issuer}/__control`,
})}\n`);
log(`listening on ${issuer} (access tokens ${accessTokenTtl}s; scopes ${scopes.join(' ')})`);

const stop = (why) => {
  log(`stopping: ${why}`);
  server.close();
  process.exit(0);
};
process.stdin.on('end', () => stop('stdin closed'));
process.stdin.on('close', () => stop('stdin closed'));
process.stdin.on('error', () => stop('stdin error'));
process.stdin.resume();
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
