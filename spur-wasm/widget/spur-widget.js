// The Spur chat widget: a launcher bubble and a chat panel in an open shadow
// root, over SpurClient (wasm). One tag puts it on a page:
//   <script type="module" src="https://support.example.com/widget/spur-widget.js"
//           data-server="https://support.example.com"></script>
// (a signed-in customer: data-customer-id and data-customer-hash, the hash
// computed by the shop's backend, or data-customer-token, a JWT it signed;
// see the server's IDENTITY_SECRET)
// or call mountWidget(target, options) yourself.
import init, { SpurClient } from './spur_wasm.js';

const CSS = `
.root { font-family: var(--spur-font, system-ui, sans-serif); font-size: 15px; line-height: 1.4; color: #1f2328; }
* { box-sizing: border-box; font: inherit; }
[hidden] { display: none !important; }
.launcher { width: 56px; height: 56px; border-radius: 50%; border: 0; cursor: pointer; display: grid; place-items: center;
  background: var(--spur-color, #2563eb); color: #fff; box-shadow: 0 4px 14px #0003; }
.panel { position: absolute; bottom: 70px; right: 0; width: 360px; height: 520px; max-height: calc(100vh - 110px);
  display: flex; flex-direction: column; background: #fff; border-radius: 14px; box-shadow: 0 8px 30px #0003; overflow: hidden; }
.root.left .panel { right: auto; left: 0; }
header { display: flex; align-items: center; gap: 6px; padding: 10px 12px; background: var(--spur-color, #2563eb); color: #fff; }
.who { flex: 1; min-width: 0; }
.avatar { flex: none; width: 32px; height: 32px; border-radius: 50%; object-fit: cover; background: #fff3; }
h2 { margin: 0; font-size: 16px; font-weight: 600; }
h2 { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.who p { margin: 0; font-size: 12px; opacity: .9; }
header button { flex: none; }
.launcher { position: relative; }
.unread { position: absolute; top: -4px; right: -4px; min-width: 20px; height: 20px; padding: 0 5px; border-radius: 10px;
  background: #dc2626; color: #fff; font-size: 12px; line-height: 20px; text-align: center; }
.suggestions { display: flex; flex-wrap: wrap; gap: 6px; margin: 6px 0; }
.suggestions button { border: 1px solid var(--spur-color, #2563eb); color: var(--spur-color, #2563eb); background: #fff;
  border-radius: 14px; padding: 4px 10px; cursor: pointer; font-size: 13px; }
.msg .md { white-space: normal; }
.md p, .md ul, .md ol { margin: 0 0 6px; }
.md > :last-child { margin-bottom: 0; }
.md ul, .md ol { padding-left: 20px; }
.md a { color: inherit; }
.md strong { font-weight: 600; }
header button { border: 1px solid #fff8; background: transparent; color: #fff; border-radius: 6px; padding: 3px 8px; cursor: pointer; }
.log { flex: 1; overflow-y: auto; padding: 10px 12px; background: #f6f7f9; }
.msg { margin: 6px 0; width: fit-content; max-width: 85%; padding: 7px 10px; border-radius: 12px; white-space: pre-wrap; overflow-wrap: anywhere; background: #fff; border: 1px solid #e5e7eb; }
.msg .source { display: block; font-size: 12px; color: #4b5563; margin-top: 4px; }
.msg time { display: block; font-size: 11px; color: #6b7280; margin-top: 2px; }
.msg[data-sender=customer] { margin-left: auto; background: var(--spur-color, #2563eb); border-color: transparent; color: #fff; }
.msg[data-sender=customer] time { color: #ffffffb0; }
.msg[data-sender=agent] { background: #dcfce7; }
.msg[data-sender=greeting] time { display: none; }
.msg[data-sender=system] { margin: 8px auto; max-width: 95%; background: #fff7e6; font-size: 13px; text-align: center; }
.msg[data-failed] { opacity: .6; }
.msg form.email { display: flex; gap: 6px; margin-top: 6px; padding: 0; border: 0; background: transparent; }
.msg form.email input { flex: 1; min-width: 0; border: 1px solid #d1d5db; border-radius: 8px; padding: 5px 8px; background: #fff; color: inherit; }
.rate { display: flex; align-items: center; gap: 4px; margin-top: 3px; font-size: 12px; color: #6b7280; }
.rate button { border: 1px solid #d1d5db; background: #fff; color: #374151; cursor: pointer; font-size: 12px; padding: 0 7px; border-radius: 10px; }
.rate button[aria-pressed=true] { background: var(--spur-color, #2563eb); border-color: transparent; color: #fff; }
.csat { margin: 8px auto; text-align: center; font-size: 13px; }
.csat button { border: 1px solid #d1d5db; background: #fff; border-radius: 6px; margin: 4px 2px 0; padding: 3px 9px; cursor: pointer; }
.error { margin: 6px 0; font-size: 13px; color: #b42318; }
.error button { margin-left: 6px; }
.status { margin: 0; padding: 0 12px; min-height: 18px; font-size: 12px; color: #6b7280; background: #f6f7f9; }
form { display: flex; gap: 6px; padding: 8px; border-top: 1px solid #e5e7eb; background: #fff; }
textarea { flex: 1; resize: none; border: 1px solid #d1d5db; border-radius: 8px; padding: 7px 9px; max-height: 120px; color: inherit; background: #fff; }
form button { border: 0; border-radius: 8px; padding: 0 14px; background: var(--spur-color, #2563eb); color: #fff; cursor: pointer; }
form button:disabled { opacity: .5; cursor: default; }
:focus-visible { outline: 2px solid var(--spur-color, #2563eb); outline-offset: 2px; }
@media (max-width: 480px) {
  .panel { position: fixed; inset: 0; width: auto; height: auto; max-height: none; border-radius: 0; }
  .launcher[aria-expanded=true] { display: none; }
}`;

