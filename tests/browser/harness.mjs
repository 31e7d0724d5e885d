// What the browser tests share: a real parley (PARLEY_BINARY, started on a free
// loopback port with a fresh data dir and the demo catalogue), Debian's Chromium
// (CHROMIUM) driven by playwright-core, users signed up through the page itself,
// axe-core checks and screenshots (written to PARLEY_BROWSER_ARTIFACTS). The npm
// packages come from PARLEY_BROWSER_TOOLS, where tests/browser/run installs them.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const here = dirname(fileURLToPath(import.meta.url));
const source = resolve(here, '../..');
export const binary = process.env.PARLEY_BINARY || join(source, 'build/test/parley');
export const artifacts = process.env.PARLEY_BROWSER_ARTIFACTS || join(source, 'build/test/browser-artifacts');
const tools = process.env.PARLEY_BROWSER_TOOLS || join(source, 'build/test/tools/browser');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const require = createRequire(join(tools, 'package.json'));
const { chromium } = require('playwright-core');
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

// Starts parley; resolves to {url, stop(), dataDir}. extra: more flags.
export async function startParley(extra = []) {
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-browser-'));
  const common = ['--data-dir', dataDir];
  const imported = spawnSync(binary, ['import-contents', join(source, 'configs/demo-contents.jsonl'), ...common]);
  assert.equal(imported.status, 0, `import-contents failed: ${imported.stderr}`);
  const child = spawn(binary, ['--listen', '127.0.0.1:0', ...common,
    '--password-hash-ops', '1', '--password-hash-mem-kib', '8',
    '--signup-limit-addr', '1000000', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(join(dataDir, 'server.log'));
  child.stdout.pipe(log);
  const port = await new Promise((ok, fail) => {
    let text = '';
    const timer = setTimeout(() => fail(new Error(`parley did not start:\n${text}`)), 10000);
    child.stderr.on('data', (chunk) => {
      log.write(chunk);
      text += chunk;
      const m = /listening on [^\s]*:(\d+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        ok(Number(m[1]));
      }
    });
    child.on('exit', (code) => fail(new Error(`parley exited ${code}:\n${text}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    dataDir,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((ok) => child.on('exit', ok));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath,
    // Playwright gives each launch a fresh --user-data-dir of its own.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

let serial = 0;

// A new browser context with a user signed up through the page. Resolves to
// {context, page, username, name, errors} (errors: console errors and page errors).
export async function newUser(browser, url, name, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport, baseURL: url });
  context.setDefaultTimeout(10000);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  const username = `${name.toLowerCase().replace(/[^a-z0-9_]/g, '')}_${process.pid % 10000}_${serial++}`;
  await page.goto('/');
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Display name').fill(name);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Rooms' }).waitFor();
  const me = await page.evaluate(() => fetch('/api/me').then((r) => r.json()));
  return { context, page, username, name, id: me.id, errors };
}

// Runs axe-core on the page: no serious or critical violation.
export async function checkA11y(page, view) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), [],
    `axe found serious or critical violations in the ${view} view`);
}

// Screenshots the page at 375 and 1280 px wide as <name>-375.png, <name>-1280.png.
export async function screenshots(page, name) {
  mkdirSync(artifacts, { recursive: true });
  const original = page.viewportSize();
  for (const width of [375, 1280]) {
    await page.setViewportSize({ width, height: width === 375 ? 740 : 800 });
    await page.screenshot({ path: join(artifacts, `${name}-${width}.png`) });
  }
  await page.setViewportSize(original);
}

// The messages the room view shows, as text.
export async function messageTexts(page) {
  return page.locator('.messages .msg-text').allTextContents();
}

export { assert };
