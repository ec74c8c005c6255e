// Starting the real spur-server binary and Debian's Chromium for a test.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
export const BIN = process.env.SPUR_SERVER_BIN || join(root, 'target/debug/spur-server');
export const ARTIFACTS = process.env.SPUR_E2E_ARTIFACTS || join(root, 'target/e2e-artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

export const ADMIN = { email: 'admin@shop.example', password: 'admin-password-1' };

function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

// SPUR_E2E_DATABASE=postgres runs the same pages on a fresh PostgreSQL
// database per server (on SPUR_TEST_POSTGRES_URL's server), dropped after.
const PG = process.env.SPUR_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
function psql(sql) {
  const run = spawnSync('psql', [PG, '-v', 'ON_ERROR_STOP=1', '-qc', sql], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`psql: ${run.stderr || run.error}`);
}
function database(dir) {
  if (process.env.SPUR_E2E_DATABASE !== 'postgres') return { url: `sqlite://${join(dir, 'spur.db')}`, drop() {} };
  const name = `spur_e2e_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  psql(`CREATE DATABASE ${name}`);
  const url = new URL(PG);
  url.pathname = '/' + name;
  return { url: url.toString(), drop: () => psql(`DROP DATABASE ${name} WITH (FORCE)`) };
}

/** A fresh server on a free port with its own database (a SQLite file by
 * default) and the admin seeded. */
export async function startServer(extraEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'spur-e2e-'));
  const db = database(dir);
  const port = await freePort();
  const env = {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: db.url,
    FILES_DIR: join(dir, 'files'),
    JWT_SECRET: 'an-e2e-secret-of-at-least-32-characters',
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    RUST_LOG: 'warn',
    ...extraEnv,
  };
  const seeded = spawnSync(BIN, ['seed'], { env, encoding: 'utf8' });
  if (seeded.status !== 0) throw new Error(`seed failed: ${seeded.stderr}`);
  const child = spawn(BIN, ['serve'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(base + '/readyz')).ok) break;
    } catch (_) { /* not listening yet */ }
    if (i > 200 || child.exitCode !== null) throw new Error('spur-server did not become ready');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    base,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      db.drop();
    },
  };
}

/** JSON API calls with an optional bearer token. */
export async function api(base, path, { token, method = 'GET', body } = {}) {
  const res = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export async function login(base, email, password) {
  const { status, body } = await api(base, '/v1/auth/login', { method: 'POST', body: { email, password } });
  if (status !== 200) throw new Error(`login ${status}: ${JSON.stringify(body)}`);
  return body.token;
}

/** Headless Chromium with the flags this closed network needs. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export function shot(page, name) {
  return page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** A new page signed in to the console at `path` (`/admin` or `/agent`). */
export async function signedIn(browser, base, path, { email, password }) {
  const page = await (await browser.newContext()).newPage();
  await page.goto(base + path);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  return page;
}
