#!/usr/bin/env node
// Strongroom e2e: RFC 8693 token exchange by a client nobody in this project wrote.
//
// openid-client discovers Strongroom's provider and calls its token endpoint with
// `genericGrantRequest` (grant_type urn:ietf:params:oauth:grant-type:token-exchange), once
// authenticated with its client secret, once as a worker with `private_key_jwt` (openid-client
// signs the RFC 7523 assertion). The assertions of the refusal cases (unsigned, replayed) are
// built here by hand with WebCrypto, as an attacker would.
//
//     node e2e/exchange.mjs <config.json>
//
// Modes (config.mode):
//   keys        a fresh P-256 key pair: {ok, publicJwk, privateJwk}
//   exchange    every subject type once, and the worker's refusals
//   concurrent  config.count exchanges of config.subject.access at once
//
// stdout gets exactly one JSON line: {"ok": true, ...}, or {"ok": false, "step", "error"}.

import { readFileSync } from 'node:fs';
import { randomUUID, webcrypto } from 'node:crypto';

import * as client from 'openid-client';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const REFRESH = 'urn:ietf:params:oauth:token-type:refresh_token';
const USER_ID = 'urn:strongroom:params:oauth:token-type:user_id';
const ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const TIMEOUT_S = 30;

let step = 'config';

function out(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

// What an exchange answered, without the token itself where a test needs only its shape.
function answer(response) {
  return {
    access_token: response.access_token,
    issued_token_type: response.issued_token_type,
    token_type: response.token_type,
    expires_in: response.expires_in,
    scope: response.scope,
    refresh_token: 'refresh_token' in response,
    id_token: 'id_token' in response,
  };
}

// An OAuth error as openid-client raised it.
function refusal(err) {
  return {
    error: err?.error ?? null,
    code: err?.cause?.code ?? null,
    status: err?.status ?? null,
    message: err?.message ?? String(err),
  };
}

const b64url = (data) => Buffer.from(data).toString('base64url');

async function signedAssertion(key, kid, claims) {
  const header = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid }));
  const payload = b64url(JSON.stringify(claims));
  const input = `${header}.${payload}`;
  const signature = await webcrypto.subtle.sign(
    { name: 'ECDSA', hash: 'SHA-256' },
    key,
    new TextEncoder().encode(input),
  );
  return `${input}.${b64url(new Uint8Array(signature))}`;
}

// A raw token request (the refusal cases openid-client would never send).
async function rawToken(tokenEndpoint, form) {
  const response = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
    signal: AbortSignal.timeout(TIMEOUT_S * 1000),
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

async function keys() {
  const pair = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ]);
  const kid = randomUUID();
  const publicJwk = { ...(await webcrypto.subtle.exportKey('jwk', pair.publicKey)), kid, use: 'sig', alg: 'ES256' };
  const privateJwk = { ...(await webcrypto.subtle.exportKey('jwk', pair.privateKey)), kid };
  delete publicJwk.key_ops;
  delete publicJwk.ext;
  return { ok: true, publicJwk, privateJwk };
}

async function configFor(cfg, clientId, clientAuth) {
  return client.discovery(new URL(cfg.issuer), clientId, {}, clientAuth, {
    execute: [client.allowInsecureRequests],
    timeout: TIMEOUT_S,
  });
}

