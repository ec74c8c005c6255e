// Tickets in the console, in a real browser: an agent turns an escalated
// conversation into a ticket, sees tickets filed elsewhere arrive live,
// overrides a category, closes a ticket and files one by hand.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { ADMIN, api, launchBrowser, login, shot, signedIn, startServer } from './support.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('an agent files, classifies, overrides and closes tickets', async () => {
  const first = await api(server.base, '/v1/chat/message', { method: 'POST',
    body: { message: 'I was charged twice for order 77 and I want a refund of the second charge' } });
  assert.equal(first.status, 200);
  const handoff = await api(server.base, '/v1/chat/message', { method: 'POST',
    body: { message: 'Please let me talk to a human', sessionId: first.body.sessionId } });
  assert.equal(handoff.status, 200);

  const page = await signedIn(browser, server.base, '/agent', ADMIN);
  await page.locator('body[data-live=true]').waitFor();

  // From the conversation: one click, summarised and classified.
  await page.locator('#inbox button', { hasText: 'waiting' }).click();
  await page.getByRole('button', { name: 'Create ticket' }).click();
  await page.locator('#conv-ticket', { hasText: 'Ticket: I was charged twice for order 77' }).waitFor();
  assert.match(await page.locator('#conv-ticket').innerText(), /billing · open/);
  assert.equal(await page.getByRole('button', { name: 'Create ticket' }).isDisabled(), true, 'one ticket per conversation');

  await page.getByRole('tab', { name: 'Tickets' }).click();
  const fromChat = page.locator('#tickets tr', { hasText: 'I was charged twice for order 77' });
  await fromChat.waitFor();
  assert.equal(await fromChat.getByRole('combobox', { name: /^Category/ }).inputValue(), 'billing');
  assert.match(await fromChat.locator('td.ai').innerText(), /^done · \d+%/);
  assert.equal(await page.locator('#ticket-total').innerText(), '1 ticket');

  // Filed elsewhere (another agent, an integration): it arrives live.
  const token = await login(server.base, ADMIN.email, ADMIN.password);
  const filed = await api(server.base, '/v1/tickets', { token, method: 'POST',
    body: { title: 'App crashes on login', description: 'The app crashes with an error every time I sign in' } });
  assert.equal(filed.status, 201);
  const crash = page.locator('#tickets tr', { hasText: 'App crashes on login' });
  await crash.waitFor({ timeout: 5000 });
  assert.equal(await crash.getByRole('combobox', { name: /^Category/ }).inputValue(), 'technical');

  // An agent's category is kept and marked.
  await fromChat.getByRole('combobox', { name: /^Category/ }).selectOption('general');
  await fromChat.getByText('set by an agent').waitFor();
  const stored = await api(server.base, '/v1/tickets/' + (await fromChat.getAttribute('data-id')), { token });
  assert.equal(stored.body.category, 'general');
  assert.equal(stored.body.categoryOverridden, true);
  // ... and so is a priority.
  await fromChat.getByRole('combobox', { name: /^Priority/ }).selectOption('low');
  await fromChat.locator('.overridden').nth(1).waitFor();
  const reprioritised = await api(server.base, '/v1/tickets/' + (await fromChat.getAttribute('data-id')), { token });
  assert.equal(reprioritised.body.priority, 'low');
  assert.equal(reprioritised.body.priorityOverridden, true);

  // Close one; the open filter no longer shows it.
  await crash.getByRole('button', { name: 'Close ticket' }).click();
  await crash.locator('td.status', { hasText: 'closed' }).waitFor();
  await page.getByLabel('Ticket status').selectOption('open');
  await crash.waitFor({ state: 'detached' });
  assert.equal(await page.locator('#ticket-total').innerText(), '1 ticket');
  await page.getByLabel('Ticket status').selectOption('');

  // By hand, from the form; search finds it.
  await page.getByLabel('Title').fill('Where is my parcel?');
  await page.getByLabel('Description').fill('My order has not been delivered yet, can you track the shipping?');
  await page.getByRole('button', { name: 'File ticket' }).click();
  const parcel = page.locator('#tickets tr', { hasText: 'Where is my parcel?' });
  await parcel.waitFor();
  assert.equal(await parcel.getByRole('combobox', { name: /^Category/ }).inputValue(), 'general');
  await page.getByLabel('Search tickets').fill('parcel');
  await page.locator('#ticket-total', { hasText: /^1 ticket$/ }).waitFor();
  await page.getByLabel('Search tickets').fill('');
  await page.locator('#ticket-total', { hasText: '3 tickets' }).waitFor();
  await shot(page, 'agent-console-tickets');

  // A long description opens in full; 50 rows a page, then "Load more".
  const long = 'My order never arrived. ' + 'I have written three times and nobody answers. '.repeat(8) + 'THE END';
  for (let i = 0; i < 50; i++) {
    const r = await api(server.base, '/v1/tickets', { token, method: 'POST',
      body: { title: `Bulk ticket ${i}`, description: i === 49 ? long : 'Where is my order number ' + i } });
    assert.equal(r.status, 201);
  }
  await page.locator('#ticket-total', { hasText: '53 tickets' }).waitFor({ timeout: 10000 });
  assert.equal(await page.locator('#tickets tr').count(), 50);
  const newest = page.locator('#tickets tr', { hasText: 'Bulk ticket 49' });
  assert.equal(await newest.getByText('THE END').isVisible(), false);
  await newest.locator('summary').click();
  await newest.getByText('THE END').waitFor();
  await page.getByRole('button', { name: 'Load more' }).click();
  await page.locator('#tickets tr', { hasText: 'Where is my parcel?' }).waitFor();
  assert.equal(await page.locator('#tickets tr').count(), 53);
  assert.equal(await page.getByRole('button', { name: 'Load more' }).isHidden(), true);
});
