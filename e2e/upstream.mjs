#!/usr/bin/env node
// Strongroom e2e: a real upstream OpenID Provider for tests.
//
// This is oidc-provider (an OpenID Certified implementation nobody in this project wrote), set up
// to stand in for "Google" or a company's OIDC single sign-on while Strongroom signs users in
// through it. The Rust tests spawn it as a child process:
//
//     node e2e/upstream.mjs <config.json>
//
// and read exactly one line from stdout: `READY http://127.0.0.1:<port>` (the issuer). Everything
// else (oidc-provider's warnings, errors) goes to stderr. SIGTERM or SIGINT makes it exit with 0.
//
// What it adds around oidc-provider (see e2e/README.md for the full reference):
//   * no human interaction: login and consent finish automatically (see handleInteraction), so an
//     authorization request is a chain of 303 redirects ending at the client's redirect_uri;
//   * `login_hint` picks the account (`login_hint=deny` answers `error=access_denied`);
//   * rotating refresh tokens with oidc-provider's replay detection (reuse revokes the grant);
//   * `/__control/*` JSON endpoints for the tests: token-request counters and scripted token
//     endpoint faults (timeout, 500, garbage, invalid_grant, delay).
//
// It is one plain Node HTTP server: `/__control/*` and `/interaction/*` are answered here, token
// requests are counted (and maybe faulted) here, and everything else goes to provider.callback().

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider, { interactionPolicy } from 'oidc-provider';

// stdout carries only the READY line: oidc-provider prints its notices with console.info, so
// console.log and console.info go to stderr.
console.log = console.error;
console.info = console.error;

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

function fail(message) {
  process.stderr.write(`upstream.mjs: ${message}\n`);
  process.exit(2);
}

if (process.argv.length !== 3) {
  fail('usage: node e2e/upstream.mjs <config.json>');
}

let config;
try {
  config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
} catch (err) {
  fail(`cannot read config ${process.argv[2]}: ${err.message}`);
}

const port = config.port ?? 0;
const accounts = config.accounts ?? {};
const accountIds = Object.keys(accounts);
if (accountIds.length === 0) {
  fail('config.accounts must name at least one account');
}
const accessTokenTtl = config.accessTokenTtl ?? 60;
const idTokenTtl = config.idTokenTtl ?? 3600;
const refreshTokenTtl = config.refreshTokenTtl ?? 24 * 60 * 60;
const idTokenSigningAlg = config.idTokenSigningAlg ?? 'RS256';
if (!['RS256', 'ES256'].includes(idTokenSigningAlg)) {
  fail(`idTokenSigningAlg must be RS256 or ES256, not ${idTokenSigningAlg}`);
}
const pkceRequired = config.pkceRequired ?? true;
// "offline_access" (default): a refresh token is issued when the client has the refresh_token
// grant type AND offline_access was granted. "always": whenever the client has the refresh_token
// grant type (like an IdP that always hands out refresh tokens).
const refreshTokenPolicy = config.refreshTokenPolicy ?? 'offline_access';
if (!['offline_access', 'always'].includes(refreshTokenPolicy)) {
  fail(`refreshTokenPolicy must be "offline_access" or "always", not ${refreshTokenPolicy}`);
}
// oidc-provider 9 drops the offline_access scope from an authorization request unless its
// `prompt` includes `consent`. With offlineAccessNeedsConsentPrompt false (the default), a GET
// authorization request that asks for offline_access gets `consent` added to its prompt before
// oidc-provider sees it (consent is automatic here anyway), so offline_access works the way it does
// at most corporate IdPs. Set it to true to keep oidc-provider's strict behaviour.
const offlineAccessNeedsConsentPrompt = config.offlineAccessNeedsConsentPrompt ?? false;
// oidc-provider's default (true) keeps scope-derived claims such as email out of the ID token when
// an access token is issued (they are only in userinfo). Google and most corporate IdPs put them
// in the ID token, so the default here is false.
const conformIdTokenClaims = config.conformIdTokenClaims ?? false;

// Clients: oidc-provider client metadata, with defaults that suit a code-flow web client.
const clients = (config.clients ?? []).map((c) => ({
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: c.client_secret ? 'client_secret_basic' : 'none',
  ...c,
}));
if (clients.length === 0) {
  fail('config.clients must list at least one client');
}

// ---------------------------------------------------------------------------------------------
// State for the control endpoints
// ---------------------------------------------------------------------------------------------