// The wasm is fetched when the chat first opens, not with the page: a
// visitor who never opens it downloads the launcher only.
let loading = null;
/** Loads the wasm client (once); mountWidget does it when the chat opens. */
export function ready() {
  // A failed fetch is tried again on the next call, not remembered.
  loading ??= init().catch((err) => { loading = null; throw err; });
  return loading;
}

function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...[].concat(children));
  return node;
}

const clock = (iso) => new Date(iso || Date.now()).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

// Replies in safe Markdown: paragraphs, - and 1. lists, **bold**, [links](https://…)
// and bare http(s) addresses, built as DOM nodes (never parsed as HTML), so
// nothing a reply says can become markup or script. Hand-written on purpose:
// a Markdown library would double the widget's size for these five forms.
const INLINE = /\*\*([^*]+)\*\*|\[([^\]]+)\]\((https?:\/\/[^\s)]+|mailto:[^\s)]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/g;
function inline(text) {
  const out = [];
  let at = 0;
  for (const m of text.matchAll(INLINE)) {
    out.push(text.slice(at, m.index));
    if (m[1]) out.push(el('strong', { textContent: m[1] }));
    else {
      const a = el('a', { href: m[3] || m[4], textContent: m[2] || m[4], target: '_blank', rel: 'noopener noreferrer' });
      out.push(a);
    }
    at = m.index + m[0].length;
  }
  out.push(text.slice(at));
  return out;
}
function markdown(text) {
  const root = el('div', { className: 'md' });
  for (const block of text.split(/\n\s*\n/)) {
    const lines = block.split('\n').filter((l) => l.trim());
    if (!lines.length) continue;
    const bullet = lines.every((l) => /^\s*[-*•] /.test(l));
    const numbered = lines.every((l) => /^\s*\d+[.)] /.test(l));
    if (bullet || numbered) {
      root.append(el(bullet ? 'ul' : 'ol', {}, lines.map((l) => el('li', {}, inline(l.replace(/^\s*(?:[-*•]|\d+[.)]) /, ''))))));
    } else {
      const p = el('p');
      lines.forEach((l, i) => { if (i) p.append(el('br')); p.append(...inline(l)); });
      root.append(p);
    }
  }
  return root;
}

