// The widget as a web developer embeds it: one script tag on a page served
// from another origin, against the real server (CORS configured).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { ADMIN, BIN, api, launchBrowser, login, shot, signedIn, startServer } from './support.mjs';

const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '../../spur-wasm/dist');
let server;
let browser;
let page; // the host page's server
let hostOrigin;

function hostPage(serverBase) {
  return `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>A shop</title>
<style>
  /* A hostile page: none of this may reach the widget. */
  * { font-size: 40px !important; color: red !important; background: yellow !important; }
  button, textarea { display: none !important; }
</style></head>
<body><h1>Welcome to the shop</h1>
<script type="module" src="${serverBase}/widget/spur-widget.js" data-server="${serverBase}"
  data-title="Shop help" data-greeting="Hi! Ask us anything." data-avatar="data:image/gif;base64,R0lGODlhAQABAAAAACw="></script>
</body></html>`;
}

before(async () => {
  page = createServer();
  await new Promise((ok) => page.listen(0, '127.0.0.1', ok));
  hostOrigin = `http://127.0.0.1:${page.address().port}`;
  server = await startServer({
    CORS_ORIGINS: hostOrigin, SPUR_WIDGET_DIR: DIST, SHOW_SOURCES: 'true',
    RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_SESSION: '0', RATE_LIMIT_PER_IP_DAY: '0',
  });
  page.on('request', (req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(hostPage(server.base));
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  page?.close();
});

const widget = (p) => p.locator('.spur-widget');

test('one script tag: chat, reload, a person answers live, hostile CSS changes nothing', async () => {
  const context = await browser.newContext();
  const customer = await context.newPage();
  await customer.goto(hostOrigin + '/');
  const launcher = widget(customer).getByRole('button', { name: 'Open chat' });
  await launcher.click();
  await widget(customer).getByText('Hi! Ask us anything.').waitFor();
  const box = widget(customer).getByLabel('Message');
  await box.fill('Do you ship to India?');
  await box.press('Enter');
  const reply = widget(customer).locator('.msg[data-sender=assistant]');
  await reply.waitFor();
  await customer.waitForFunction(() => {
    const root = document.querySelector('.spur-widget').shadowRoot;
    const r = root.querySelector('.msg[data-sender=assistant]');
    return r && r.dataset.id && /India/.test(r.textContent);
  });
  // The operator shows sources: the answer names the section it came from.
  await widget(customer).locator('.msg[data-sender=assistant] .source', { hasText: /^Source: / }).waitFor();

  // The team's picture from data-avatar.
  assert.match(await widget(customer).locator('header img.avatar').getAttribute('src'), /^data:image\/gif/);
  // The page's CSS does not reach inside.
  const style = await box.evaluate((node) => {
    const s = getComputedStyle(node);
    return { display: s.display, fontSize: s.fontSize, color: s.color };
  });
  assert.notEqual(style.display, 'none');
  assert.equal(style.fontSize, '15px');
  assert.notEqual(style.color, 'rgb(255, 0, 0)');
  await shot(customer, 'widget-on-hostile-page');

  // Reload: the same conversation comes back.
  await customer.reload();
  await widget(customer).getByRole('button', { name: 'Open chat' }).click();
  await widget(customer).locator('.msg[data-sender=customer]', { hasText: 'Do you ship to India?' }).waitFor();
  assert.equal(await widget(customer).locator('.msg[data-sender=assistant]').count(), 1);

  // Ask for a person; an agent answers through the agent API; it shows live.
  await widget(customer).getByRole('button', { name: 'Talk to a person' }).click();
  // In support hours or not (this runs at any time of day): either notice.
  await widget(customer).locator('.msg[data-sender=system]', { hasText: /connecting you|passing your conversation/ }).waitFor();
  // Already waiting: the button is gone.
  await widget(customer).getByRole('button', { name: 'Talk to a person' }).waitFor({ state: 'hidden' });
  const admin = await login(server.base, ADMIN.email, ADMIN.password);
  const inbox = await api(server.base, '/v1/agent/conversations?status=agent', { token: admin });
  const id = inbox.body.conversations[0].id;
  assert.equal((await api(server.base, `/v1/agent/conversations/${id}/claim`, { token: admin, method: 'POST' })).status, 200);
  const sent = await api(server.base, `/v1/agent/conversations/${id}/reply`, { token: admin, method: 'POST', body: { text: 'Hello, Sam from support here.' } });
  assert.equal(sent.status, 200);
  await widget(customer).locator('.msg[data-sender=agent]', { hasText: 'Sam from support' }).waitFor({ timeout: 5000 });
  // Signed with the agent's name (the seeded admin is "Admin"), never their id.
  assert.match(await widget(customer).locator('.msg[data-sender=agent] time').first().textContent(), /^Admin · /);
  await widget(customer).getByText('You are chatting with a person').waitFor();

  // The network drops and comes back: the feed resumes, nothing twice.
  await context.setOffline(true);
  await api(server.base, `/v1/agent/conversations/${id}/reply`, { token: admin, method: 'POST', body: { text: 'Are you still there?' } });
  await context.setOffline(false);
  await widget(customer).locator('.msg[data-sender=agent]', { hasText: 'still there' }).waitFor({ timeout: 15000 });
  const ids = await widget(customer).locator('.msg[data-id]').evaluateAll((nodes) => nodes.map((n) => n.dataset.id));
  assert.equal(new Set(ids).size, ids.length, 'no message shown twice');
  await shot(customer, 'widget-with-agent');

  // Replies in safe Markdown: bold, links, lists; markup stays text.
  await api(server.base, `/v1/agent/conversations/${id}/reply`, { token: admin, method: 'POST', body: {
    text: '**Good news**: see [our returns page](https://shop.example/returns).\n\n- free labels\n- 30 days\n\n<img src=x onerror="window.pwned=1">' } });
  const rich = widget(customer).locator('.msg[data-sender=agent]', { hasText: 'Good news' });
  await rich.waitFor();
  assert.equal(await rich.locator('strong').textContent(), 'Good news');
  assert.equal(await rich.locator('a').getAttribute('href'), 'https://shop.example/returns');
  assert.equal(await rich.locator('a').getAttribute('rel'), 'noopener noreferrer');
  assert.deepEqual(await rich.locator('li').allTextContents(), ['free labels', '30 days']);
  assert.equal(await rich.locator('img').count(), 0);
  assert.match(await rich.textContent(), /<img src=x/);
  assert.equal(await customer.evaluate(() => window.pwned), undefined);

  // A reply while the chat is closed: a count on the launcher and in the title.
  const title = await customer.title();
  await widget(customer).getByRole('button', { name: 'Close chat' }).first().click();
  await api(server.base, `/v1/agent/conversations/${id}/reply`, { token: admin, method: 'POST', body: { text: 'One more thing.' } });
  await widget(customer).locator('.unread', { hasText: '1' }).waitFor();
  assert.equal(await customer.title(), `(1) ${title}`);
  await widget(customer).getByRole('button', { name: 'Open chat, 1 unread' }).click();
  await widget(customer).locator('.msg[data-sender=agent]', { hasText: 'One more thing.' }).waitFor();
  assert.equal(await customer.title(), title);
  assert.equal(await widget(customer).locator('.unread').isHidden(), true);

  // Closed by the agent: the customer is told.
  assert.equal((await api(server.base, `/v1/agent/conversations/${id}/close`, { token: admin, method: 'POST' })).status, 200);
  await widget(customer).getByText('This conversation is closed').waitFor();
  await shot(customer, 'widget-closed');
});

test('feedback: a thumbs up or down on each answer, a score from 1 to 5 when the conversation closes', async () => {
  const context = await browser.newContext();
  try {
    const customer = await context.newPage();
    await customer.goto(hostOrigin + '/');
    await widget(customer).getByRole('button', { name: 'Open chat' }).click();
    // The greeting is no answer: nothing to rate.
    await widget(customer).getByText('Hi! Ask us anything.').waitFor();
    assert.equal(await widget(customer).locator('.msg[data-sender=greeting] .rate').count(), 0);
    await widget(customer).getByLabel('Message').fill('Do you ship to India?');
    await widget(customer).getByLabel('Message').press('Enter');
    const answer = widget(customer).locator('.msg[data-sender=assistant]', { hasText: 'India' });
    await answer.waitFor();
    const up = answer.getByRole('button', { name: 'Helpful', exact: true });
    const down = answer.getByRole('button', { name: 'Not helpful' });
    await up.click();
    await customer.waitForFunction(() => document.querySelector('.spur-widget').shadowRoot
      .querySelector('.msg[data-sender=assistant] .rate button[aria-pressed=true]')?.dataset.rating === 'up');
    // Changed to a thumbs down: one rating, the newest.
    await down.click();
    await customer.waitForFunction(() => document.querySelector('.spur-widget').shadowRoot
      .querySelector('.msg[data-sender=assistant] .rate button[aria-pressed=true]')?.dataset.rating === 'down');
    assert.equal(await up.getAttribute('aria-pressed'), 'false');
    await shot(customer, 'widget-rated');

    const admin = await login(server.base, ADMIN.email, ADMIN.password);
    const before = (await api(server.base, '/v1/admin/analytics', { token: admin })).body.totals;
    assert.deepEqual(before.feedback.bot, { up: 0, down: 1 }, 'the changed rating counts once, as a thumbs down');
    // An agent steps in, answers and closes: the customer is asked for a score.
    const inbox = await api(server.base, '/v1/agent/conversations', { token: admin });
    const id = inbox.body.conversations.find((c) => c.preview && /India/.test(c.preview)).id;
    assert.equal((await api(server.base, `/v1/agent/conversations/${id}/claim`, { token: admin, method: 'POST' })).status, 200);
    await api(server.base, `/v1/agent/conversations/${id}/reply`, { token: admin, method: 'POST', body: { text: 'Yes, in 5 days.' } });
    await widget(customer).locator('.msg[data-sender=agent]', { hasText: '5 days' }).waitFor();
    assert.equal((await api(server.base, `/v1/agent/conversations/${id}/close`, { token: admin, method: 'POST' })).status, 200);
    await widget(customer).getByText('How did we do?').waitFor();
    await shot(customer, 'widget-csat');
    await widget(customer).getByRole('button', { name: '5 of 5' }).click();
    await widget(customer).getByText('Thank you for your feedback!').waitFor();

    const after = (await api(server.base, '/v1/admin/analytics', { token: admin })).body.totals;
    assert.equal(after.csat.count, before.csat.count + 1);
    assert.equal(after.csat.human.count, before.csat.human.count + 1, 'a person answered: the score is theirs');
  } finally {
    await context.close();
  }
});

test('keyboard only: open, type, send, close with Escape', async () => {
  const customer = await (await browser.newContext()).newPage();
  await customer.goto(hostOrigin + '/');
  await widget(customer).getByRole('button', { name: 'Open chat' }).waitFor();
  await customer.keyboard.press('Tab');
  await customer.keyboard.press('Enter');
  const box = widget(customer).getByLabel('Message');
  await box.waitFor();
  await customer.keyboard.type('What is your return policy?');
  await customer.keyboard.press('Shift+Enter');
  await customer.keyboard.type('Thanks');
  assert.equal(await box.inputValue(), 'What is your return policy?\nThanks', 'Shift+Enter adds a line');
  await customer.keyboard.press('Enter');
  await widget(customer).locator('.msg[data-sender=assistant]', { hasText: '14 days' }).waitFor();
  await customer.keyboard.press('Escape');
  await widget(customer).getByRole('dialog').waitFor({ state: 'hidden' });
  assert.equal(await widget(customer).getByRole('button', { name: 'Open chat' }).evaluate((b) => b.matches(':focus')), true);
});

test("the server's own demo page uses the widget", async () => {
  const customer = await (await browser.newContext()).newPage();
  await customer.goto(server.base + '/');
  await widget(customer).getByRole('button', { name: 'Open chat' }).click();
  await widget(customer).getByText('Ask me about shipping').waitFor();
  // Who answers and when (the demo's hours), and the suggested questions.
  await widget(customer).locator('header p', { hasText: /We're here|Back / }).waitFor();
  await widget(customer).getByRole('button', { name: 'What is your return policy?' }).click();
  await widget(customer).locator('.msg[data-sender=assistant]', { hasText: '14 days' }).waitFor();
  assert.equal(await widget(customer).locator('.suggestions').count(), 0, 'gone once the chat started');
  const box = widget(customer).getByLabel('Message');
  await box.fill('How long does delivery take?');
  await widget(customer).getByRole('button', { name: 'Send' }).click();
  await widget(customer).locator('.msg[data-sender=assistant]', { hasText: 'business days' }).waitFor();
  await shot(customer, 'widget-demo-page');
});

test('older messages load on scroll up, keeping the view in place', async () => {
  const context = await browser.newContext();
  const customer = await context.newPage();
  await customer.goto(hostOrigin + '/');
  // 20 turns through the API: 40 messages, more than the first page of 30.
  const topics = ['Do you ship to India?', 'How long does delivery take?', 'What is your return policy?'];
  let session;
  for (let i = 0; i < 20; i++) {
    const r = await api(server.base, '/v1/chat/message', { method: 'POST', body: { message: topics[i % 3], sessionId: session } });
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'automated', JSON.stringify(r.body));
    session = r.body.sessionId;
  }
  const history = await api(server.base, `/v1/chat/history/${session}?limit=50`);
  const ids = history.body.messages.map((m) => m.id);
  assert.equal(ids.length, 40);
  await customer.evaluate(([key, value]) => localStorage.setItem(key, value), [`spur.session:${server.base}`, session]);
  await customer.reload();
  await widget(customer).getByRole('button', { name: 'Open chat' }).click();
  await widget(customer).locator(`.msg[data-id="${ids[39]}"]`).waitFor();
  assert.equal(await widget(customer).locator('.msg[data-id]').count(), 30, 'the newest page first');
  // Scroll to the top; note where the oldest shown message (seq 11) is then.
  const where = (id) => customer.evaluate((id) => {
    const root = document.querySelector('.spur-widget').shadowRoot;
    return root.querySelector(`.msg[data-id="${id}"]`).getBoundingClientRect().y;
  }, id);
  const top = await customer.evaluate((id) => {
    const root = document.querySelector('.spur-widget').shadowRoot;
    root.querySelector('[role=log]').scrollTop = 0;
    return root.querySelector(`.msg[data-id="${id}"]`).getBoundingClientRect().y;
  }, ids[10]);
  await widget(customer).locator(`.msg[data-id="${ids[0]}"]`).waitFor();
  assert.equal(await widget(customer).locator('.msg[data-id]').count(), 40);
  const order = await widget(customer).locator('.msg[data-id]').evaluateAll((nodes) => nodes.map((n) => n.dataset.id));
  assert.deepEqual(order, ids, 'oldest first, each once');
  assert.ok(Math.abs((await where(ids[10])) - top) < 2, 'what the reader was looking at stays in place');
});

test('a send whose answer is lost is tried again by itself with the same key: stored once, nothing to click', async () => {
  const customer = await (await browser.newContext()).newPage();
  await customer.goto(hostOrigin + '/');
  await widget(customer).getByRole('button', { name: 'Open chat' }).click();
  // The server gets the first attempt and answers; the browser never sees it.
  let attempts = 0;
  await customer.route('**/v1/chat/stream', async (route) => {
    attempts += 1;
    if (attempts > 1) return route.continue();
    await route.fetch();
    await route.abort('connectionreset');
  });
  const box = widget(customer).getByLabel('Message');
  await box.fill('What is your return policy?');
  await box.press('Enter');
  await widget(customer).locator('.msg[data-sender=assistant]', { hasText: '14 days' }).waitFor();
  assert.equal(attempts, 2);
  assert.equal(await widget(customer).getByRole('alert').count(), 0, 'no error was shown');
  const session = await customer.evaluate((key) => localStorage.getItem(key), `spur.session:${server.base}`);
  const history = await api(server.base, `/v1/chat/history/${session}`);
  const mine = history.body.messages.filter((m) => m.sender === 'customer');
  assert.equal(mine.length, 1, 'the retry did not store the message again');
  assert.equal(await widget(customer).locator('.msg[data-sender=customer]').count(), 1);
});

test('a balancer answering 503 past the automatic retries: the customer is asked, and Retry sends the same key', async () => {
  const customer = await (await browser.newContext()).newPage();
  await customer.goto(hostOrigin + '/');
  await widget(customer).getByRole('button', { name: 'Open chat' }).click();
  // Four 503s as HAProxy sends them (HTML) while no instance answers: the
  // first send and its three retries.
  const keys = [];
  await customer.route('**/v1/chat/stream', async (route) => {
    keys.push(JSON.parse(route.request().postData()).idempotencyKey);
    if (keys.length > 4) return route.continue();
    await route.fulfill({ status: 503, contentType: 'text/html', body: '<html><body><h1>503 Service Unavailable</h1></body></html>' });
  });
  const box = widget(customer).getByLabel('Message');
  await box.fill('What is your return policy?');
  await box.press('Enter');
  const retry = widget(customer).getByRole('button', { name: 'Retry' });
  await retry.waitFor();
  assert.equal(keys.length, 4, 'tried four times before asking');
  await retry.click();
  await widget(customer).locator('.msg[data-sender=assistant]', { hasText: '14 days' }).waitFor();
  assert.equal(new Set(keys).size, 1, `one key for every attempt: ${keys}`);
  const session = await customer.evaluate((key) => localStorage.getItem(key), `spur.session:${server.base}`);
  const history = await api(server.base, `/v1/chat/history/${session}`);
  assert.equal(history.body.messages.filter((m) => m.sender === 'customer').length, 1);
});

test('on a phone the chat takes the whole screen', async () => {
  const phone = await (await browser.newContext({ viewport: { width: 375, height: 700 }, isMobile: true, hasTouch: true })).newPage();
  await phone.goto(hostOrigin + '/');
  await widget(phone).getByRole('button', { name: 'Open chat' }).click();
  const panel = await widget(phone).getByRole('dialog').boundingBox();
  assert.deepEqual([panel.x, panel.y, panel.width, panel.height], [0, 0, 375, 700]);
  await widget(phone).getByLabel('Message').waitFor();
  await shot(phone, 'widget-on-a-phone');
});

test('without CORS_ORIGINS the widget works on any site; a refused site is told why in the console', async () => {
  const open = await startServer({ SPUR_WIDGET_DIR: DIST, RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_SESSION: '0', RATE_LIMIT_PER_IP_DAY: '0' });
  const closed = await startServer({ SPUR_WIDGET_DIR: DIST, CORS_ORIGINS: 'https://only-this-shop.example' });
  const site = createServer((req, res) => {
    const base = req.url.startsWith('/closed') ? closed.base : open.base;
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(hostPage(base));
  });
  await new Promise((ok) => site.listen(0, '127.0.0.1', ok));
  const origin = `http://127.0.0.1:${site.address().port}`;
  const context = await browser.newContext();
  try {
    const customer = await context.newPage();
    const warnings = [];
    customer.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
    await customer.goto(origin + '/open');
    await widget(customer).getByRole('button', { name: 'Open chat' }).click();
    await widget(customer).getByLabel('Message').fill('Do you ship to India?');
    await widget(customer).getByLabel('Message').press('Enter');
    await customer.waitForFunction(() => {
      const r = document.querySelector('.spur-widget').shadowRoot.querySelector('.msg[data-sender=assistant]');
      return r && /India/.test(r.textContent);
    });
    assert.deepEqual(warnings, []);

    await customer.goto(origin + '/closed');
    await widget(customer).getByRole('button', { name: 'Open chat' }).click();
    await widget(customer).getByLabel('Message').fill('hello');
    await widget(customer).getByLabel('Message').press('Enter');
    await widget(customer).locator('.error').waitFor();
    const told = warnings.filter((w) => w.startsWith('Spur:'));
    assert.equal(told.length, 1, warnings.join('\n'));
    assert.match(told[0], /CORS_ORIGINS/);
    assert.ok(told[0].includes(origin), told[0]);
    await shot(customer, 'widget-refused-origin');
  } finally {
    await context.close();
    site.close();
    await open.stop();
    await closed.stop();
  }
});

test('on the wire: compressed, the wasm only when the chat opens, a repeat visit revalidates', async () => {
  const context = await browser.newContext();
  const customer = await context.newPage();
  const fetched = [];
  customer.on('requestfinished', async (request) => {
    if (!request.url().startsWith(server.base + '/widget/')) return;
    const response = await request.response();
    const sizes = await request.sizes();
    fetched.push({
      file: request.url().slice(server.base.length + '/widget/'.length),
      status: response.status(),
      encoding: (await response.allHeaders())['content-encoding'] || '',
      body: sizes.responseBodySize,
      bytes: sizes.responseBodySize + sizes.responseHeadersSize,
    });
  });
  const total = (list) => list.reduce((sum, f) => sum + f.bytes, 0);
  try {
    await customer.goto(hostOrigin + '/');
    await widget(customer).getByRole('button', { name: 'Open chat' }).waitFor();
    await customer.waitForLoadState('networkidle');
    const firstVisit = [...fetched];
    assert.deepEqual(firstVisit.map((f) => f.file).sort(), ['spur-widget.js', 'spur_wasm.js']);
    for (const f of firstVisit) assert.equal(f.encoding, 'br', f.file);

    fetched.length = 0;
    await widget(customer).getByRole('button', { name: 'Open chat' }).click();
    await widget(customer).getByText('Hi! Ask us anything.').waitFor();
    await customer.waitForLoadState('networkidle');
    await customer.waitForFunction(() => performance.getEntriesByType('resource').some((r) => r.name.endsWith('.wasm')));
    const firstOpen = [...fetched];
    assert.deepEqual(firstOpen.map((f) => f.file), ['spur_wasm_bg.wasm']);
    assert.equal(firstOpen[0].encoding, 'br');

    fetched.length = 0;
    await customer.reload();
    await widget(customer).getByRole('button', { name: 'Open chat' }).click();
    await widget(customer).getByText('Hi! Ask us anything.').waitFor();
    await customer.waitForLoadState('networkidle');
    const repeat = [...fetched];
    // Revalidated (a script's 304 shows as such; fetch() reports the
    // cached 200): only headers cross the wire.
    assert.equal(repeat.length, 3);
    for (const f of repeat) assert.equal(f.body, 0, `${f.file} revalidated, not sent again`);
    console.log(`widget on the wire: first visit ${total(firstVisit)} B, first open +${total(firstOpen)} B, `
      + `repeat visit ${total(repeat)} B (${repeat.length} revalidations)`);
  } finally {
    await context.close();
  }
});

test('nobody there: the customer leaves an email address, told when to expect the answer; agents see it', async () => {
  // Open one hour on the day after tomorrow only (UTC): closed now, whatever the time.
  const day = new Date(Date.now() + 2 * 86400e3).toLocaleDateString('en-GB', { weekday: 'long', timeZone: 'UTC' });
  const shop = await startServer({
    SPUR_WIDGET_DIR: DIST, SHOP_TIME_ZONE: 'UTC', SHOP_HOURS: `${day.slice(0, 3)} 09:00-10:00`,
    RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_SESSION: '0', RATE_LIMIT_PER_IP_DAY: '0',
  });
  const context = await browser.newContext();
  try {
    const customer = await context.newPage();
    await customer.goto(shop.base + '/');
    await widget(customer).getByRole('button', { name: 'Open chat' }).click();
    await widget(customer).getByLabel('Message').fill('Do you ship to India?');
    await widget(customer).getByLabel('Message').press('Enter');
    await widget(customer).locator('.msg[data-sender=assistant]', { hasText: 'India' }).waitFor();
    await widget(customer).getByRole('button', { name: 'Talk to a person' }).click();
    await widget(customer).locator('header p', { hasText: `Back on ${day} at 09:00 (UTC)` }).waitFor();
    const notice = widget(customer).locator('.msg[data-sender=system]', { hasText: 'email address' });
    await notice.waitFor();
    assert.match(await notice.textContent(), new RegExp(`back on ${day} at 09:00`));
    const address = widget(customer).getByLabel('Your email address');
    await address.waitFor();
    await shot(customer, 'widget-email-offer');
    // The browser refuses what is not an address; nothing is sent.
    await address.fill('not an address');
    await widget(customer).getByRole('button', { name: 'Email me' }).click();
    assert.equal(await address.evaluate((i) => i.validity.valid), false);
    await address.fill('ana@example.com');
    await widget(customer).getByRole('button', { name: 'Email me' }).click();
    const confirmed = widget(customer).locator('.msg[data-sender=system]', { hasText: 'ana@example.com' });
    await confirmed.waitFor();
    assert.match(await confirmed.textContent(), new RegExp(`once we're back on ${day} at 09:00`));
    await address.waitFor({ state: 'detached' });
    await shot(customer, 'widget-email-left');

    // A reload shows the conversation without the form.
    await customer.reload();
    await widget(customer).getByRole('button', { name: 'Open chat' }).click();
    await widget(customer).locator('.msg[data-sender=system]', { hasText: 'ana@example.com' }).waitFor();
    assert.equal(await widget(customer).getByLabel('Your email address').count(), 0);

    // The agents see the address on the row and the conversation.
    const agent = await signedIn(browser, shop.base, '/agent', ADMIN);
    const row = agent.locator('#inbox button', { hasText: 'ana@example.com' });
    await row.click();
    await agent.locator('#contact a[href="mailto:ana@example.com"]').waitFor();
    await shot(agent, 'console-contact-email');
  } finally {
    await context.close();
    await shop.stop();
  }
});

test('a signed-in customer: the page vouches with data-customer-id and -hash, the server verifies every message', async () => {
  const secret = 'identity-secret-identity-secret-identity';
  const verifying = await startServer({
    SPUR_WIDGET_DIR: DIST, IDENTITY_SECRET: secret,
    RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_SESSION: '0', RATE_LIMIT_PER_IP_DAY: '0',
  });
  // What the shop's backend renders into its page for customer cus_7.
  const hash = createHmac('sha256', secret).update('cus_7').digest('hex');
  const forged = createHmac('sha256', 'not-the-secret').update('cus_7').digest('hex');
  // Or a JWT (HS256 under the same secret, sub and exp), for /token.
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'cus_7', exp: Math.floor(Date.now() / 1000) + 600 })}`;
  const jwt = `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
  const site = createServer((req, res) => {
    const signed = req.url.startsWith('/forged') ? forged : hash;
    const vouch = req.url.startsWith('/token') ? `data-customer-token="${jwt}"`
      : `data-customer-id="cus_7" data-customer-hash="${signed}"`;
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><html><head><meta charset="utf-8"><title>A shop</title></head><body>
<script type="module" src="${verifying.base}/widget/spur-widget.js" data-server="${verifying.base}"
  ${vouch}></script></body></html>`);
  });
  await new Promise((ok) => site.listen(0, '127.0.0.1', ok));
  const origin = `http://127.0.0.1:${site.address().port}`;
  const context = await browser.newContext();
  try {
    const customer = await context.newPage();
    const sent = [];
    customer.on('request', (r) => { if (r.method() === 'POST' && r.url().includes('/v1/chat/')) sent.push(r.postDataJSON()); });
    await customer.goto(origin + '/');
    await widget(customer).getByRole('button', { name: 'Open chat' }).click();
    await widget(customer).getByLabel('Message').fill('Do you ship to India?');
    await widget(customer).getByLabel('Message').press('Enter');
    await customer.waitForFunction(() => {
      const r = document.querySelector('.spur-widget').shadowRoot.querySelector('.msg[data-sender=assistant]');
      return r && /India/.test(r.textContent);
    });
    assert.ok(sent.length >= 1);
    assert.equal(sent[0].customerId, 'cus_7');
    assert.equal(sent[0].customerHash, hash);

    // A page whose hash does not verify gets no answer as cus_7.
    const other = await (await browser.newContext()).newPage();
    await other.goto(origin + '/forged');
    await widget(other).getByRole('button', { name: 'Open chat' }).click();
    await widget(other).getByLabel('Message').fill('Do you ship to India?');
    await widget(other).getByLabel('Message').press('Enter');
    await widget(other).locator('.error').waitFor();
    assert.equal(await widget(other).locator('.msg[data-sender=assistant]').count(), 0);
    await other.context().close();

    // A page vouching with a signed token is answered as cus_7 too.
    const byToken = await (await browser.newContext()).newPage();
    const tokenSent = [];
    byToken.on('request', (r) => { if (r.method() === 'POST' && r.url().includes('/v1/chat/')) tokenSent.push(r.postDataJSON()); });
    await byToken.goto(origin + '/token');
    await widget(byToken).getByRole('button', { name: 'Open chat' }).click();
    await widget(byToken).getByLabel('Message').fill('Do you ship to India?');
    await widget(byToken).getByLabel('Message').press('Enter');
    await widget(byToken).locator('.msg[data-sender=assistant]', { hasText: 'India' }).waitFor();
    assert.equal(tokenSent[0].customerToken, jwt);
    assert.equal(tokenSent[0].customerId, undefined);
    await byToken.context().close();
  } finally {
    await context.close();
    site.close();
    await verifying.stop();
  }
});

test('a change the model asks for waits for the Confirm button; Cancel sends nothing', async () => {
  // The shop's order service: counts the cancellations it is sent.
  const cancellations = [];
  const orders = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      cancellations.push({ key: req.headers['idempotency-key'], body: JSON.parse(body || '{}') });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ order: '1042', status: 'cancelled' }));
    });
  });
  await new Promise((ok) => orders.listen(0, '127.0.0.1', ok));
  const ordersHost = `127.0.0.1:${orders.address().port}`;
  const llm = await fakeLlm();
  const dir = mkdtempSync(join(tmpdir(), 'spur-e2e-tools-'));
  const config = join(dir, 'spur.toml');
  writeFileSync(config, `[tools]
allow_hosts = ["${ordersHost}"]

[[tools.http]]
name = "cancel_order"
description = "Cancels an order that has not shipped."
method = "POST"
url = "http://${ordersHost}/cancellations"
writes = true
parameters = { type = "object", properties = { order_number = { type = "string" } }, required = ["order_number"] }
`);
  const site = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><html><head><meta charset="utf-8"><title>A shop</title></head><body>