function emptyStats() {
  return {
    // every POST to the token endpoint, by grant_type, counted before any fault or handling
    tokenRequests: {},
    // refresh_token requests that presented an already-rotated (consumed) refresh token
    refreshTokenReuse: 0,
    // grants revoked by oidc-provider (replay detection, RFC 7009 revocation of a refresh token)
    grantsRevoked: 0,
    // token endpoint error responses produced by oidc-provider itself, by error code
    tokenErrors: {},
    // authorization requests that reached the automatic interaction route
    interactions: 0,
  };
}

let stats = emptyStats();
// { mode, count, delayMs } or null
let fault = null;
// requests held by the "timeout" fault, so that SIGTERM can end them
const held = new Set();

// ---------------------------------------------------------------------------------------------
// Signing keys (fresh each run) and accounts
// ---------------------------------------------------------------------------------------------

function signingKey(kind, alg) {
  const { privateKey } = kind === 'rsa'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid: `${alg.toLowerCase()}-${randomUUID()}`, alg, use: 'sig' };
}

// Both an RS256 and an ES256 key are published; ID tokens are signed with idTokenSigningAlg
// (the clients' default id_token_signed_response_alg), so the JWKS holds a key the ID tokens do
// not use, as real providers' JWKS do.
const jwks = { keys: [signingKey('rsa', 'RS256'), signingKey('ec', 'ES256')] };

// Standard claims per scope. Any other claim that appears in an account is released with the
// "profile" scope, so tests can add custom claims without touching this file.
const standardProfile = [
  'name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username',
  'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at',
];
const emailClaims = ['email', 'email_verified'];
const phoneClaims = ['phone_number', 'phone_number_verified'];
const extraClaims = [...new Set(accountIds.flatMap((id) => Object.keys(accounts[id])))]
  .filter((c) => c !== 'sub' && !standardProfile.includes(c) && !emailClaims.includes(c)
    && !phoneClaims.includes(c) && c !== 'address');

async function findAccount(_ctx, sub) {
  if (!Object.hasOwn(accounts, sub)) {
    return undefined;
  }
  return {
    accountId: sub,
    async claims() {
      return { ...accounts[sub], sub };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Interaction policy: the default one, plus a login check so that a `login_hint` naming another
// account than the session's (or `deny`) always goes through the (automatic) login interaction.
// ---------------------------------------------------------------------------------------------

const policy = interactionPolicy.base();
policy.get('login').checks.push(new interactionPolicy.Check(
  'login_hint_mismatch',
  'login_hint names another account than the current session',
  (ctx) => {
    const hint = ctx.oidc.params.login_hint;
    if (hint === undefined || !ctx.oidc.session.accountId) {
      return interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }
    if (hint === 'deny' || (Object.hasOwn(accounts, hint) && hint !== ctx.oidc.session.accountId)) {
      return interactionPolicy.Check.REQUEST_PROMPT;
    }
    return interactionPolicy.Check.NO_NEED_TO_PROMPT;
  },
));

// ---------------------------------------------------------------------------------------------
// Server: listen first (port 0 picks a free port), then build the provider for that issuer.
// ---------------------------------------------------------------------------------------------

let provider;
let handle; // provider.callback(), built once
const server = createServer((req, res) => {
  route(req, res).catch((err) => {
    process.stderr.write(`upstream.mjs: unhandled error on ${req.method} ${req.url}: ${err.stack}\n`);
    if (!res.headersSent) {
      sendJson(res, 500, { error: 'server_error', error_description: String(err.message) });
    } else {
      res.destroy();
    }
  });
});

server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;

  provider = new Provider(issuer, {
    clients,
    findAccount,
    jwks,
    claims: {
      openid: ['sub'],
      email: emailClaims,
      phone: phoneClaims,
      address: ['address'],
      profile: [...standardProfile, ...extraClaims],
    },
    conformIdTokenClaims,
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: idTokenSigningAlg,
    },
    features: {
      devInteractions: { enabled: false }, // interactions are ours, see handleInteraction
      userinfo: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      clientCredentials: { enabled: false },
    },
    interactions: {
      policy,
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    pkce: {
      required: () => pkceRequired,
    },
    // Refresh tokens: see refreshTokenPolicy above.
    issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token')
      && (refreshTokenPolicy === 'always' || code.scopes.has('offline_access')),
    // Every refresh consumes the presented refresh token and returns a new one. Presenting a
    // consumed one again is replay: oidc-provider answers invalid_grant and revokes the grant
    // (every access and refresh token of it, including the newest refresh token).
    rotateRefreshToken: true,
    // Tokens outlive the upstream browser session (oidc-provider's default ties tokens of grants
    // without offline_access to it, and an account switch here ends the old session).
    expiresWithSession: async () => false,
    ttl: {
      AccessToken: accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: idTokenTtl,
      RefreshToken: refreshTokenTtl,
      Interaction: 10 * 60,
      Session: 24 * 60 * 60,
      Grant: Math.max(refreshTokenTtl, 24 * 60 * 60) * 2,
    },
    // Opaque access tokens (the default format); they work at userinfo and introspection.

    // Errors that cannot be redirected to the client (unknown client, bad redirect_uri, missing
    // interaction cookie...) are answered as JSON instead of oidc-provider's HTML page.
    async renderError(ctx, out) {
      ctx.type = 'application/json; charset=utf-8';
      ctx.body = JSON.stringify(out);
    },
  });

  // `redirectUriPrefix`: any redirect URI under this prefix is accepted, for tests whose
  // connector ids (and so callback URLs) are generated by the system under test.
  if (typeof config.redirectUriPrefix === 'string') {
    const allowed = provider.Client.prototype.redirectUriAllowed;
    provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
      return value.startsWith(config.redirectUriPrefix) || allowed.call(this, value);
    };
  }

  handle = provider.callback();

  provider.on('grant.error', (_ctx, err) => {
    const code = err.error ?? 'server_error';
    stats.tokenErrors[code] = (stats.tokenErrors[code] ?? 0) + 1;
    if (err.error_detail === 'refresh token already used') {
      stats.refreshTokenReuse += 1;
    }
  });
  provider.on('grant.revoked', () => {
    stats.grantsRevoked += 1;
  });
  provider.on('server_error', (_ctx, err) => {
    process.stderr.write(`upstream.mjs: oidc-provider server_error: ${err.stack}\n`);
  });

  process.stdout.write(`READY ${issuer}\n`);
});