/** Mounts the widget into `target` (an element); returns its controller. */
export async function mountWidget(target, options = {}) {
  const server = options.server || location.origin;
  const title = options.title || 'Support';
  let client = null;
  async function connect() {
    await ready();
    if (!client) {
      client = new SpurClient(server, options.maxChars);
      if (options.customerToken) client.setCustomerToken(options.customerToken);
      else if (options.customerId) client.setCustomer(options.customerId, options.customerHash || '');
    }
    return client;
  }
  const host = el('div', { className: 'spur-widget' });
  // Inline !important beats whatever the page's stylesheets say about this element.
  const side = options.position === 'left' ? 'left' : 'right';
  const fixed = { all: 'initial', display: 'block', position: 'fixed', bottom: '20px', [side]: '20px', 'z-index': '2147483000' };
  for (const [name, value] of Object.entries(fixed)) host.style.setProperty(name, value, 'important');
  if (options.position) host.dataset.position = options.position;
  if (options.color) host.style.setProperty('--spur-color', options.color);
  if (options.font) host.style.setProperty('--spur-font', options.font);
  const root = host.attachShadow({ mode: 'open' });
  const launcher = el('button', { className: 'launcher', type: 'button' });
  // A speech bubble drawn inline: no font or image to fetch.
  launcher.innerHTML = '<svg width="26" height="26" viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"/></svg>';
  launcher.setAttribute('aria-label', 'Open chat');
  launcher.setAttribute('aria-expanded', 'false');
  const log = el('div', { className: 'log' });
  log.setAttribute('role', 'log');
  log.setAttribute('aria-live', 'polite');
  const status = el('p', { className: 'status' });
  status.setAttribute('role', 'status');
  const text = el('textarea', { rows: 1, placeholder: options.placeholder || 'Write a message…' });
  text.setAttribute('aria-label', 'Message');
  const sendButton = el('button', { type: 'submit', textContent: 'Send' });
  const form = el('form', {}, [text, sendButton]);
  const person = el('button', { type: 'button', textContent: 'Talk to a person' });
  const heading = el('h2', { textContent: title });
  const availability = el('p', { hidden: true });
  const unread = el('span', { className: 'unread', hidden: true });
  unread.setAttribute('aria-hidden', 'true');
  const closeButton = el('button', { type: 'button', textContent: '×' });
  closeButton.setAttribute('aria-label', 'Close chat');
  const panel = el('section', { className: 'panel', hidden: true }, [
    el('header', {}, [
      // The team's picture, when the operator gives one.
      options.avatar ? el('img', { className: 'avatar', src: options.avatar, alt: '' }) : '',
      el('div', { className: 'who' }, [heading, availability]), person, closeButton,
    ]), log, status, form,
  ]);
  panel.setAttribute('role', 'dialog');
  panel.setAttribute('aria-label', title);
  launcher.append(unread);
  root.append(el('style', { textContent: CSS }), el('div', { className: `root ${side}` }, [panel, launcher]));
  target.append(host);

  const shown = new Set();
  let older = null; // cursor for older messages
  let started = false;
  let listening = false;
  let withAgent = false;
  let typingTimer = null;
  let typingSent = 0;

  const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const rich = (sender) => sender === 'assistant' || sender === 'agent';
  function bubble(sender, body, when, { prepend = false } = {}) {
    const text = rich(sender) ? markdown(body) : el('span', { textContent: body });
    const node = el('div', { className: 'msg' }, [text, el('time', { textContent: clock(when) })]);
    node.dataset.sender = sender;
    node.dataset.text = body;
    if (prepend) log.prepend(node);
    else {
      const stick = atBottom();
      log.append(node);
      if (stick || sender === 'customer') log.scrollTop = log.scrollHeight;
    }
    return node;
  }
  function setText(node, body) {
    node.dataset.text = body;
    if (rich(node.dataset.sender)) node.firstChild.replaceWith(markdown(body));
    else node.firstChild.textContent = body;
  }
  const textOf = (node) => node.dataset.text ?? node.firstChild.textContent;
  // "Source: <section>" under an answer, when the operator shows sources.
  function cite(node, sources) {
    node.querySelector('.source')?.remove();
    if (sources && sources.length) {
      node.insertBefore(el('small', { className: 'source', textContent: 'Source: ' + sources.join(', ') }), node.lastChild);
    }
  }

  // Was this answer helpful? A thumbs up or down under each answer; a
  // second click changes it. Rating needs a stored id (not while streaming).
  function identify(node, id) {
    node.dataset.id = id;
    if (!rich(node.dataset.sender) || node.querySelector('.rate')) return;
    // Words, not emoji: a machine without an emoji font shows boxes.
    const row = el('div', { className: 'rate' }, [el('span', { textContent: 'Helpful?' })]);
    for (const [rating, label, glyph] of [['up', 'Helpful', 'Yes'], ['down', 'Not helpful', 'No']]) {
      const b = el('button', { type: 'button', textContent: glyph, title: label });
      b.setAttribute('aria-label', label);
      b.setAttribute('aria-pressed', 'false');
      b.dataset.rating = rating;
      b.addEventListener('click', async () => {
        try { await client.rate(id, rating); } catch (err) { failure(err, null); return; }
        for (const other of row.querySelectorAll('button')) other.setAttribute('aria-pressed', String(other === b));
      });
      row.append(b);
    }
    node.insertBefore(row, node.lastChild);
  }

  // When the conversation closes: how did we do, 1 to 5 (once per visit).
  let asked = false;
  function askScore() {
    if (asked) return;
    asked = true;
    const box = el('div', { className: 'csat' }, [el('div', { textContent: 'How did we do? 1 (poor) to 5 (great)' })]);
    box.setAttribute('role', 'group');
    for (let score = 1; score <= 5; score++) {
      const b = el('button', { type: 'button', textContent: String(score) });
      b.setAttribute('aria-label', `${score} of 5`);
      b.addEventListener('click', async () => {
        try { await client.csat(score); } catch (err) { failure(err, null); return; }
        box.replaceChildren(el('div', { textContent: 'Thank you for your feedback!' }));
      });
      box.append(b);
    }
    log.append(box);
    log.scrollTop = log.scrollHeight;
  }

  // Nobody there: the notice offers to leave an email address (one form,
  // under the newest offer, gone once an address is left).
  let emailLeft = false;
  let emailForm = null;
  function offerEmail(node) {
    if (emailLeft) return;
    emailForm?.remove();
    const input = el('input', { type: 'email', required: true, autocomplete: 'email', placeholder: 'you@example.com', maxLength: 254 });
    input.setAttribute('aria-label', 'Your email address');
    const button = el('button', { type: 'submit', textContent: 'Email me' });
    emailForm = el('form', { className: 'email' }, [input, button]);
    emailForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!input.checkValidity()) { input.reportValidity(); return; }
      button.disabled = true;
      try { await client.leaveEmail(input.value.trim()); listen(0); } catch (err) { failure(err, null); }
      button.disabled = false;
    });
    node.insertBefore(emailForm, node.lastChild);
  }
  function contact(m, node, opts) {
    if (m.emailLeft) { emailLeft = true; emailForm?.remove(); emailForm = null; }
    else if (m.askEmail && !opts?.prepend) offerEmail(node); // older pages: the newest offer keeps it
  }

  // A reply asking to confirm a change (cancel an order...): Confirm and
  // Cancel send "Yes" and "No", the answers the engine acts on. Only the
  // newest message's question is open, so a later message removes them.
  let choice = null;
  function dropChoice() { choice?.remove(); choice = null; }
  function offerChoice(node) {
    dropChoice();
    const answer = (label, reply) => {
      const b = el('button', { type: 'button', textContent: label });
      b.addEventListener('click', () => { dropChoice(); text.value = reply; form.requestSubmit(); });
      return b;
    };
    choice = el('div', { className: 'suggestions confirm' }, [answer('Confirm', 'Yes'), answer('Cancel', 'No')]);
    node.insertBefore(choice, node.lastChild);
  }

  function stored(m, opts) {
    if (shown.has(m.id)) return;
    shown.add(m.id);
    // Our own message echoed by the feed (it may come after the reply) is
    // not a later message; one in a loaded page is.
    if (!opts?.prepend && (m.sender !== 'customer' || opts)) dropChoice();
    if (!opts) {
      // Our own message, drawn when sent; a reply that streamed in.
      const pending = m.sender === 'customer'
        ? [...log.querySelectorAll('.msg[data-pending]')].find((n) => textOf(n) === m.text)
        : m.sender === 'assistant' ? log.querySelector('.msg[data-streaming]') : null;
      if (pending) {
        delete pending.dataset.pending; delete pending.dataset.streaming;
        setText(pending, m.text); identify(pending, m.id); cite(pending, m.sources);
        if (m.confirm) offerChoice(pending);
        return;
      }
    }
    const node = bubble(m.sender, m.text, m.createdAt, opts);
    identify(node, m.id);
    // Who answered: the agent's name with the time.
    if (m.agentName) node.lastChild.textContent = `${m.agentName} · ${clock(m.createdAt)}`;
    cite(node, m.sources);
    contact(m, node, opts);
    if (m.confirm && !opts?.prepend) offerChoice(node);
    if (!opts && panel.hidden && m.sender !== 'customer') notify(1);
  }

  // Replies that arrive while the chat is closed: a count on the launcher
  // and in the page's title, cleared when it opens.
  const pageTitle = document.title;
  let unseen = 0;
  function notify(count) {
    unseen = count ? unseen + count : 0;
    unread.hidden = !unseen;
    unread.textContent = String(unseen);
    document.title = unseen ? `(${unseen}) ${pageTitle}` : pageTitle;
    launcher.setAttribute('aria-label', (panel.hidden ? 'Open chat' : 'Close chat') + (unseen ? `, ${unseen} unread` : ''));
  }

  function showStatus() {
    status.textContent = withAgent ? 'You are chatting with a person.' : '';
  }
  function onEvent(event) {
    const { type, data } = event;
    if (type === 'message') stored(data);
    else if (type === 'status') {
      withAgent = data.status === 'agent';
      person.hidden = withAgent; // already with a person, or waiting for one
      status.textContent = withAgent ? (data.withAgent ? 'You are chatting with a person.' : 'Waiting for a person to join…')
        : data.status === 'closed' ? 'This conversation is closed. Write again to reopen it.' : '';
      if (data.status === 'closed') askScore();
    }
    else if (type === 'typing') {
      status.textContent = 'A person is typing…';
      clearTimeout(typingTimer);
      typingTimer = setTimeout(showStatus, 3000);
    }
  }
  function listen(after) {
    if (listening || !client.sessionId) return;
    listening = true;
    client.onEvent(onEvent, after);
  }

  // Who answers and when, from the server (the shop's hours): the header's
  // second line and the suggested first questions.
  let config = null;
  async function describe() {
    try { config = await client.config(); } catch (_) { return; }
    if (!options.title && config.shop) heading.textContent = config.shop;
    const line = config.availability === 'open' ? 'We\'re here: a person can join this chat'
      : config.availability === 'closed' ? (config.back ? `Back ${config.back}` : 'Nobody is in right now') : '';
    availability.textContent = line;
    availability.hidden = !line;
  }
  function welcome() {
    // The greeting reads as the shop's first message (not stored: the
    // conversation starts with the customer's).
    if (options.greeting) bubble('greeting', options.greeting);
    const questions = options.suggestions || config?.suggestions || [];
    if (!questions.length) return;
    const chips = el('div', { className: 'suggestions' }, questions.map((q) => {
      const b = el('button', { type: 'button', textContent: q });
      b.addEventListener('click', () => { chips.remove(); text.value = q; form.requestSubmit(); });
      return b;
    }));
    log.append(chips);
    form.addEventListener('submit', () => chips.remove(), { once: true });
  }

  async function start() {
    if (started) return;
    started = true;
    await describe();
    if (!client.sessionId) {
      welcome();
      return;
    }
    try {
      const page = await client.history({ limit: 30 });
      person.hidden = page.status === 'agent';
      older = page.nextCursor ?? null;
      for (const m of page.messages) stored(m, {});
      log.scrollTop = log.scrollHeight;
      const last = page.messages.length ? page.messages[page.messages.length - 1].seq : 0;
      listen(last);
    } catch (err) {
      if (err.status === 404) { client.forget(); welcome(); }
      else failure(err, null);
    }
  }

  log.addEventListener('scroll', async () => {
    if (log.scrollTop > 20 || older == null) return;
    const before = older;
    older = null;
    const page = await client.history({ before, limit: 30 });
    const height = log.scrollHeight;
    for (const m of [...page.messages].reverse()) stored(m, { prepend: true });
    log.scrollTop += log.scrollHeight - height; // keep what the reader was looking at
    older = page.nextCursor ?? null;
  });

  let explained = false;
  function failure(err, retry) {
    // The browser hides why a cross-origin call failed; say what to check.
    if (err.code === 'network' && !explained && new URL(server, location.href).origin !== location.origin) {
      explained = true;
      console.warn(`Spur: ${server} could not be reached from ${location.origin}. If the server is up, it refuses this page's origin: `
        + `add ${location.origin} to CORS_ORIGINS on the server (or leave CORS_ORIGINS unset: the chat API then answers every site).`);
    }
    const row = el('div', { className: 'error', textContent: err.message || 'Something went wrong.' });
    row.setAttribute('role', 'alert');
    if (retry) {
      const again = el('button', { type: 'button', textContent: 'Retry' });
      again.addEventListener('click', () => { row.remove(); retry(); });
      row.append(again);
    }
    log.append(row);
    log.scrollTop = log.scrollHeight;
  }

  // A dropped connection or a balancer's 502/503/504 while an instance
  // restarts is tried again by itself, with the same key (never stored
  // twice), after a jittered pause; only then is the customer asked.
  const AUTO_RETRIES = 3;
  const transient = (err) => err.code === 'network' || [502, 503, 504].includes(err.status);
  const pause = (attempt) => new Promise((ok) => setTimeout(ok, 300 * 2 ** attempt * (0.5 + Math.random())));

  async function deliver(message, key, pending, attempt = 0) {
    sendButton.disabled = true;
    try { await connect(); } catch (err) {
      sendButton.disabled = false;
      pending.dataset.failed = '';
      failure(err, () => deliver(message, key, pending));
      return;
    }
    delete pending.dataset.failed;
    let streaming = null;
    try {
      const done = await client.stream(message, (delta) => {
        if (!streaming) { streaming = bubble('assistant', ''); streaming.dataset.streaming = ''; }
        setText(streaming, textOf(streaming) + delta);
        if (atBottom()) log.scrollTop = log.scrollHeight;
      }, key);
      if (streaming && done.replyId && streaming.dataset.id !== done.replyId) {
        delete streaming.dataset.streaming;
        // The feed may have drawn the stored reply already.
        if (shown.has(done.replyId)) streaming.remove();
        else {
          shown.add(done.replyId); identify(streaming, done.replyId); setText(streaming, done.reply); cite(streaming, done.sources);
          if (done.confirm) offerChoice(streaming);
        }
      }
      listen(0);
    } catch (err) {
      streaming?.remove();
      if (err.status === 400) { pending.remove(); failure(err, null); return; }
      if (transient(err) && attempt < AUTO_RETRIES) {
        await pause(attempt);
        return deliver(message, key, pending, attempt + 1);
      }
      pending.dataset.failed = '';
      failure(err, () => deliver(message, key, pending)); // same key: never stored twice
    } finally {
      sendButton.disabled = false;
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const message = text.value.trim();
    if (!message || sendButton.disabled) return;
    dropChoice();
    text.value = ''; text.style.height = '';
    typingSent = 0;
    const pending = bubble('customer', message);
    pending.dataset.pending = '';
    deliver(message, crypto.randomUUID(), pending);
    text.focus();
  });
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  text.addEventListener('input', () => {
    text.style.height = ''; text.style.height = Math.min(text.scrollHeight, 120) + 'px';
    if (client && Date.now() - typingSent > 2000) { typingSent = Date.now(); client.typing(); }
  });
  person.addEventListener('click', async () => {
    try { await connect(); } catch (err) { failure(err, null); return; }
    if (!client.sessionId) {
      text.value = 'I would like to talk to a person.';
      form.requestSubmit();
      return;
    }
    try { person.hidden = (await client.escalate()).status === 'agent'; listen(0); } catch (err) { failure(err, null); }
  });

  function open(on) {
    panel.hidden = !on;
    launcher.setAttribute('aria-expanded', String(on));
    if (on) notify(0);
    else launcher.setAttribute('aria-label', 'Open chat');
    if (on) {
      text.focus();
      connect().then(start, (err) => failure(err, () => open(true)));
    } else launcher.focus();
  }
  launcher.addEventListener('click', () => open(panel.hidden));
  closeButton.addEventListener('click', () => open(false));
  panel.addEventListener('keydown', (e) => { if (e.key === 'Escape') open(false); });

  return {
    get client() { return client; },
    connect,
    host,
    open: () => open(true),
    close: () => open(false),
  };
}

export { SpurClient };

// The one-tag embed: this module's own <script data-server=…>.
const tag = [...document.querySelectorAll('script[type=module][src]')]
  .find((s) => new URL(s.src, location.href).href === import.meta.url);
if (tag && 'server' in tag.dataset) {
  const d = tag.dataset;
  mountWidget(document.body, {
    server: d.server || new URL(import.meta.url).origin,
    customerId: d.customerId, customerHash: d.customerHash, customerToken: d.customerToken,
    title: d.title, greeting: d.greeting, avatar: d.avatar, color: d.color, font: d.font, position: d.position,
    suggestions: d.suggestions ? d.suggestions.split('|').map((q) => q.trim()).filter(Boolean) : undefined,
  });
}
