// Drives Strongroom's console in a real headless Chromium (Debian's `chromium`, through
// `playwright-core`), for crates/server/tests/api/console_browser.rs, which sets the scene and then
// runs one step of this script at a time:
//
//   node e2e/console.mjs config.json
//
// config.json: { step, base, chromium, shots, state, username, password, ... } (see each step).
// Every page visited is checked with axe-core (WCAG 2.1 A and AA: labels, contrast, ...).
// On success it prints one JSON line to stdout; on failure it saves a screenshot of the screen
// it was on, prints where it is, and exits 1.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import axe from 'axe-core';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const checks = [];

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

async function accessible(page, what) {
  await page.addScriptTag({ content: axe.source });
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
  const problems = result.violations.map((v) =>
    `  - ${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  expect(problems.length === 0, `${what}: accessibility violations:\n${problems.join('\n')}`);
  checks.push(`axe: ${what}`);
}

/// No token value may reach any page.
async function noPlanted(page, what) {
  const html = await page.content();
  for (const token of config.planted ?? []) {
    expect(!html.includes(token), `${what}: the page shows a token value`);
  }
}

async function heading(page, text) {
  await page.getByRole('heading', { level: 1, name: text }).first().waitFor({ timeout: 5000 });
}

/// The status label of the connection to `connector` in a user's Connections section.
async function label(page, connector) {
  const row = page.locator('ul.rows li').filter({ has: page.getByRole('link', { name: connector, exact: true }) });
  expect((await row.count()) === 1, `no single connection to ${connector} on ${page.url()}`);
  return (await row.locator('.status').innerText()).trim();
}

/// The value of a fact (`<dt>name</dt><dd>value</dd>`) on the page.
async function fact(page, name) {
  const dd = page.locator(`dl.facts dt:text-is("${name}") + dd`).first();
  return (await dd.innerText()).trim();
}

async function fitsWidth(page, what) {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    width: window.innerWidth,
  }));
  expect(scroll <= width + 1, `${what}: the page is ${scroll}px wide on a ${width}px screen`);
  checks.push(`fits ${width}px: ${what}`);
}

const steps = {
  // Sign in (a wrong password first), switch token storage on for `connectorName`, save.
  async enable(page, context) {
    await page.goto(`${config.base}/console/connectors`);
    expect(page.url().endsWith('/console/sign-in'), `without a session the console sent the browser to ${page.url()}`);
    await heading(page, 'Sign in to the console');
    await accessible(page, 'sign-in page');
    await page.getByLabel('Username').fill(config.username);
    await page.getByLabel('Password').fill(`${config.password}-wrong`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Wrong username or password.' }).waitFor({ timeout: 5000 });
    await accessible(page, 'sign-in page with an error');
    await page.getByLabel('Password').fill(config.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL('**/console/users');
    checks.push('signed in');

    await page.getByRole('link', { name: 'Connectors' }).click();
    await heading(page, 'Connectors');
    await accessible(page, 'connectors');
    await page.getByRole('link', { name: config.connectorName, exact: true }).click();
    const storage = page.getByLabel('Store tokens for persistent API access');
    expect(!(await storage.isChecked()), 'token storage was already on');
    await accessible(page, 'connector settings');
    await storage.check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL('**saved=1');
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor({ timeout: 5000 });
    expect(await page.getByLabel('Store tokens for persistent API access').isChecked(), 'the switch did not stay on');
    checks.push('token storage switched on');
    await context.storageState({ path: config.state });
  },

  // Find `user` by search, see its connection Active with its metadata, delete the tokens,
  // see Inactive; then the other `cases`; then phone width.
  async inspect(page, context) {
    await page.goto(`${config.base}/console/users`);
    await heading(page, 'Users');
    await page.getByLabel('Search users').fill(config.search);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL('**search=**');
    await accessible(page, 'user search');
    await page.getByRole('link', { name: config.userName, exact: true }).click();
    await heading(page, config.userName);
    await accessible(page, 'user detail');
    expect((await label(page, config.connectorName)) === 'Active', `label ${await label(page, config.connectorName)}, not Active`);
    checks.push('Active');

    await page.getByRole('link', { name: config.connectorName, exact: true }).click();
    await heading(page, new RegExp(config.connectorName));
    await accessible(page, 'connection detail');
    await noPlanted(page, 'connection detail');
    const refresh = await fact(page, 'Refresh token');
    expect(refresh === 'Available', `Refresh token: ${refresh}`);
    const scope = await fact(page, 'Scope');
    expect(scope.split(' ').includes('openid'), `Scope: ${scope}`);
    const type = await fact(page, 'Token type');
    expect(type.toLowerCase() === 'bearer', `Token type: ${type}`);
    for (const name of ['Created', 'Updated', 'Expires', 'Last refresh', 'Last refresh error']) {
      expect((await fact(page, name)).length > 0, `no ${name}`);
    }
    checks.push('metadata shown');

    await page.getByRole('link', { name: 'Delete tokens' }).click();
    await heading(page, /^Delete the/);
    await accessible(page, 'delete confirmation');
    await page.getByRole('button', { name: 'Delete tokens' }).click();
    await page.waitForURL('**deleted=1');
    await page.getByRole('status').filter({ hasText: 'The tokens were deleted' }).waitFor({ timeout: 5000 });
    const after = (await page.locator('h1 .status').innerText()).trim();
    expect(after === 'Inactive', `after deleting: ${after}`);
    expect((await page.getByRole('link', { name: 'Delete tokens' }).count()) === 0, 'Delete tokens still offered');
    await page.getByRole('link', { name: config.userName, exact: true }).click();
    expect((await label(page, config.connectorName)) === 'Inactive', 'the user page does not read Inactive');
    checks.push('deleted: Inactive');

    for (const c of config.cases) {
      await page.goto(`${config.base}/console/users/${encodeURIComponent(c.userId)}`);
      const seen = await label(page, c.connector);
      expect(seen === c.label, `${c.userId} at ${c.connector}: ${seen}, not ${c.label}`);
      await page.getByRole('link', { name: c.connector, exact: true }).click();
      await noPlanted(page, `${c.connector} connection`);
      if (c.refresh) {
        const text = await fact(page, 'Refresh token');
        expect(text.startsWith(c.refresh), `${c.connector}: Refresh token ${text}`);
      }
      if (c.note) {
        expect((await page.content()).includes(c.note), `${c.connector}: no "${c.note}"`);
      }
      checks.push(`${c.connector}: ${c.label}`);
    }

    await page.setViewportSize({ width: 375, height: 812 });
    for (const path of ['/console/users', `/console/users/${encodeURIComponent(config.userId)}`, '/console/connectors', '/console/applications', '/console/audit', ...(config.extraPaths ?? [])]) {
      await page.goto(`${config.base}${path}`);
      await fitsWidth(page, path);
      await accessible(page, `${path} at phone width`);
    }
  },
};

const browser = await chromium.launch({
  executablePath: config.chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--no-first-run'],
});
// axe-core is injected as a script: the console's policy allows none, so the test context bypasses it.
const context = await browser.newContext({
  bypassCSP: true,
  viewport: { width: 1280, height: 900 },
  ...(config.step !== 'enable' ? { storageState: config.state } : {}),
});
const page = await context.newPage();
page.setDefaultTimeout(10000);
let failed = false;
try {
  await steps[config.step](page, context);
  console.log(JSON.stringify({ ok: true, step: config.step, checks }));
} catch (error) {
  failed = true;
  const shot = join(config.shots, `console-${config.step}-failure.png`);
  await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
  console.error(`step ${config.step} failed on ${page.url()}: ${error.stack ?? error}`);
  console.error(`screenshot of that screen: ${shot}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