server.on('error', (err) => fail(`cannot listen: ${err.message}`));

// Exit cleanly when told to.
function shutdown() {
  for (const h of held) {
    clearTimeout(h.timer);
    h.res.destroy();
  }
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

// Optional: exit when stdin reaches end of file, for parents that pipe stdin and may die without
// killing the child. Off by default (stdin is often /dev/null, which ends at once).
if (config.exitOnStdinClose) {
  process.stdin.on('end', shutdown);
  process.stdin.resume();
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

async function readBody(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) {
      throw new Error('request body too large');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function route(req, res) {
  if (!provider) {
    sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'starting' });
    return;
  }
  const { pathname } = new URL(req.url, 'http://127.0.0.1');

  if (pathname.startsWith('/__control/')) {
    await control(req, res, pathname);
  } else if (pathname.startsWith('/interaction/')) {
    await handleInteraction(req, res);
  } else if (pathname === '/token' && req.method === 'POST') {
    await token(req, res);
  } else if (pathname === '/auth' && req.method === 'GET' && !offlineAccessNeedsConsentPrompt) {
    const url = new URL(req.url, 'http://127.0.0.1');
    const scopes = (url.searchParams.get('scope') ?? '').split(' ');
    const prompts = (url.searchParams.get('prompt') ?? '').split(' ').filter(Boolean);
    if (scopes.includes('offline_access') && !prompts.includes('consent') && !prompts.includes('none')) {
      url.searchParams.set('prompt', [...prompts, 'consent'].join(' '));
      req.url = `${url.pathname}${url.search}`;
    }
    handle(req, res);
  } else {
    handle(req, res);
  }
}

// ---------------------------------------------------------------------------------------------
// /__control/*
// ---------------------------------------------------------------------------------------------

const FAULT_MODES = ['timeout', 'status500', 'garbage', 'invalid_grant', 'delay', 'none'];

async function control(req, res, pathname) {
  if (pathname === '/__control/stats' && req.method === 'GET') {
    sendJson(res, 200, stats);
  } else if (pathname === '/__control/reset-stats' && req.method === 'POST') {
    stats = emptyStats();
    sendJson(res, 200, stats);
  } else if (pathname === '/__control/faults' && req.method === 'GET') {
    sendJson(res, 200, fault ?? { mode: 'none', count: 0 });
  } else if (pathname === '/__control/faults' && req.method === 'POST') {
    let body;
    try {
      body = JSON.parse((await readBody(req)) || '{}');
    } catch {
      sendJson(res, 400, { error: 'body must be JSON' });
      return;
    }
    const mode = body.mode ?? 'none';
    const count = body.count ?? 1;
    if (!FAULT_MODES.includes(mode)) {
      sendJson(res, 400, { error: `mode must be one of ${FAULT_MODES.join(', ')}` });
      return;
    }
    if (!Number.isInteger(count) || count < 0) {
      sendJson(res, 400, { error: 'count must be a non-negative integer' });
      return;
    }
    const delayMs = body.delayMs ?? (mode === 'timeout' ? 60_000 : 1_000);
    fault = mode === 'none' || count === 0 ? null : { mode, count, delayMs };
    sendJson(res, 200, fault ?? { mode: 'none', count: 0 });
  } else {
    sendJson(res, 404, { error: 'unknown control endpoint' });
  }
}

// ---------------------------------------------------------------------------------------------
// Token endpoint: count, maybe fault, else hand to oidc-provider
// ---------------------------------------------------------------------------------------------

async function token(req, res) {
  const raw = await readBody(req);
  const grantType = new URLSearchParams(raw).get('grant_type') ?? '(none)';
  stats.tokenRequests[grantType] = (stats.tokenRequests[grantType] ?? 0) + 1;

  let mode = null;
  let delayMs = 0;
  if (fault) {
    ({ mode, delayMs } = fault);
    fault.count -= 1;
    if (fault.count <= 0) {
      fault = null;
    }
  }

  switch (mode) {
    case 'timeout': {
      // Accept the request and never answer; after delayMs (60 s by default) drop the connection.
      const h = { res };
      h.timer = setTimeout(() => {
        held.delete(h);
        res.destroy();
      }, delayMs);
      held.add(h);
      res.on('close', () => {
        clearTimeout(h.timer);
        held.delete(h);
      });
      return;
    }
    case 'status500':
      sendJson(res, 500, { error: 'server_error', error_description: 'injected fault: HTTP 500' });
      return;
    case 'garbage': {
      const text = '<html><body>this is not JSON {{{</body></html>';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    case 'invalid_grant':
      sendJson(res, 400, { error: 'invalid_grant', error_description: 'grant request is invalid' });
      return;
    case 'delay':
      // Handle normally, but only after delayMs (1 s by default): for single-flight tests.
      await new Promise((resolve) => { setTimeout(resolve, delayMs); });
      break;
    default:
      break;
  }

  // The body stream is consumed; oidc-provider then reads the already-read body from req.body
  // (it prints a one-time notice about that on stderr).
  req.body = raw;
  handle(req, res);
}

// ---------------------------------------------------------------------------------------------
// Automatic login and consent
// ---------------------------------------------------------------------------------------------

async function handleInteraction(req, res) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    // Typically: the _interaction cookie was not sent back.
    sendJson(res, 400, {
      error: 'invalid_request',
      error_description: `interaction not found (is the client keeping cookies?): ${err.message}`,
    });
    return;
  }
  stats.interactions += 1;

  const { prompt, params, session } = details;
  const hint = params.login_hint;

  if (hint === 'deny') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'the end-user denied the request (login_hint=deny)',
    }, { mergeWithLastSubmission: false });
    return;
  }

  const result = {};
  let accountId = session?.accountId;
  if (prompt.name === 'login' || !accountId) {
    accountId = hint !== undefined && Object.hasOwn(accounts, hint) ? hint : accountIds[0];
    result.login = { accountId };

    // Switching accounts inside an existing session: oidc-provider would answer the resume with
    // an auto-submitting logout confirmation form. End the old session here instead, so that the
    // flow stays a plain redirect chain.
    if (session?.accountId && session.accountId !== accountId) {
      const old = session.cookie ? await provider.Session.find(session.cookie) : undefined;
      await old?.destroy();
      details.session = undefined;
      await details.save(details.exp - Math.floor(Date.now() / 1000));
    }
  }

  // Grant everything that was asked for: reuse the session's grant for this client when it is the
  // same account's, else start a new one.
  let grant;
  if (details.grantId) {
    grant = await provider.Grant.find(details.grantId);
    if (grant && grant.accountId !== accountId) {
      grant = undefined;
    }
  }
  grant ??= new provider.Grant({ accountId, clientId: params.client_id });

  if (params.scope) {
    grant.addOIDCScope(params.scope);
  }
  const missing = prompt.details ?? {};
  if (missing.missingOIDCScope) {
    grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  }
  if (missing.missingOIDCClaims) {
    grant.addOIDCClaims(missing.missingOIDCClaims);
  }
  if (params.claims) {
    try {
      const requested = JSON.parse(params.claims);
      grant.addOIDCClaims([
        ...Object.keys(requested.id_token ?? {}),
        ...Object.keys(requested.userinfo ?? {}),
      ]);
    } catch {
      // oidc-provider has already validated the claims parameter
    }
  }
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  result.consent = { grantId: await grant.save() };

  // 303 to oidc-provider's resume endpoint, which redirects on to the client (or, if another
  // prompt is still needed, back here).
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}
