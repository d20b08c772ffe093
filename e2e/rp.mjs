#!/usr/bin/env node
// Strongroom e2e: a real relying party for tests.
//
// openid-client (an OpenID Certified client nobody in this project wrote) signs in to an OpenID
// provider — Strongroom's own, in the Rust tests — with the authorization code flow, PKCE S256,
// state and nonce, while this script plays the browser: it follows the redirect chain with a
// cookie jar until the provider redirects to redirect_uri. Then it redeems the code (openid-client
// validates the ID token: signature via the JWKS, iss, aud, exp, nonce, and the RFC 9207 `iss`
// authorization response parameter when the provider advertises it), calls userinfo, and, when a
// refresh token came back, refreshes once.
//
//     node e2e/rp.mjs <config.json>
//
// stdout gets exactly one JSON line: {"ok": true, ...} (exit 0) or
// {"ok": false, "step": "...", "error": "..."} (exit 1). Exit 2 means bad usage or config.

import { readFileSync } from 'node:fs';

import * as client from 'openid-client';

const MAX_HOPS = 20;
const HTTP_TIMEOUT_MS = 15_000;

let step = 'config';

function out(obj, code) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
  process.exitCode = code;
}

// Turns any error (openid-client's OAuth errors carry `error` and `error_description`) into the
// failure line.
function failure(err) {
  const result = { ok: false, step, error: err?.message ?? String(err) };
  // A 401 with WWW-Authenticate (e.g. a wrong client secret): the OAuth error is in the challenge.
  if (!err?.error && Array.isArray(err?.cause) && err.cause[0]?.parameters) {
    const { parameters } = err.cause[0];
    err.error = parameters.error;
    err.error_description = parameters.error_description;
  }
  // An unexpected HTTP response: report its status.
  if (err?.cause instanceof Response) {
    result.status = err.cause.status;
  }
  if (err?.error) {
    result.oauthError = err.error;
    if (err.error_description) {
      result.errorDescription = err.error_description;
    }
    result.error = `${err.error}${err.error_description ? `: ${err.error_description}` : ''} (${result.error})`;
  }
  if (err?.code) {
    result.code = err.code;
  }
  if (err?.status) {
    result.status = err.status;
  }
  if (typeof err?.cause?.message === 'string' && !result.error.includes(err.cause.message)) {
    result.cause = err.cause.message;
  }
  return result;
}

class StepError extends Error {}

// ---------------------------------------------------------------------------------------------
// A minimal browser: cookie jar per host:port, manual redirects.
// ---------------------------------------------------------------------------------------------

const jar = new Map(); // "host:port" -> Map(name -> value)

function storeCookies(url, response) {
  const host = url.host;
  if (!jar.has(host)) {
    jar.set(host, new Map());
  }
  const cookies = jar.get(host);
  for (const line of response.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      continue;
    }
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const expired = attrs.some((a) => {
      const [k, v = ''] = a.split('=');
      const key = k.trim().toLowerCase();
      if (key === 'max-age') {
        return Number(v.trim()) <= 0;
      }
      if (key === 'expires') {
        return Date.parse(v.trim()) <= Date.now();
      }
      return false;
    });
    if (expired) {
      cookies.delete(name);
    } else {
      cookies.set(name, value);
    }
  }
}