async function exchange(cfg) {
  step = 'discovery';
  const backend = await configFor(cfg, cfg.backend.id, client.ClientSecretBasic(cfg.backend.secret));
  const base = { resource: cfg.resource, requested_token_type: ACCESS };
  const result = { ok: true };

  step = 'access token subject';
  result.accessSubject = answer(
    await client.genericGrantRequest(backend, GRANT, {
      ...base,
      subject_token: cfg.subject.access,
      subject_token_type: ACCESS,
      actor_token: cfg.actor,
      actor_token_type: ACCESS,
      purpose: cfg.purpose,
    }),
  );

  step = 'refresh token subject';
  result.refreshSubject = [];
  for (let i = 0; i < 2; i += 1) {
    result.refreshSubject.push(
      answer(
        await client.genericGrantRequest(backend, GRANT, {
          ...base,
          subject_token: cfg.subject.refresh,
          subject_token_type: REFRESH,
        }),
      ),
    );
  }

  step = 'refusal: connector not listed';
  result.notListed = await client
    .genericGrantRequest(backend, GRANT, {
      resource: cfg.unlistedResource,
      subject_token: cfg.subject.access,
      subject_token_type: ACCESS,
    })
    .then(() => ({ error: 'accepted' }), refusal);

  step = 'worker discovery';
  const privateKey = await webcrypto.subtle.importKey(
    'jwk',
    cfg.worker.privateJwk,
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  );
  const kid = cfg.worker.privateJwk.kid;
  const worker = await configFor(
    cfg,
    cfg.worker.id,
    client.PrivateKeyJwt({ key: privateKey, kid }),
  );

  step = 'worker';
  result.worker = answer(
    await client.genericGrantRequest(worker, GRANT, {
      ...base,
      subject_token: cfg.userId,
      subject_token_type: USER_ID,
      purpose: 'nightly sync',
    }),
  );

  const tokenEndpoint = worker.serverMetadata().token_endpoint;
  const workerForm = (assertion) => ({
    grant_type: GRANT,
    client_assertion_type: ASSERTION,
    client_assertion: assertion,
    subject_token: cfg.userId,
    subject_token_type: USER_ID,
    resource: cfg.resource,
  });
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: cfg.worker.id,
    sub: cfg.worker.id,
    aud: cfg.issuer,
    iat: now,
    exp: now + 60,
    jti: randomUUID(),
  };

  step = 'refusal: unsigned assertion';
  const unsigned = `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}.`;
  result.unsigned = await rawToken(tokenEndpoint, workerForm(unsigned));

  step = 'refusal: replayed assertion';
  const once = await signedAssertion(privateKey, kid, claims);
  result.replay = [
    await rawToken(tokenEndpoint, workerForm(once)),
    await rawToken(tokenEndpoint, workerForm(once)),
  ];
  for (const r of result.replay) {
    if (r.body?.access_token) r.body.access_token = '[present]';
  }

  step = 'refusal: long-lived assertion';
  result.longLived = await rawToken(
    tokenEndpoint,
    workerForm(
      await signedAssertion(privateKey, kid, { ...claims, exp: now + 3600, jti: randomUUID() }),
    ),
  );

  step = 'refusal: worker with its secret instead of a key';
  result.workerWithSecret = await client
    .genericGrantRequest(
      await configFor(cfg, cfg.worker.id, client.ClientSecretBasic(cfg.worker.secret)),
      GRANT,
      { ...base, subject_token: cfg.userId, subject_token_type: USER_ID },
    )
    .then(() => ({ error: 'accepted' }), refusal);
  return result;
}

async function concurrent(cfg) {
  step = 'discovery';
  const backend = await configFor(cfg, cfg.backend.id, client.ClientSecretBasic(cfg.backend.secret));
  step = 'exchanges';
  const results = await Promise.all(
    Array.from({ length: cfg.count }, () =>
      client
        .genericGrantRequest(backend, GRANT, {
          resource: cfg.resource,
          subject_token: cfg.subject.access,
          subject_token_type: ACCESS,
        })
        .then((r) => ({ access_token: r.access_token }), refusal),
    ),
  );
  return { ok: true, results };
}

try {
  const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const run = { keys, exchange, concurrent }[cfg.mode];
  if (!run) throw new Error(`unknown mode ${cfg.mode}`);
  out(await run(cfg));
} catch (err) {
  out({ ok: false, step, error: err?.message ?? String(err), detail: refusal(err) });
  process.exitCode = 1;
}
