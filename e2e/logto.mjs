#!/usr/bin/env node
// Strongroom e2e: Logto's own client libraries, unchanged, against Strongroom.
//
// @logto/api (the Management API client) sets Strongroom up the way Logto's docs tell a
// self-hosted Logto's user to (`createManagementApi('default', {clientId, clientSecret,
// baseUrl})`: its default resource indicator `https://default.logto.app/api`): a social `oidc`
// connector and an SSO connector with token storage, an application, a user. Then @logto/node
// (the OIDC SDK on @logto/client) signs a user in through the upstream OpenID provider, reads the
// ID token claims, userinfo and an access token, reads the user's provider token through the
// Account API, refreshes, and signs out (which revokes the refresh token). This script plays the
// browser: it follows redirects with a cookie jar, like e2e/rp.mjs.
//
//     node e2e/logto.mjs <config.json>
//
// config: {endpoint, m2m: {id, secret}, upstream: {issuer, clientId, clientSecret}, redirectUri,
//          postLogoutRedirectUri, login}
// stdout gets one JSON line: {"ok": true, ...observations} (exit 0) or
// {"ok": false, "step", "error"} (exit 1).

import { readFileSync } from 'node:fs';

import { createManagementApi } from '@logto/api/management';
import LogtoClient from '@logto/node';

const MAX_HOPS = 20;
let step = 'config';

function out(obj, code) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
  process.exitCode = code;
}

// A minimal browser: a cookie jar per host:port, redirects followed by hand until `stopAt`.
const jar = new Map();

function storeCookies(url, response) {
  if (!jar.has(url.host)) {
    jar.set(url.host, new Map());
  }
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const eq = pair.indexOf('=');
    const [name, value] = [pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()];
    if (/max-age=0/i.test(line) || value === '') {
      jar.get(url.host).delete(name);
    } else {
      jar.get(url.host).set(name, value);
    }
  }
}

function cookieHeader(url) {
  const cookies = jar.get(url.host);
  return cookies ? [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') : '';
}

async function browse(start, stopAt) {
  let url = new URL(start);
  for (let hop = 0; hop < MAX_HOPS; hop += 1) {
    if (url.href.startsWith(stopAt)) {
      return url;
    }
    const response = await fetch(url, { redirect: 'manual', headers: { cookie: cookieHeader(url) } });
    storeCookies(url, response);
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || !location) {
      throw new Error(`${url.pathname} answered ${response.status} without a redirect: ${(await response.text()).slice(0, 300)}`);
    }
    url = new URL(location, url);
  }
  throw new Error('too many redirects');
}

// A Management API call through @logto/api's typed client: its data, or an error with the answer.
async function must(promise) {
  const { data, error, response } = await promise;
  if (!response.ok) {
    throw new Error(`${response.status} ${JSON.stringify(error)}`);
  }
  return data;
}

