#!/usr/bin/env node
// Strongroom e2e: a single-page application built on Logto's browser SDK (@logto/browser,
// unchanged, bundled for the page with esbuild) signs a user in through Strongroom in a real
// headless Chromium and calls the token endpoint and the Account API from its own origin, which
// needs CORS. A page of another origin, with the same token, must be refused by the browser.
//
//     node e2e/spa.mjs <config.json>
//
// config: {endpoint, m2m: {id, secret}, chromium, target, login}
// stdout gets one JSON line: {"ok": true, ...} (exit 0) or {"ok": false, "step", "error"}.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import { createManagementApi } from '@logto/api/management';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';

let step = 'config';

function out(obj, code) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
  process.exitCode = code;
}

// The page: on `/`, start the sign-in; on `/callback`, finish it, then read the provider token
// through the Account API; on `/probe`, call the Account API with a token from another origin.
const page = (config, appId) => `<!doctype html><html><head><meta charset="utf-8"><title>SPA</title>
<script src="/sdk.js"></script></head><body><script type="module">
const endpoint = ${JSON.stringify(config.endpoint)};
const client = new window.LogtoClient({ endpoint, appId: ${JSON.stringify(appId)}, scopes: ['email', 'profile', 'identities'] });
const done = (result) => { window.result = result; };
try {
  if (location.pathname === '/callback') {
    await client.handleSignInCallback(location.href);
    const claims = await client.getIdTokenClaims();
    const token = await client.getAccessToken();
    const read = await fetch(endpoint + '/api/my-account/identities/${config.target}/access-token', {
      headers: { Authorization: 'Bearer ' + token },
    });
    done({ signedIn: await client.isAuthenticated(), sub: claims.sub, status: read.status,
           hasProviderToken: typeof (await read.json()).access_token === 'string', token });
  } else if (location.pathname === '/probe') {
    const token = new URLSearchParams(location.search).get('token');
    try {
      const read = await fetch(endpoint + '/api/my-account', { headers: { Authorization: 'Bearer ' + token } });
      done({ probe: 'read', status: read.status });
    } catch (e) {
      done({ probe: 'refused', error: String(e) });
    }
  } else {
    await client.signIn({ redirectUri: location.origin + '/callback',
      directSignIn: { method: 'social', target: ${JSON.stringify(config.target)} },
      loginHint: ${JSON.stringify(config.login)} });
  }
} catch (e) {
  done({ error: String(e && e.message || e) });
}
</script></body></html>`;

async function main() {
  const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

  step = 'bundle @logto/browser';
  const bundled = await build({
    stdin: { contents: "import LogtoClient from '@logto/browser'; window.LogtoClient = LogtoClient;", resolveDir: import.meta.dirname },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  const sdk = bundled.outputFiles[0].text;

  step = 'serve the SPA';
  let html = '';
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/sdk.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(sdk);
    } else {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    }
  });
  await new Promise((resolve) => { server.listen(0, '127.0.0.1', resolve); });
  const origin = `http://127.0.0.1:${server.address().port}`;
  // The same server under another name is another origin, which no application registered.
  const foreign = `http://localhost:${server.address().port}`;

  step = 'register the SPA (through @logto/api)';
  const { apiClient } = createManagementApi('default', {
    clientId: config.m2m.id,
    clientSecret: config.m2m.secret,
    baseUrl: config.endpoint,
  });
  const created = await apiClient.POST('/api/applications', {
    body: { name: 'Browser SPA', type: 'SPA', oidcClientMetadata: { redirectUris: [`${origin}/callback`], postLogoutRedirectUris: [] } },
  });
  if (!created.response.ok) {
    throw new Error(`create the SPA: ${created.response.status} ${JSON.stringify(created.error)}`);
  }
  html = page(config, created.data.id);

  step = 'sign in in Chromium';
  const browser = await chromium.launch({
    executablePath: config.chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--no-first-run'],
  });
  try {
    const tab = await browser.newPage();
    await tab.goto(`${origin}/`);
    await tab.waitForURL(`${origin}/callback**`, { timeout: 20_000 });
    await tab.waitForFunction(() => window.result !== undefined, null, { timeout: 20_000 });
    const result = await tab.evaluate(() => window.result);
    if (result.error) {
      throw new Error(result.error);
    }

    step = 'call from another origin';
    const probe = await browser.newPage();
    await probe.goto(`${foreign}/probe?token=${encodeURIComponent(result.token)}`);
    await probe.waitForFunction(() => window.result !== undefined, null, { timeout: 20_000 });
    const foreignResult = await probe.evaluate(() => window.result);
    delete result.token;
    out({ ok: true, ...result, foreign: foreignResult }, 0);
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((err) => {
  out({ ok: false, step, error: err?.message ?? String(err) }, 1);
});
