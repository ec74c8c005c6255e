// The admins' Analytics page in a real browser: the figures of
// /v1/admin/analytics as cards and uPlot charts, filters, the CSV export.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { after, before, test } from 'node:test';

import { ADMIN, BIN, api, launchBrowser, login, shot, signedIn, startServer } from './support.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({ LLM_PRICE_INPUT_PER_MTOK: '0.15', LLM_PRICE_OUTPUT_PER_MTOK: '0.6',
    RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_SESSION: '0', RATE_LIMIT_PER_IP_DAY: '0' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const say = async (message, sessionId) => (await api(server.base, '/v1/chat/message', { method: 'POST', body: { message, sessionId } })).body;

test('admins read resolution, handoffs, feedback and satisfaction as cards and charts, and export the days as CSV', async () => {
  const admin = await login(server.base, ADMIN.email, ADMIN.password);
  const totals = async () => (await api(server.base, '/v1/admin/analytics', { token: admin })).body.totals;
  const seeded = (await totals()).conversations; // the seed's demo conversation
  // Four customers: two answered (one rates it helpful and scores 5), one
  // asks what the shop does not know, one asks for a person.
  const pleased = await say('Do you ship to India?');
  assert.equal((await api(server.base, '/v1/chat/feedback', { method: 'POST',
    body: { sessionId: pleased.sessionId, messageId: pleased.replyId, rating: 'up' } })).status, 204);
  assert.equal((await api(server.base, '/v1/chat/csat', { method: 'POST',
    body: { sessionId: pleased.sessionId, score: 5 } })).status, 204);
  const other = await say('What is your return policy?');
  assert.equal((await api(server.base, '/v1/chat/feedback', { method: 'POST',
    body: { sessionId: other.sessionId, messageId: other.replyId, rating: 'down', comment: 'Too short' } })).status, 204);
  await say('Do you sell gift cards for the spring festival?');
  await say('I want to talk to a human');

  const t = await totals();
  assert.equal(t.conversations, seeded + 4);
  assert.ok(t.handoffs >= 1, 'the customer who asked for a person');
  const errors = [];
  const page = await signedIn(browser, server.base, '/admin', ADMIN);
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.getByRole('tab', { name: 'Analytics' }).click();
  const cards = page.locator('#an-cards');
  await cards.locator('.card', { hasText: /^Conversations/ }).waitFor();
  assert.match(await cards.locator('.card', { hasText: /^Conversations/ }).innerText(), new RegExp(`^Conversations\\s+${t.conversations}\\b`));
  assert.match(await cards.locator('.card', { hasText: /^Handed to a person/ }).innerText(), new RegExp(`${(t.handoffRate * 100).toFixed(1)}%`));
  assert.match(await cards.locator('.card', { hasText: 'Helpful?' }).innerText(), /1 yes · 1 no/);
  assert.match(await cards.locator('.card', { hasText: 'Satisfaction' }).innerText(), /5\.00 \/ 5/);
  assert.match(await cards.locator('.card', { hasText: /^Cost/ }).innerText(), /\$/);
  assert.match(await page.locator('#an-zone').innerText(), /Asia\/Kolkata/);
  // Five charts drawn, the reasons and the unanswered question listed.
  await page.waitForFunction(() => document.querySelectorAll('#analytics-pane .uplot canvas').length === 5);
  await page.locator('#an-reasons tr').first().waitFor();
  await page.locator('#an-unanswered li', { hasText: /gift cards/ }).waitFor();
  await shot(page, 'admin-analytics');

  // Another channel: nothing there.
  await page.getByLabel('Channel').selectOption('email');
  await page.waitForFunction(() => /^Conversations\s+0\s/.test(document.querySelector('#an-cards .card').innerText));

  // The CSV: a header and a line per day of the period.
  await page.getByLabel('Channel').selectOption('');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
  assert.match(download.suggestedFilename(), /^spur-analytics-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv$/);
  const lines = readFileSync(await download.path(), 'utf8').trim().split('\n');
  assert.match(lines[0], /^day,conversations,settled,automated_resolutions/);
  assert.equal(lines.length, 31, 'the last 30 days');
  assert.equal(lines.slice(1).reduce((n, l) => n + Number(l.split(',')[1]), 0), t.conversations);
  assert.deepEqual(errors, []);
});

test('a spent budget shows as a banner to admins and a line on the cost chart', async () => {
  const bin = resolve(dirname(BIN), 'spur-fake-llm');
  const llm = spawn(bin, ['0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const base = await new Promise((ok, fail) => {
    llm.stdout.once('data', (d) => ok(String(d).trim()));
    llm.once('exit', (code) => fail(new Error(`spur-fake-llm exited (${code})`)));
  });
  // 42 prompt tokens a call at $10,000 per million: three calls spend the dollar.
  const shop = await startServer({ OPENAI_BASE_URL: base, OPENAI_API_KEY: 'sk-e2e', OPENAI_MODEL: 'good',
    LLM_PRICE_INPUT_PER_MTOK: '10000', LLM_PRICE_OUTPUT_PER_MTOK: '10000', LLM_BUDGET_DAILY_USD: '1',
    RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_SESSION: '0', RATE_LIMIT_PER_IP_DAY: '0' });
  try {
    for (let i = 0; i < 5; i++) {
      const r = await api(shop.base, '/v1/chat/message', { method: 'POST', body: { message: 'Do you ship to India?' } });
      assert.equal(r.status, 200);
    }
    const page = await signedIn(browser, shop.base, '/admin', ADMIN);
    const banner = page.locator('#budget-banner');
    await banner.waitFor();
    assert.match(await banner.innerText(), /budget for today is spent \(\$\d+\.\d\d of \$1\.00\): the offline responder answers/);
    await page.getByRole('tab', { name: 'Analytics' }).click();
    await page.locator('#chart-cost .u-legend', { hasText: 'Daily budget' }).waitFor();
    await shot(page, 'admin-budget-spent');
  } finally {
    await shop.stop();
    llm.kill();
  }
});
