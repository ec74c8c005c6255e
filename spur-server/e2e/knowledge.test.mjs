// The admins' Knowledge view in a real browser: what is loaded, "try a
// question" with ranked passages and the grounding verdict, and the
// questions customers asked that it could not answer.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { ADMIN, api, launchBrowser, login, shot, signedIn, startServer } from './support.mjs';

const AGENT = { email: 'kai@shop.example', password: 'agent-password-2', name: 'Kai' };

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  // A customer asks what the demo knowledge cannot answer: a gap.
  const asked = await api(server.base, '/v1/chat/message', {
    method: 'POST', body: { message: 'Can you recommend a wine for fish?' },
  });
  assert.equal(asked.status, 200, JSON.stringify(asked.body));
  const admin = await login(server.base, ADMIN.email, ADMIN.password);
  const created = await api(server.base, '/v1/admin/agents', { token: admin, method: 'POST', body: AGENT });
  assert.equal(created.status, 201);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('admins read the knowledge, try a question and see the gaps', async () => {
  const page = await signedIn(browser, server.base, '/admin', ADMIN);
  await page.getByRole('tab', { name: 'Knowledge' }).click();

  await page.locator('#knowledge-sections tr', { hasText: 'Shipping' }).first().waitFor();
  assert.equal(await page.locator('#inbox-pane').isVisible(), false, 'one view at a time');
  assert.match(await page.locator('#knowledge-facts').innerText(), /IST|Kolkata|India/);
  await page.locator('#knowledge-gaps tr', { hasText: 'wine for fish' }).waitFor();

  await page.getByLabel('Try a question').fill('Do you deliver to Lyon?');
  await page.getByRole('button', { name: 'Try', exact: true }).click();
  await page.locator('#try-result').waitFor();
  assert.match(await page.locator('#try-reply').innerText(), /Lyon is in France/);
  assert.match(await page.locator('#try-verdict').innerText(), /Grounding: supported/);
  assert.ok(await page.locator('#try-passages tr').count() >= 1);
  await shot(page, 'admin-knowledge');

  await page.getByLabel('Try a question').fill('do you sell bicycles?');
  await page.getByRole('button', { name: 'Try', exact: true }).click();
  await page.locator('#try-verdict', { hasText: 'person' }).waitFor();
});

test('agents have no Knowledge view and its API refuses them', async () => {
  const page = await signedIn(browser, server.base, '/agent', AGENT);
  await page.getByRole('tab', { name: 'Active' }).waitFor();
  assert.equal(await page.getByRole('tab', { name: 'Knowledge' }).isVisible(), false);
  const agent = await login(server.base, AGENT.email, AGENT.password);
  const refused = await api(server.base, '/v1/admin/knowledge/try', {
    method: 'POST', token: agent, body: { question: 'hi' },
  });
  assert.equal(refused.status, 403);
  const anonymous = await api(server.base, '/v1/admin/knowledge');
  assert.equal(anonymous.status, 401);
});

