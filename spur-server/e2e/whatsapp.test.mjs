// A WhatsApp customer in the agents' console: Meta's signed webhook brings
// the message in, the handoff notice goes out to a stand-in Graph API, its
// status comes back, and the console shows the channel and the ticks.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';

import { ADMIN, launchBrowser, shot, signedIn, startServer } from './support.mjs';

const SECRET = 'e2e-meta-app-secret';
const NUMBER = '106540352242922';
// A 1x1 PNG and a small PDF, by media id.
const FILES = {
  '7001': { mime: 'image/png', bytes: Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64') },
  '7002': { mime: 'application/pdf', bytes: Buffer.from('%PDF-1.4\n%%EOF\n') },
};
let graph;
let server;
let browser;
const sent = [];

// The Cloud API's send endpoint, in its documented shape.
function fakeGraph() {
  return new Promise((ok) => {
    const http = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        // Files: `GET /{media-id}` says where, the URL serves the bytes (both with the token).
        const path = new URL(req.url, 'http://graph').pathname;
        const file = FILES[path.replace(/^\/(v23\.0|files)\//, '')];
        if (req.method === 'GET' && file && req.headers.authorization === 'Bearer e2e-token') {
          const id = path.split('/').pop();
          if (path.startsWith('/v23.0/')) {
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ messaging_product: 'whatsapp',
              url: `http://127.0.0.1:${http.address().port}/files/${id}`, mime_type: file.mime, sha256: 'x', file_size: file.bytes.length, id }));
          } else {
            res.writeHead(200, { 'content-type': file.mime }).end(file.bytes);
          }
          return;
        }
        const ok200 = req.method === 'POST' && req.url === `/v23.0/${NUMBER}/messages`
          && req.headers.authorization === 'Bearer e2e-token';
        if (!ok200) { res.writeHead(401).end('{"error":{"code":190,"message":"bad token"}}'); return; }
        const id = `wamid.e2e-${sent.length + 1}`;
        sent.push({ id, ...JSON.parse(body) });
        res.writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ messaging_product: 'whatsapp', contacts: [], messages: [{ id }] }));
      });
    });
    http.listen(0, '127.0.0.1', () => ok(http));
  });
}

async function webhook(value) {
  const body = JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages',
    value: { messaging_product: 'whatsapp', metadata: { phone_number_id: NUMBER }, ...value } }] }] });
  const signature = 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex');
  const res = await fetch(server.base + '/webhooks/whatsapp', {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature }, body,
  });
  assert.equal(res.status, 200);
}

before(async () => {
  graph = await fakeGraph();
  server = await startServer({
    WHATSAPP_VERIFY_TOKEN: 'e2e-verify',
    WHATSAPP_APP_SECRET: SECRET,
    WHATSAPP_ACCESS_TOKEN: 'e2e-token',
    WHATSAPP_PHONE_NUMBER_ID: NUMBER,
    META_GRAPH_URL: `http://127.0.0.1:${graph.address().port}/v23.0`,
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  graph?.close();
});

test('a WhatsApp conversation shows its channel and where each message is', async () => {
  await webhook({
    contacts: [{ profile: { name: 'Sheena' }, wa_id: '16505551234' }],
    messages: [{ from: '16505551234', id: 'wamid.in-1', timestamp: '1749416383', type: 'text',
      text: { body: 'I want to talk to a human please' } }],
  });
  for (let i = 0; sent.length === 0; i++) {
    assert.ok(i < 100, 'the handoff notice was not sent');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(sent[0].to, '16505551234');
  await webhook({ statuses: [{ id: sent[0].id, status: 'read', timestamp: '1749416390', recipient_id: '16505551234' }] });

  const page = await signedIn(browser, server.base, '/agent', ADMIN);
  await page.locator('body[data-live=true]').waitFor();
  await page.locator('#inbox button', { hasText: 'waiting' }).click();
  assert.equal(await page.locator('#conv-channel').innerText(), 'whatsapp');
  assert.match(await page.locator('#conv-window[data-open=true]').innerText(), /reply window open until/);
  const notice = page.locator('.msg[data-sender=system]');
  await notice.locator('.delivery[data-state=read]').waitFor();
  assert.match(await notice.locator('.delivery').innerText(), /✓✓ read/);
  await shot(page, 'console-whatsapp');
});

test('a photo and a document the customer sent show in the console', async () => {
  await webhook({
    contacts: [{ profile: { name: 'Ravi Photos' }, wa_id: '16505550077' }],
    messages: [
      { from: '16505550077', id: 'wamid.ph-1', timestamp: '1749416400', type: 'image',
        image: { id: '7001', mime_type: 'image/png', sha256: 'x', caption: 'I want to talk to a human please' } },
      { from: '16505550077', id: 'wamid.doc-1', timestamp: '1749416401', type: 'document',
        document: { id: '7002', mime_type: 'application/pdf', sha256: 'x', filename: 'invoice.pdf' } },
      { from: '16505550077', id: 'wamid.gone-1', timestamp: '1749416402', type: 'image',
        image: { id: '7999', mime_type: 'image/jpeg', sha256: 'x' } },
    ],
  });
  const page = await signedIn(browser, server.base, '/agent', ADMIN);
  await page.locator('body[data-live=true]').waitFor();
  // The row names the customer as WhatsApp does.
  await page.locator('#inbox button', { hasText: 'Ravi Photos' }).click();
  const photo = page.locator('.msg[data-sender=customer] img.file-image');
  await photo.waitFor();
  await page.waitForFunction(() => {
    const img = document.querySelector('.msg[data-sender=customer] img.file-image');
    return img && img.complete && img.naturalWidth === 1;
  });
  const link = page.locator('.msg[data-sender=customer] .file-link');
  await link.waitFor();
  assert.match(await link.innerText(), /invoice\.pdf/);
  const missing = page.locator('.msg[data-sender=customer] .file-missing');
  await missing.waitFor();
  assert.match(await missing.innerText(), /could not be fetched/);
  await shot(page, 'console-whatsapp-files');
});