function cookieHeader(url) {
  const cookies = jar.get(url.host);
  if (!cookies || cookies.size === 0) {
    return undefined;
  }
  return [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
}

function isCallback(url, redirectUri) {
  return url.origin === redirectUri.origin && url.pathname === redirectUri.pathname;
}

// Follows redirects from `start` until one points at redirect_uri; returns that URL.
async function browse(start, redirectUri) {
  let url = start;
  for (let hop = 0; hop < MAX_HOPS; hop += 1) {
    const headers = { accept: 'text/html,application/json;q=0.9,*/*;q=0.8' };
    const cookie = cookieHeader(url);
    if (cookie) {
      headers.cookie = cookie;
    }
    let response;
    try {
      response = await fetch(url, {
        method: 'GET',
        headers,
        redirect: 'manual',
        signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
      });
    } catch (err) {
      throw new StepError(`GET ${url.href} failed: ${err.cause?.message ?? err.message}`);
    }
    storeCookies(url, response);

    if ([301, 302, 303, 307, 308].includes(response.status)) {
      await response.body?.cancel();
      const location = response.headers.get('location');
      if (!location) {
        throw new StepError(`HTTP ${response.status} without Location at ${url.href}`);
      }
      const next = new URL(location, url);
      if (isCallback(next, redirectUri)) {
        return next;
      }
      url = next;
      continue;
    }

    const body = await response.text();
    const contentType = response.headers.get('content-type') ?? '';
    const excerpt = body.slice(0, 500);
    if (response.status === 200 && /<form/i.test(body)) {
      throw new StepError(
        `HTTP 200 ${contentType} with an HTML form at ${url.href} (a sign-in page or a form_post `
        + `response; this browser only follows redirects — use direct sign-in): ${excerpt}`,
      );
    }
    throw new StepError(
      `HTTP ${response.status} ${contentType} at ${url.href} instead of a redirect: ${excerpt}`,
    );
  }
  throw new StepError(`more than ${MAX_HOPS} redirects without reaching the redirect_uri`);
}

// ---------------------------------------------------------------------------------------------
// The flow
// ---------------------------------------------------------------------------------------------

async function main() {
  if (process.argv.length !== 3) {
    process.stderr.write('usage: node e2e/rp.mjs <config.json>\n');
    process.exitCode = 2;
    return;
  }
  let cfg;
  try {
    cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  } catch (err) {
    out({ ok: false, step, error: `cannot read config ${process.argv[2]}: ${err.message}` }, 2);
    return;
  }
  for (const field of ['issuer', 'client_id', 'redirect_uri']) {
    if (typeof cfg[field] !== 'string') {
      out({ ok: false, step, error: `config.${field} must be a string` }, 2);
      return;
    }
  }
  const scope = cfg.scope ?? 'openid';
  const redirectUri = new URL(cfg.redirect_uri);

  // Client authentication: public client (none) without a secret; otherwise client_secret_basic
  // unless token_endpoint_auth_method says client_secret_post.
  let clientAuth;
  const authMethod = cfg.token_endpoint_auth_method
    ?? (cfg.client_secret ? 'client_secret_basic' : 'none');
  switch (authMethod) {
    case 'none':
      clientAuth = client.None();
      break;
    case 'client_secret_basic':
      clientAuth = client.ClientSecretBasic(cfg.client_secret);
      break;
    case 'client_secret_post':
      clientAuth = client.ClientSecretPost(cfg.client_secret);
      break;
    default:
      out({ ok: false, step, error: `unsupported token_endpoint_auth_method ${authMethod}` }, 2);
      return;
  }
  const metadata = {};
  if (cfg.id_token_signed_response_alg) {
    metadata.id_token_signed_response_alg = cfg.id_token_signed_response_alg;
  }

  // 1. discovery (plain http is allowed: everything runs on loopback)
  step = 'discovery';
  const config = await client.discovery(
    new URL(cfg.issuer),
    cfg.client_id,
    metadata,
    clientAuth,
    { execute: [client.allowInsecureRequests], timeout: HTTP_TIMEOUT_MS / 1000 },
  );

  // 2. authorization request, followed as a browser would
  step = 'authorize';
  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const params = {
    redirect_uri: cfg.redirect_uri,
    scope,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
    ...(cfg.resource ? { resource: cfg.resource } : {}),
    ...(cfg.extra_params ?? {}),
  };
  const authorizationUrl = client.buildAuthorizationUrl(config, params);
  const callbackUrl = await browse(authorizationUrl, redirectUri);

  // 3. callback: an error response stops here with the provider's error code
  step = 'callback';
  const cbError = callbackUrl.searchParams.get('error');
  if (cbError) {
    const description = callbackUrl.searchParams.get('error_description');
    const result = {
      ok: false,
      step,
      error: `${cbError}${description ? `: ${description}` : ''}`,
      oauthError: cbError,
      callbackUrl: callbackUrl.href,
    };
    if (description) {
      result.errorDescription = description;
    }
    out(result, 1);
    return;
  }

  // 4. code redemption; openid-client checks state, iss (RFC 9207) and the ID token
  step = 'token';
  const tokenParams = cfg.resource ? { resource: cfg.resource } : undefined;
  const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: scope.split(' ').includes('openid'),
  }, tokenParams);
  const idTokenClaims = tokens.claims();
  const sub = idTokenClaims?.sub;

  // 5. userinfo (only meaningful with an ID token's subject to check against)
  step = 'userinfo';
  let userinfo = null;
  if (sub && cfg.userinfo !== false) {
    userinfo = await client.fetchUserInfo(config, tokens.access_token, sub);
  }

  // 6. one refresh, when a refresh token came back
  step = 'refresh';
  const first = tokens;
  let latest = tokens;
  let refreshed = false;
  if (tokens.refresh_token && cfg.refresh !== false) {
    latest = await client.refreshTokenGrant(config, tokens.refresh_token, tokenParams);
    refreshed = true;
  }

  step = 'done';
  out({
    ok: true,
    sub,
    idTokenClaims,
    userinfo,
    tokenType: first.token_type,
    scope: first.scope,
    expiresIn: first.expires_in,
    hasRefreshToken: Boolean(first.refresh_token),
    refreshed,
    // The newest tokens (after the refresh, when there was one): with rotating refresh tokens
    // the first refresh token is no longer usable once refreshed.
    accessToken: latest.access_token,
    refreshToken: latest.refresh_token ?? first.refresh_token ?? null,
    idToken: latest.id_token ?? first.id_token ?? null,
    // The tokens of the code redemption, and whether the refresh rotated the refresh token.
    firstAccessToken: first.access_token,
    firstRefreshToken: first.refresh_token ?? null,
    refreshRotated: refreshed
      ? Boolean(latest.refresh_token && latest.refresh_token !== first.refresh_token)
      : null,
    refreshScope: refreshed ? latest.scope ?? null : null,
    callbackIss: callbackUrl.searchParams.get('iss'),
  }, 0);
}

main().catch((err) => {
  if (process.env.RP_DEBUG) {
    process.stderr.write(`${err.stack}\n`);
  }
  out(failure(err), 1);
});