test('admins upload a file, the assistant answers from it, and they delete it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spur-kb-'));
  writeFileSync(join(dir, 'policies.md'), '## Shipping\nWe ship to Germany and Austria.\n');
  const shop = await startServer({ SPUR_KNOWLEDGE: dir });
  try {
    const page = await signedIn(browser, shop.base, '/admin', ADMIN);
    page.on('dialog', (dialog) => dialog.accept());
    await page.getByRole('tab', { name: 'Knowledge' }).click();
    await page.locator('#knowledge-files tr', { hasText: 'policies.md' }).waitFor();

    await page.getByLabel('Add or replace a file').setInputFiles({
      name: 'gifts.md', mimeType: 'text/markdown',
      buffer: Buffer.from('## Gift wrapping\nWe gift wrap any order for 3 euros.\n'),
    });
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.locator('#upload-status', { hasText: 'gifts.md: 1 sections saved' }).waitFor();
    await page.locator('#knowledge-sections tr', { hasText: 'Gift wrapping' }).waitFor();
    await page.getByLabel('Try a question').fill('do you gift wrap?');
    await page.getByRole('button', { name: 'Try', exact: true }).click();
    await page.locator('#try-reply', { hasText: '3 euros' }).waitFor();
    await shot(page, 'admin-knowledge-files');

    const row = page.locator('#knowledge-files tr', { hasText: 'gifts.md' });
    await row.getByRole('button', { name: 'Delete' }).click();
    await row.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Try', exact: true }).click();
    await page.locator('#try-verdict', { hasText: 'person' }).waitFor();

    // A PDF goes up as base64 (binary bytes included) and is read by page.
    await page.getByLabel('Add or replace a file').setInputFiles({
      name: 'care-guide.pdf', mimeType: 'application/pdf',
      buffer: tinyPdf(['Kettle warranty', 'Every kettle carries a two year warranty.']),
    });
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.locator('#upload-status', { hasText: 'care-guide.pdf: 1 sections saved' }).waitFor();
    await page.getByLabel('Try a question').fill('how long is the kettle warranty?');
    await page.getByRole('button', { name: 'Try', exact: true }).click();
    await page.locator('#try-reply', { hasText: 'two year' }).waitFor();
  } finally {
    await shop.stop();
  }
});

test('admins import a web page by its address and the assistant answers from it', async () => {
  // The shop's own site, on loopback: a help page and a robots.txt.
  const site = createServer((req, res) => {
    if (req.url === '/robots.txt') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('User-agent: *\nDisallow: /admin\n');
    } else if (req.url === '/help/care') {
      res.writeHead(200, { 'content-type': 'text/html' })
        .end('<html><body><h2>Linen care</h2><p>Wash linen at 40 degrees and iron it damp.</p></body></html>');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => site.listen(0, '127.0.0.1', r));
  const siteBase = `http://127.0.0.1:${site.address().port}`;
  const dir = mkdtempSync(join(tmpdir(), 'spur-kb-'));
  writeFileSync(join(dir, 'policies.md'), '## Shipping\nWe ship to Germany and Austria.\n');
  const shop = await startServer({ SPUR_KNOWLEDGE: dir, KNOWLEDGE_FETCH_PRIVATE: 'true' });
  try {
    const page = await signedIn(browser, shop.base, '/admin', ADMIN);
    await page.getByRole('tab', { name: 'Knowledge' }).click();
    await page.locator('#knowledge-files tr', { hasText: 'policies.md' }).waitFor();

    await page.getByLabel('Import a web page or sitemap').fill(`${siteBase}/help/care`);
    await page.getByRole('button', { name: 'Import' }).click();
    await page.locator('#import-status', { hasText: '1 pages imported, 1 sections' }).waitFor();
    await page.locator('#knowledge-files tr', { hasText: 'web-127-0-0-1-help-care.html' }).waitFor();
    await page.getByLabel('Try a question').fill('how should I wash linen?');
    await page.getByRole('button', { name: 'Try', exact: true }).click();
    await page.locator('#try-reply', { hasText: '40 degrees' }).waitFor();

    // robots.txt is respected, and the console says so.
    await page.getByLabel('Import a web page or sitemap').fill(`${siteBase}/admin/notes`);
    await page.getByRole('button', { name: 'Import' }).click();
    await page.locator('#import-status', { hasText: 'robots.txt' }).waitFor();
    await shot(page, 'admin-knowledge-import');
  } finally {
    await shop.stop();
    site.close();
  }
});

// A one-page PDF showing `lines` in Helvetica, with a binary comment line
// as real PDFs have, and a correct cross-reference table.
function tinyPdf(lines) {
  const text = lines.map((line) => `(${line}) Tj T*`).join(' ');
  const stream = `BT /F1 11 Tf 14 TL 50 780 Td ${text} ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
  ];
  let out = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n';
  const offsets = [];
  objects.forEach((body, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  out += offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('');
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}