async function main() {
  const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const { endpoint, m2m, upstream, redirectUri, postLogoutRedirectUri, login } = config;
  const seen = {};

  step = 'management client';
  // Exactly Logto's documented OSS set-up: tenant `default`, the instance's base URL.
  const { apiClient } = createManagementApi('default', {
    clientId: m2m.id,
    clientSecret: m2m.secret,
    baseUrl: endpoint,
  });

  step = 'create the social connector';
  const connector = await must(apiClient.POST('/api/connectors', {
    body: {
      connectorId: 'oidc',
      config: {
        clientId: upstream.clientId,
        clientSecret: upstream.clientSecret,
        issuer: upstream.issuer,
        scope: 'openid profile email offline_access',
      },
      enableTokenStorage: true,
    },
  }));
  seen.connector = { id: connector.id, target: connector.metadata?.target ?? connector.target };

  step = 'create the SSO connector';
  const sso = await must(apiClient.POST('/api/sso-connectors', {
    body: {
      providerName: 'OIDC',
      connectorName: 'Corp SSO',
      domains: ['corp.test'],
      config: {
        clientId: upstream.clientId,
        clientSecret: upstream.clientSecret,
        issuer: upstream.issuer,
        scope: 'openid profile email offline_access',
      },
    },
  }));
  seen.ssoConnector = { id: sso.id, providerName: sso.providerName };

  step = 'create the application';
  const app = await must(apiClient.POST('/api/applications', {
    body: {
      name: 'Logto SDK app',
      type: 'Traditional',
      oidcClientMetadata: { redirectUris: [redirectUri], postLogoutRedirectUris: [postLogoutRedirectUri] },
      customData: { team: 'e2e' },
    },
  }));
  seen.application = {
    keys: Object.keys(app).sort(),
    customData: app.customData,
    appLevelAccessControlEnabled: app.appLevelAccessControlEnabled,
    hasSecret: typeof app.secret === 'string',
  };
  const fetched = await must(apiClient.GET('/api/applications/{id}', { params: { path: { id: app.id } } }));
  seen.applicationFetched = fetched.id === app.id;

  step = 'create and list users';
  const user = await must(apiClient.POST('/api/users', { body: { username: 'sdk_user', name: 'SDK User' } }));
  const users = await must(apiClient.GET('/api/users', { params: { query: { search: 'sdk_user' } } }));
  seen.users = users.map((u) => u.id).includes(user.id);

  step = 'sign in';
  const storage = new Map();
  let navigatedTo;
  const client = new LogtoClient(
    {
      endpoint,
      appId: app.id,
      appSecret: app.secret,
      scopes: ['email', 'profile', 'identities'],
    },
    {
      navigate: (url) => {
        navigatedTo = url;
      },
      storage: {
        getItem: async (key) => storage.get(key) ?? null,
        setItem: async (key, value) => {
          storage.set(key, value);
        },
        removeItem: async (key) => {
          storage.delete(key);
        },
      },
    },
  );
  await client.signIn({
    redirectUri,
    directSignIn: { method: 'social', target: seen.connector.target },
    loginHint: login,
  });
  const callback = await browse(navigatedTo, redirectUri);

  step = 'handle the sign-in callback';
  await client.handleSignInCallback(callback.href);
  seen.isAuthenticated = await client.isAuthenticated();

  step = 'ID token claims';
  seen.idTokenClaims = await client.getIdTokenClaims();

  step = 'userinfo';
  seen.userInfo = await client.fetchUserInfo();

  step = 'access token';
  const accessToken = await client.getAccessToken();

  step = 'Account API';
  const read = await fetch(`${endpoint}/api/my-account/identities/${seen.connector.target}/access-token`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  seen.accountApi = { status: read.status, body: await read.json() };

  step = 'Account Center';
  const center = await must(apiClient.GET('/api/account-center'));
  seen.accountCenterDefault = { enabled: center.enabled, social: center.fields?.social };
  await must(apiClient.PATCH('/api/account-center', {
    body: { fields: { name: 'ReadOnly', social: 'ReadOnly' } },
  }));
  const narrowed = await fetch(`${endpoint}/api/my-account`, { headers: { authorization: `Bearer ${accessToken}` } });
  seen.myAccountNarrowed = Object.keys(await narrowed.json()).sort();
  const unlink = await fetch(`${endpoint}/api/my-account/identities/${seen.connector.target}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${accessToken}` },
  });
  seen.unlinkReadOnly = { status: unlink.status, body: await unlink.json() };
  await must(apiClient.PATCH('/api/account-center', { body: { enabled: false } }));
  const off = await fetch(`${endpoint}/api/my-account/identities/${seen.connector.target}/access-token`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  seen.tokenReadDisabled = { status: off.status, body: await off.json() };
  await must(apiClient.PATCH('/api/account-center', {
    body: { enabled: true, fields: center.fields },
  }));

  step = 'refresh';
  const refreshToken = await client.getRefreshToken();
  await client.clearAccessToken();
  const refreshed = await client.getAccessToken();
  seen.refreshed = typeof refreshed === 'string' && refreshed !== accessToken;
  const afterRefresh = await client.getRefreshToken();
  seen.rotated = typeof afterRefresh === 'string' && afterRefresh !== refreshToken;

  step = 'sign out';
  const idToken = await client.getIdToken();
  await client.signOut(postLogoutRedirectUri);
  seen.signOutUrl = navigatedTo;
  // The refresh token the SDK revoked no longer works.
  const reuse = await fetch(`${endpoint}/oidc/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${app.id}:${app.secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: afterRefresh }).toString(),
  });
  seen.refreshAfterSignOut = { status: reuse.status, body: await reuse.json() };
  const me = await fetch(`${endpoint}/oidc/me`, { headers: { authorization: `Bearer ${refreshed}` } });
  seen.userinfoAfterSignOut = me.status;

  step = 'a stale copy of the session';
  // Another copy of the stored session (a second tab's storage, a backup) still holds the revoked
  // refresh token: the SDK's refresh must fail with Logto's request error and its code.
  storage.set('idToken', idToken);
  storage.set('refreshToken', afterRefresh);
  try {
    await client.getAccessToken();
    seen.staleRefresh = { refreshed: true };
  } catch (error) {
    seen.staleRefresh = { name: error?.name, code: error?.code };
  }

  out({ ok: true, ...seen }, 0);
}

main().catch((err) => {
  out({ ok: false, step, error: err?.message ?? String(err), code: err?.code }, 1);
});