<script type="module" src="${shop?.base}/widget/spur-widget.js" data-server="${shop?.base}"></script></body></html>`);
  });
  await new Promise((ok) => site.listen(0, '127.0.0.1', ok));
  const siteOrigin = `http://127.0.0.1:${site.address().port}`;
  let shop;
  shop = await startServer({
    SPUR_WIDGET_DIR: DIST, SPUR_CONFIG: config, CORS_ORIGINS: siteOrigin,
    OPENAI_BASE_URL: llm.base, OPENAI_API_KEY: 'sk-e2e', OPENAI_MODEL: 'tool-caller',
    RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_SESSION: '0', RATE_LIMIT_PER_IP_DAY: '0',
  });
  const context = await browser.newContext();
  try {
    const customer = await context.newPage();
    await customer.goto(siteOrigin + '/');
    const w = widget(customer);
    await w.getByRole('button', { name: 'Open chat' }).click();
    const ask = async () => {
      await w.getByLabel('Message').fill('Please cancel my order 1042');
      await w.getByLabel('Message').press('Enter');
      await w.getByRole('button', { name: 'Confirm' }).waitFor();
    };
    await ask();
    const question = w.locator('.msg[data-sender=assistant]').last();
    assert.match(await question.textContent(), /Please confirm: cancel order \(order number: 1042\)/);
    assert.equal(cancellations.length, 0, 'nothing sent before the customer confirms');
    await shot(customer, 'widget-confirm-action');

    await w.getByRole('button', { name: 'Confirm' }).click();
    await w.locator('.msg[data-sender=assistant]', { hasText: 'cancelled' }).waitFor();
    assert.equal(await w.locator('.msg[data-sender=customer]').last().textContent().then((t) => t.startsWith('Yes')), true);
    assert.equal(await w.getByRole('button', { name: 'Confirm' }).count(), 0, 'the question is answered');
    assert.equal(cancellations.length, 1);
    assert.equal(cancellations[0].body.order_number, '1042');
    assert.ok(cancellations[0].key && cancellations[0].key.length >= 32, 'an idempotency key');

    // Asked again, declined: nothing is sent.
    await ask();
    await w.getByRole('button', { name: 'Cancel' }).click();
    await w.locator('.msg[data-sender=assistant]', { hasText: 'declined' }).waitFor();
    assert.equal(cancellations.length, 1, 'Cancel sends nothing');

    // The agents see each call under the bot's replies.
    const agent = await signedIn(browser, shop.base, '/agent', ADMIN);
    await agent.getByRole('tab', { name: 'Bot' }).click();
    await agent.locator('#inbox button').first().click();
    const calls = agent.locator('#messages .tools li');
    await calls.first().waitFor();
    const said = await calls.allTextContents();
    assert.ok(said.some((l) => /^cancel_order\(order_number: 1042\) → awaiting confirmation/.test(l)), said.join('\n'));
    assert.ok(said.some((l) => /^cancel_order\(order_number: 1042\) → ok · \d+ ms · .*cancelled/.test(l)), said.join('\n'));
    assert.ok(said.some((l) => /→ declined/.test(l)), said.join('\n'));
    await shot(agent, 'console-tool-calls');
  } finally {
    await context.close();
    await shop.stop();
    llm.stop();
    orders.close();
    site.close();
  }
});

/** The fake OpenAI-compatible server (`spur-fake-llm`) as a process. */
async function fakeLlm() {
  const bin = resolve(dirname(BIN), 'spur-fake-llm');
  const child = spawn(bin, ['0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const base = await new Promise((ok, fail) => {
    child.stdout.once('data', (d) => ok(String(d).trim()));
    child.once('exit', (code) => fail(new Error(`spur-fake-llm exited (${code})`)));
  });
  return { base, stop: () => child.kill() };
}
