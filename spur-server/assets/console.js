// The agents' and admins' console: plain DOM over the server's JSON API.
// The token lives in sessionStorage; a 401 anywhere returns to sign-in.
const $ = (id) => document.getElementById(id);
let auth = JSON.parse(sessionStorage.getItem('spur.console') || 'null');
let view = location.pathname.startsWith('/admin') ? 'logs' : 'active';
const ADMIN_VIEWS = ['logs', 'agents', 'knowledge', 'analytics'];
let openId = null;
let current = null;
let liveAbort = null;

function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of [].concat(children)) node.append(child);
  return node;
}
const time = (iso) => new Date(iso).toLocaleString();
// "3 min ago" (the exact time on hover: `title`).
function ago(iso) {
  const s = Math.max(0, (Date.now() - new Date(iso)) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}
const waited = (iso) => ago(iso).replace(' ago', '').replace('just now', '< 1 min');
// Who the customer is: the address they left, else a readable label.
const customer = (c) => c.customerName || c.contactEmail || `${c.channel === 'web' ? 'Web visitor' : c.channel} ${c.id.slice(-4)}`;

async function api(path, options = {}) {
  const res = await fetch(path, {
    ...options,
    headers: { 'content-type': 'application/json', authorization: 'Bearer ' + (auth && auth.token), ...(options.headers || {}) },
  });
  if (res.status === 401) { signOut(); throw new Error('signed out'); }
  const body = res.status === 204 ? null : await res.json();
  if (!res.ok) throw new Error(body.error.message);
  return body;
}

// Files customers sent (WhatsApp, Messenger, email) need the agent's token:
// fetched once each, shown from memory. Photos inline, the rest as downloads,
// and a file not kept says why.
const fileUrls = new Map();
function fileUrl(path) {
  if (!fileUrls.has(path)) {
    fileUrls.set(path, (async () => {
      const res = await fetch(path, { headers: { authorization: 'Bearer ' + (auth && auth.token) } });
      if (res.status === 401) { signOut(); throw new Error('signed out'); }
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return URL.createObjectURL(await res.blob());
    })());
    fileUrls.get(path).catch(() => fileUrls.delete(path));
  }
  return fileUrls.get(path);
}
function attachments(conversationId, m) {
  const files = (m.meta && m.meta.attachments) || [];
  if (!files.length) return null;
  const box = el('div', { className: 'files' });
  files.forEach((f, i) => {
    const label = f.name || `${f.kind}${f.mime ? ` (${f.mime})` : ''}`;
    const missing = (why) => el('span', { className: 'meta file-missing', textContent: `${label}: ${why}` });
    if (!f.blob) { box.append(missing(f.error || 'not fetched yet')); return; }
    const path = `/v1/agent/conversations/${conversationId}/files/${m.seq}/${i}`;
    if ((f.mime || '').startsWith('image/')) {
      const img = el('img', { className: 'file-image', alt: label });
      fileUrl(path).then((url) => { img.src = url; }, () => img.replaceWith(missing('could not be loaded')));
      box.append(img);
      return;
    }
    const link = el('a', { className: 'file-link', href: '#', textContent: `Download ${label}` });
    link.addEventListener('click', async (e) => {
      e.preventDefault();
      try { el('a', { href: await fileUrl(path), download: f.name || `file-${m.seq}-${i}` }).click(); }
      catch { link.replaceWith(missing('could not be loaded')); }
    });
    box.append(link);
  });
  return box;
}

// WhatsApp, Messenger and Instagram take free text only for 24 hours after
// the customer's last message: say whether a reply can still go out as written.
function replyWindow(c) {
  if (!c.replyWindowClosesAt) return '';
  const closes = new Date(c.replyWindowClosesAt);
  const open = closes > new Date();
  const span = el('span', { className: 'meta window' + (open ? '' : ' closed'), id: 'conv-window',
    textContent: open ? ` · reply window open until ${time(c.replyWindowClosesAt)}`
      : ` · reply window closed ${ago(c.replyWindowClosesAt)}: replies go as the approved template if one is set, else they are held` });
  span.dataset.open = String(open);
  return span;
}

let labelsLoaded = false;
let taxonomy = { categories: [], priorities: [] };
async function loadLabels() {
  if (labelsLoaded) return;
  const labels = await api('/v1/agent/labels');
  for (const [id, names] of [['category', labels.categories], ['priority', labels.priorities], ['ticket-category', labels.categories]]) {
    $(id).append(...names.map((n) => el('option', { value: n, textContent: n })));
  }
  taxonomy = labels;
  labelsLoaded = true;
}
let typing = null;
$('q').addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(loadInbox, 250); });
$('category').addEventListener('change', loadInbox);
$('priority').addEventListener('change', loadInbox);
$('status').addEventListener('change', loadInbox);
$('filters').addEventListener('submit', (e) => { e.preventDefault(); loadInbox(); });

function showSignedIn() {
  $('login').hidden = !!auth; $('app').hidden = !auth; $('logout').hidden = !auth;
  $('who').textContent = auth ? `${auth.account.name} (${auth.role})` : '';
  for (const tab of document.querySelectorAll('.admin-only')) tab.hidden = !(auth && auth.role === 'admin');
  if (!auth) { $('email').focus(); return; }
  if (auth.role !== 'admin' && ADMIN_VIEWS.includes(view)) view = 'active';
  select(view);
  loadLabels();
  live();
}

function signOut() {
  if (liveAbort) liveAbort.abort();
  auth = null; sessionStorage.removeItem('spur.console'); showSignedIn();
}

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('login-error').textContent = '';
  const res = await fetch('/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: $('email').value, password: $('password').value }) });
  const body = await res.json();
  if (!res.ok) { $('login-error').textContent = body.error.message; return; }
  auth = body; sessionStorage.setItem('spur.console', JSON.stringify(body));
  $('password').value = '';
  showSignedIn();
});
$('logout').addEventListener('click', async () => {
  try { await api('/v1/auth/logout', { method: 'POST' }); } catch (_) {}
  signOut();
});

function select(next) {
  view = next;
  for (const tab of document.querySelectorAll('[role=tab]')) tab.setAttribute('aria-selected', String(tab.dataset.view === view));
  const other = ADMIN_VIEWS.includes(view) || view === 'tickets';
  $('inbox-pane').hidden = other; $('logs-pane').hidden = view !== 'logs'; $('agents-pane').hidden = view !== 'agents';
  $('tickets-pane').hidden = view !== 'tickets'; $('knowledge-pane').hidden = view !== 'knowledge'; $('analytics-pane').hidden = view !== 'analytics';
  refresh();
}
for (const tab of document.querySelectorAll('[role=tab]')) tab.addEventListener('click', () => select(tab.dataset.view));

function refresh() {
  if (view === 'logs') { checkBudget(); return loadLogs(); }
  if (view === 'agents') return loadAgents();
  if (view === 'tickets') return loadTickets();
  if (view === 'knowledge') return loadKnowledge();
  if (view === 'analytics') return loadAnalytics();
  loadInbox();
  if (openId) openConversation(openId);
}

// Lists reload on every filter change and live event, so loads overlap;
// only the newest may render (an older answer arriving later is stale).
const loads = {};
function newestOf(list) {
  const n = (loads[list] || 0) + 1;
  loads[list] = n;
  return () => loads[list] === n;
}

async function loadInbox() {
  const query = new URLSearchParams({ view, limit: '100', q: $('q').value.trim(), category: $('category').value,
    priority: $('priority').value, status: $('status').value });
  const newest = newestOf('inbox');
  const page = await api('/v1/agent/conversations?' + query);
  if (!newest()) return;
  const list = $('inbox');
  list.replaceChildren(...page.conversations.map((c) => {
    const mine = c.assignee === auth.account.id;
    const queued = c.status === 'agent' && !c.assignee;
    const button = el('button', { type: 'button' }, [
      el('span', { className: 'badge ' + c.status, textContent: c.status === 'agent' ? (c.assignee ? (mine ? 'yours' : 'claimed') : 'waiting') : c.status === 'automated' ? 'bot' : c.status }),
      ' ', el('strong', { className: 'who', textContent: customer(c) }), ' ',
      c.unread ? el('span', { className: 'unread', textContent: String(c.unread), title: 'unanswered customer messages' }) : '',
      queued && c.waitingSince ? el('span', { className: 'waited', textContent: ` waiting ${waited(c.waitingSince)}`, title: 'since ' + time(c.waitingSince) }) : '',
      el('span', { className: 'preview', textContent: c.preview || '' }),
      el('span', { className: 'meta' }, [
        `${c.category || 'unclassified'} · ${c.priority || '–'} · `,
        el('time', { className: 'ago', dateTime: c.updatedAt, textContent: ago(c.updatedAt), title: time(c.updatedAt) }),
      ]),
    ]);
    button.dataset.id = c.id;
    button.setAttribute('aria-current', String(c.id === openId));
    button.addEventListener('click', () => openConversation(c.id));
    return el('li', {}, button);
  }));
  if (!page.conversations.length) list.replaceChildren(el('li', { className: 'empty', textContent: 'Nothing here.' }));
  countWaiting();
}

// Customers waiting for a person, in the tab's title: seen from another
// tab; a short tone when a new one starts waiting (if the agent wants it).
let waitingIds = null;
async function countWaiting() {
  const newest = newestOf('waiting');
  const waiting = await api('/v1/agent/conversations?view=waiting&limit=100');
  if (!newest()) return;
  const n = waiting.conversations.length;
  document.title = (n ? `(${n}${waiting.nextCursor ? '+' : ''}) ` : '') + 'Spur console';
  const ids = new Set(waiting.conversations.map((c) => c.id));
  const arrived = waitingIds && [...ids].some((id) => !waitingIds.has(id));
  waitingIds = ids;
  if (arrived && $('sound').checked) chime();
}
function chime() {
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    tone.frequency.value = 880;
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
  } catch (_) { /* no audio here */ }
}
$('sound').checked = localStorage.getItem('spur.sound') === 'on';
$('sound').addEventListener('change', () => localStorage.setItem('spur.sound', $('sound').checked ? 'on' : 'off'));

async function openConversation(id) {
  openId = id;
  for (const b of $('inbox').querySelectorAll('button')) b.setAttribute('aria-current', String(b.dataset.id === id));
  const c = await api('/v1/agent/conversations/' + id + '?limit=200');
  if (openId !== id) return;
  current = c;
  const cls = c.classification;
  $('conv-head').replaceChildren(
    el('strong', { textContent: 'Conversation ' + c.id.slice(-8) + ' ' }),
    el('span', { className: 'badge ' + c.status, id: 'conv-status', textContent: c.status }),
    c.channel !== 'web' ? el('span', { className: 'badge channel', id: 'conv-channel', textContent: c.channel }) : '',
    replyWindow(c),
    el('div', { className: 'meta', id: 'classification', textContent: cls
      ? `${cls.category} · ${cls.priority} priority · ${Math.round(cls.confidence * 100)}% confidence` : 'not classified' }),
    el('div', { className: 'meta', id: 'escalation', textContent: c.escalationReason ? 'Handed over: ' + c.escalationReason.replaceAll('_', ' ') : '' }),
    // Left in the chat when nobody was there: the answer goes there too.
    el('div', { className: 'meta', id: 'contact' }, c.contactEmail
      ? ['Answer by email: ', el('a', { href: 'mailto:' + encodeURIComponent(c.contactEmail).replace('%40', '@'), textContent: c.contactEmail })] : []),
    el('div', { className: 'meta', id: 'conv-ticket' }),
    customerPanel(c.customer),
  );
  showConversationTicket(id);
  const log = $('messages');
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  // On WhatsApp and the like: where each message to the customer is.
  const delivery = new Map((c.deliveries || []).map((d) => [d.messageId, d]));
  const ticks = { queued: '· queued', sending: '· sending', sent: '· ✓ sent', delivered: '· ✓✓ delivered', read: '· ✓✓ read' };
  const messages = c.messages.map((m) => {
    const div = el('div', { className: 'msg', textContent: m.text });
    div.dataset.sender = m.sender;
    div.append(el('span', { className: 'meta', textContent: `${m.sender} · ${time(m.createdAt)}${m.meta && m.meta.usedFallback ? ' · fallback' : ''}` }));
    const d = delivery.get(m.id);
    if (d) {
      const failed = d.state === 'failed';
      const span = el('span', { className: 'meta delivery' + (failed ? ' failed' : ''), textContent: failed ? ` · not delivered: ${d.error || 'unknown error'}` : ` ${ticks[d.state] || d.state}` });
      span.dataset.state = d.state;
      div.append(span);
    }
    const tools = toolCalls(m.meta);
    if (tools) div.append(tools);
    const files = attachments(c.id, m);
    if (files) div.append(files);
    return [m.createdAt, div];
  });
  // Internal notes among the messages, by time; never shown to the customer.
  const notes = (c.notes || []).map((n) => {
    const div = el('div', { className: 'msg note', textContent: n.text });
    div.append(el('span', { className: 'meta', textContent: `internal note · ${n.authorName} · ${time(n.createdAt)}` }));
    return [n.createdAt, div];
  });
  log.replaceChildren(...[...messages, ...notes].sort((a, b) => new Date(a[0]) - new Date(b[0])).map(([, div]) => div));
  if (atBottom) log.scrollTop = log.scrollHeight;
  const mine = c.assignee === auth.account.id;
  $('claim').disabled = c.status === 'closed' || mine;
  $('handback').disabled = !mine;
  $('close').disabled = c.status === 'closed';
  // The owner, or an admin, hands it to a colleague.
  $('assign').disabled = c.status === 'closed' || !(mine || auth.role === 'admin');
  colleagues().then((list) => {
    $('assign').replaceChildren(el('option', { value: '', textContent: 'Hand to…' }),
      ...list.filter((a) => a.id !== c.assignee).map((a) => el('option', { value: a.id, textContent: a.name })));
  });

  // Admins take a closed conversation up again (to follow up).
  $('reopen').hidden = !(c.status === 'closed' && auth.role === 'admin');
  $('reply').disabled = $('send').disabled = !mine;
  $('note').disabled = $('add-note').disabled = false;
  // Why the reply box is off, in its own words.
  $('reply').placeholder = mine ? 'Write to the customer'
    : c.status === 'closed' ? (auth.role === 'admin' ? 'Closed: Reopen to write to the customer' : 'Closed: the customer reopens it by writing again')
    : c.assignee ? 'Another agent holds this conversation'
    : 'Claim the conversation to reply';
}

// Who is writing: their address, channel, first visit and their other
// conversations (tied by the address), each a click away.
let customerOpen = false;
function customerPanel(who) {
  const first = el('span', { textContent: ago(who.firstSeen), title: time(who.firstSeen) });
  const previous = who.previous.map((p) => {
    const b = el('button', { type: 'button', title: time(p.createdAt),
      textContent: `${ago(p.updatedAt)} · ${p.status}${p.preview ? ' · ' + p.preview : ''}` });
    b.dataset.id = p.id;
    b.addEventListener('click', () => openConversation(p.id));
    return el('li', {}, b);
  });
  const count = who.email ? `${who.previous.length}${who.more ? '+' : ''} other conversation${who.previous.length === 1 && !who.more ? '' : 's'}` : 'no address left';
  const panel = el('details', { id: 'customer', className: 'meta', open: customerOpen }, [
    el('summary', {}, [`Customer · ${who.email || 'anonymous'} · ${who.channel} · first seen `, first, ` · ${count}`]),
    previous.length ? el('ul', { ariaLabel: 'Previous conversations' }, previous)
      : el('p', { textContent: who.email ? 'No other conversations.' : 'Known by the address they leave; none yet.' }),
  ]);
  // Stays open or closed as the conversation refreshes.
  panel.addEventListener('toggle', () => { customerOpen = panel.open; });
  return panel;
}

async function act(action) {
  if (!openId) return;
  try { await api(`/v1/agent/conversations/${openId}/${action}`, { method: 'POST' }); }
  catch (err) { alert(err.message); }
  refresh();
}
let colleagueList = null;
async function colleagues() {
  colleagueList ??= api('/v1/agent/agents').catch(() => { colleagueList = null; return []; });
  return colleagueList;
}
$('assign').addEventListener('change', async () => {
  const to = $('assign').value;
  if (!to || !openId) return;
  try {
    await api(`/v1/agent/conversations/${openId}/assign`, { method: 'POST', body: JSON.stringify({ agentId: to }) });
  } catch (err) { alert(err.message); }
  refresh();
});
$('claim').addEventListener('click', () => act('claim'));
$('handback').addEventListener('click', () => act('handback'));
$('close').addEventListener('click', () => act('close'));
$('reopen').addEventListener('click', () => act('reopen'));
async function showConversationTicket(id) {
  const { tickets } = await api('/v1/tickets?conversationId=' + id);
  if (openId !== id) return;
  const t = tickets[0];
  $('conv-ticket').textContent = t ? `Ticket: ${t.title} · ${t.category || 'classifying…'} · ${t.status}` : '';
  $('make-ticket').disabled = !!t;
}
$('make-ticket').addEventListener('click', async () => {
  if (!openId) return;
  $('make-ticket').disabled = true;
  try { await api(`/v1/conversations/${openId}/ticket`, { method: 'POST' }); }
  catch (err) { alert(err.message); }
  showConversationTicket(openId);
});
$('reply-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = $('reply').value.trim();
  if (!text || !openId) return;
  typingSent = 0; // the next keystroke starts a new burst
  $('send').disabled = true;
  try {
    await api(`/v1/agent/conversations/${openId}/reply`, { method: 'POST', body: JSON.stringify({ text }) });
    $('reply').value = '';
  } catch (err) { alert(err.message); }
  refresh();
  $('reply').focus();
});
$('note-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = $('note').value.trim();
  if (!text || !openId) return;
  try {
    await api(`/v1/agent/conversations/${openId}/notes`, { method: 'POST', body: JSON.stringify({ text }) });
    $('note').value = '';
  } catch (err) { alert(err.message); }
  openConversation(openId);
});
// Canned replies: "/" at the start of the reply box lists the matching
// ones; a click or Tab puts the first (or the clicked) one in the box.
let cannedList = null;
async function canned() {
  cannedList ??= api('/v1/agent/canned').catch(() => { cannedList = null; return []; });
  return cannedList;
}
async function showCanned() {
  const typed = /^\/([a-z0-9-]*)$/.exec($('reply').value);
  if (!typed) { $('canned').hidden = true; return; }
  const matches = (await canned()).filter((c) => c.shortcut.startsWith(typed[1]));
  $('canned').replaceChildren(...matches.map((c) => {
    const b = el('button', { type: 'button', textContent: `/${c.shortcut} · ${c.text.slice(0, 80)}` });
    b.addEventListener('click', () => useCanned(c));
    return el('li', {}, b);
  }));
  $('canned').hidden = !matches.length;
}
function useCanned(c) {
  $('reply').value = c.text;
  $('canned').hidden = true;
  $('reply').focus();
}
$('reply').addEventListener('input', showCanned);
$('reply').addEventListener('keydown', async (e) => {
  if (e.key !== 'Tab' || $('canned').hidden) return;
  e.preventDefault();
  $('canned').querySelector('button')?.click();
});
$('save-canned').addEventListener('click', async () => {
  const text = $('reply').value.trim();
  if (!text) { alert('Write the reply first, then save it.'); return; }
  const shortcut = prompt('Shortcut (a-z, 0-9, -): type /shortcut to insert it');
  if (!shortcut) return;
  try {
    await api('/v1/agent/canned/' + encodeURIComponent(shortcut.replace(/^\//, '')), { method: 'PUT', body: JSON.stringify({ text }) });
    cannedList = null;
  } catch (err) { alert(err.message); }
});
let typingShown = null;
function customerTyping(data) {
  if (data.sender !== 'customer' || data.conversationId !== openId) return;
  $('typing').textContent = 'The customer is typing…';
  clearTimeout(typingShown);
  typingShown = setTimeout(() => { $('typing').textContent = ''; }, 3000);
}
let typingSent = 0;
$('reply').addEventListener('input', () => {
  if (!openId || Date.now() - typingSent < 2000) return;
  typingSent = Date.now();
  api(`/v1/agent/conversations/${openId}/typing`, { method: 'POST' }).catch(() => {});
});
$('reply').addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); $('reply-form').requestSubmit(); } });

// Tickets, 50 a page ("Load more" appends the next).
let ticketCursor = null;
async function loadTickets(more = false) {
  const query = new URLSearchParams({ limit: '50', total: 'true', q: $('ticket-q').value.trim(),
    status: $('ticket-status').value, category: $('ticket-category').value, aiStatus: $('ticket-ai').value });
  if (more && ticketCursor) query.set('cursor', ticketCursor);
  const newest = newestOf('tickets');
  const page = await api('/v1/tickets?' + query);
  if (!newest()) return;
  ticketCursor = page.nextCursor || null;
  $('ticket-total').textContent = `${page.total} ticket${page.total === 1 ? '' : 's'}`;
  $('tickets-more').hidden = !ticketCursor;
  const rows = page.tickets.map((t) => {
    // An agent's choice of category or priority: kept over the classifier's.
    const choose = (field, names, label) => {
      const select = el('select', { ariaLabel: `${label} of ${t.title}` },
        names.map((n) => el('option', { value: n, textContent: n, selected: n === t[field] })));
      if (!t[field]) select.prepend(el('option', { value: '', textContent: '–', selected: true }));
      select.addEventListener('change', () => updateTicket(t.id, { [field]: select.value }));
      return el('td', {}, [select, t[field + 'Overridden'] ? el('div', { className: 'overridden', textContent: 'set by an agent' }) : '']);
    };
    const toggle = el('button', { type: 'button', textContent: t.status === 'open' ? 'Close ticket' : 'Reopen' });
    toggle.addEventListener('click', () => updateTicket(t.id, { status: t.status === 'open' ? 'closed' : 'open' }));
    // The whole description on expand.
    const description = t.description.length > 160
      ? el('details', { className: 'meta' }, [el('summary', { textContent: t.description.slice(0, 160) + '…' }), el('p', { textContent: t.description })])
      : el('div', { className: 'meta', textContent: t.description });
    const row = el('tr', {}, [
      el('td', { textContent: time(t.createdAt) }),
      el('td', {}, [el('strong', { textContent: t.title }), description]),
      choose('category', taxonomy.categories, 'Category'),
      choose('priority', taxonomy.priorities, 'Priority'),
      el('td', { className: 'ai', textContent: t.aiStatus + (t.aiConfidence ? ` · ${Math.round(t.aiConfidence * 100)}%` : '') + (t.aiReason ? ` (${t.aiReason})` : '') }),
      el('td', { className: 'status', textContent: t.status }),
      el('td', {}, toggle),
    ]);
    row.dataset.id = t.id;
    return row;
  });
  if (more) $('tickets').append(...rows);
  else $('tickets').replaceChildren(...rows);
}
async function updateTicket(id, change) {
  try { await api('/v1/tickets/' + id, { method: 'PATCH', body: JSON.stringify(change) }); }
  catch (err) { alert(err.message); }
  loadTickets();
}
let ticketTyping = null;
$('ticket-q').addEventListener('input', () => { clearTimeout(ticketTyping); ticketTyping = setTimeout(() => loadTickets(), 250); });
for (const id of ['ticket-status', 'ticket-category', 'ticket-ai']) $(id).addEventListener('change', () => loadTickets());
$('tickets-more').addEventListener('click', () => loadTickets(true));
$('ticket-filters').addEventListener('submit', (e) => { e.preventDefault(); loadTickets(); });
$('new-ticket').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('ticket-error').textContent = '';
  try {
    await api('/v1/tickets', { method: 'POST', body: JSON.stringify({ title: $('ticket-title').value, description: $('ticket-description').value }) });
    e.target.reset();
  } catch (err) { $('ticket-error').textContent = err.message; }
  loadTickets();
});

async function loadLogs() {
  const newest = newestOf('logs');
  const page = await api('/v1/admin/logs?limit=100' + ($('fallbacks-only').checked ? '&fallbacks=true' : ''));
  if (!newest()) return;
  const t = page.totals;
  $('totals').textContent = `${t.replies} replies · ${t.fallbacks} fallbacks · ${t.tokensIn} tokens in / ${t.tokensOut} out` +
    (t.costUsd == null ? '' : ` · $${t.costUsd.toFixed(4)}`);
  $('logs').replaceChildren(...page.entries.map((e) => el('tr', {}, [
    el('td', { textContent: time(e.createdAt) }),
    el('td', { textContent: e.conversationId.slice(-8) }),
    el('td', { textContent: `${e.provider || ''} ${e.model || ''}` }),
    el('td', { textContent: e.latencyMs == null ? '' : e.latencyMs + ' ms' }),
    el('td', { textContent: `${e.tokensIn ?? '–'} / ${e.tokensOut ?? '–'}` }),
    el('td', { textContent: e.usedFallback ? 'yes' + (e.errorCode ? ` (${e.errorCode})` : '') : '' }),
    el('td', { textContent: e.passages.join(', ') }),
    el('td', { textContent: e.text.length > 120 ? e.text.slice(0, 120) + '…' : e.text }),
  ])));
}
$('fallbacks-only').addEventListener('change', loadLogs);

// The LLM budget: a banner for admins at 80% and past 100% (the offline
// responder is answering), and on a token spike.
function showBudget(budget) {
  const banner = $('budget-banner');
  const worst = [budget?.day && ['today', budget.day], budget?.month && ['this month', budget.month]].filter(Boolean)
    .sort((a, b) => b[1].ratio - a[1].ratio)[0];
  const words = [];
  if (budget?.warning && worst) {
    const [when, p] = worst;
    words.push(budget.exceeded
      ? `The assistant's budget for ${when} is spent ($${p.spentUsd.toFixed(2)} of $${p.limitUsd.toFixed(2)}): the offline responder answers until it renews.`
      : `${Math.floor(p.ratio * 100)}% of the assistant's budget for ${when} is spent ($${p.spentUsd.toFixed(2)} of $${p.limitUsd.toFixed(2)}).`);
  }
  if (budget?.spike) words.push('Token use spiked in the last hour.');
  banner.textContent = words.join(' ');
  banner.classList.toggle('spent', Boolean(budget?.exceeded));
  banner.hidden = words.length === 0;
}
async function checkBudget() {
  if (!(auth && auth.role === 'admin')) return;
  const today = new Date().toISOString().slice(0, 10);
  try { showBudget((await api(`/v1/admin/analytics?from=${today}&to=${today}`)).budget); } catch (_) { /* the banner waits */ }
}

// Analytics: the figures from /v1/admin/analytics as cards and charts
// (uPlot, loaded the first time the tab opens).
let uplotReady = null;
function loadUplot() {
  uplotReady ??= new Promise((ok, fail) => {
    const tag = el('script', { src: '/assets/uplot.js' });
    tag.onload = ok; tag.onerror = () => { uplotReady = null; fail(new Error('charts did not load')); };
    document.head.append(tag);
  });
  return uplotReady;
}
function analyticsQuery() {
  const q = new URLSearchParams();
  for (const [key, id] of [['from', 'an-from'], ['to', 'an-to'], ['channel', 'an-channel']]) if ($(id).value) q.set(key, $(id).value);
  return q.toString();
}
const percent = (v) => v == null ? '–' : `${(v * 100).toFixed(1)}%`;
const seconds = (ms) => ms == null ? '–' : ms < 1000 ? `${ms} ms` : ms < 120000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60000)} min`;
const charts = {};
function chart(id, opts, data) {
  charts[id]?.destroy();
  const box = $(id);
  box.replaceChildren();
  charts[id] = new uPlot({ width: Math.max(300, box.clientWidth || 420), height: 220, legend: { show: opts.series.length > 2 }, ...opts }, data, box);
}
function bars(label, color) {
  return { label, fill: color + 'bb', stroke: color, paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false } };
}
// Categories (hours, scores, buckets) on an index axis labelled by `names`.
const categories = (names) => ({ x: { time: false, range: [-0.5, names.length - 0.5] } });
const categoryAxis = (names) => ({ values: (u, ticks) => ticks.map((t) => names[t] ?? ''), splits: () => names.map((_, i) => i) });
async function loadAnalytics() {
  const newest = newestOf('analytics');
  let report;
  try {
    [report] = await Promise.all([api('/v1/admin/analytics?' + analyticsQuery()), loadUplot()]);
    $('an-error').textContent = '';
  } catch (err) { $('an-error').textContent = err.message; return; }
  if (!newest()) return;
  showBudget(report.budget);
  const t = report.totals;
  if (!$('an-from').value) { $('an-from').value = report.from; $('an-to').value = report.to; }
  $('an-zone').textContent = `Days in ${report.timeZone}`;
  const card = (label, value, detail = '') => el('div', { className: 'card' }, [el('span', { className: 'meta', textContent: label }), el('b', { textContent: value }), el('span', { className: 'meta', textContent: detail })]);
  $('an-cards').replaceChildren(
    card('Conversations', String(t.conversations), `${t.settled} settled`),
    card('Resolved by the assistant', percent(t.automatedResolutionRate), `${t.automatedResolutions} of ${t.settled} settled`),
    card('Handed to a person', percent(t.handoffRate), `${t.handoffs} conversations`),
    card('Fallback replies', percent(t.fallbackRate), `${t.fallbacks} of ${t.replies} replies`),
    card('Helpful?', `${t.feedback.up} yes · ${t.feedback.down} no`, `assistant ${t.feedback.bot.up}/${t.feedback.bot.down}, people ${t.feedback.agent.up}/${t.feedback.agent.down}`),
    card('Satisfaction', t.csat.average == null ? '–' : `${t.csat.average.toFixed(2)} / 5`, `${t.csat.count} scores · assistant ${t.csat.bot.average?.toFixed(1) ?? '–'}, people ${t.csat.human.average?.toFixed(1) ?? '–'}`),
    card('First answer', seconds(t.firstResponseBot.p50Ms), `median; a person: ${seconds(t.firstResponseHuman.p50Ms)}`),
    card('Cost', t.costUsd == null ? 'no prices set' : `$${t.costUsd.toFixed(4)}`, `${t.tokensIn} tokens in / ${t.tokensOut} out`),
  );
  const days = report.days.map((d) => Date.parse(d.day + 'T12:00:00Z') / 1000);
  const rate = (v) => v == null ? null : v * 100;
  chart('chart-rates', {
    series: [{}, { label: 'Resolved by the assistant', stroke: '#16a34a', width: 2, spanGaps: true }, { label: 'Handed off', stroke: '#dc2626', width: 2, spanGaps: true }],
    scales: { y: { range: [0, 100] } },
  }, [days, report.days.map((d) => rate(d.automatedResolutionRate)), report.days.map((d) => rate(d.handoffRate))]);
  const hours = Array.from({ length: 24 }, (_, h) => String(h).padStart(2, '0'));
  chart('chart-hours', { scales: categories(hours), axes: [categoryAxis(hours), {}], series: [{}, bars('Conversations', '#2563eb')] },
    [hours.map((_, i) => i), t.byHour]);
  const limit = report.budget?.day?.limitUsd;
  chart('chart-cost', { series: [{}, bars('USD', '#7c3aed'), ...(limit ? [{ label: 'Daily budget', stroke: '#dc2626', dash: [6, 4], points: { show: false } }] : [])] },
    [days, report.days.map((d) => d.costUsd ?? 0), ...(limit ? [report.days.map(() => limit)] : [])]);
  const scores = ['1', '2', '3', '4', '5'];
  chart('chart-csat', { scales: categories(scores), axes: [categoryAxis(scores), {}], series: [{}, bars('Scores', '#f59e0b')] },
    [scores.map((_, i) => i), t.csat.distribution]);
  const bounds = [...t.latency.boundsMs.map((b) => '<' + seconds(b)), '≥' + seconds(t.latency.boundsMs.at(-1))];
  chart('chart-latency', { scales: categories(bounds), axes: [categoryAxis(bounds), {}], series: [{}, bars('Replies', '#0891b2')] },
    [bounds.map((_, i) => i), t.latency.buckets]);
  const rows = (map) => Object.entries(map).sort((a, b) => b[1] - a[1]).map(([k, n]) => el('tr', {}, [el('td', { textContent: k }), el('td', { textContent: String(n) })]));
  $('an-reasons').replaceChildren(...rows(t.handoffReasons));
  $('an-fallbacks').replaceChildren(...rows(t.fallbackCodes));
  const span = Math.min(365, Math.max(1, report.days.length));
  try {
    const gaps = await api(`/v1/admin/knowledge/gaps?days=${span}`);
    $('an-unanswered').replaceChildren(...gaps.groups.slice(0, 5).map((g) => el('li', { textContent: `${g.question} (${g.count}×)` })));
  } catch (_) { /* the figures above stand without it */ }
}
for (const id of ['an-from', 'an-to', 'an-channel']) $(id).addEventListener('change', loadAnalytics);
$('an-csv').addEventListener('click', async () => {
  const res = await fetch('/v1/admin/analytics?format=csv&' + analyticsQuery(), { headers: { authorization: 'Bearer ' + auth.token } });
  if (!res.ok) { $('an-error').textContent = 'The CSV could not be made.'; return; }
  const url = URL.createObjectURL(await res.blob());
  const name = (res.headers.get('content-disposition') || '').match(/filename="([^"]+)"/)?.[1] || 'spur-analytics.csv';
  const link = el('a', { href: url, download: name });
  document.body.append(link); link.click(); link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
});

async function loadAgents() {
  const { accounts } = await api('/v1/admin/agents');
  $('agents').replaceChildren(...accounts.map((a) => {
    const toggle = el('button', { type: 'button', textContent: a.disabled ? 'Enable' : 'Disable' });
    toggle.disabled = a.id === auth.account.id;
    toggle.addEventListener('click', async () => {
      try { await api('/v1/admin/agents/' + a.id, { method: 'PATCH', body: JSON.stringify({ disabled: !a.disabled }) }); }
      catch (err) { alert(err.message); }
      loadAgents();
    });
    return el('tr', {}, [
      el('td', { textContent: a.email }), el('td', { textContent: a.name }), el('td', { textContent: a.role }),
      el('td', { textContent: a.disabled ? 'disabled' : 'active' }), el('td', {}, toggle),
    ]);
  }));
}
$('new-agent').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('agent-error').textContent = '';
  try {
    await api('/v1/admin/agents', { method: 'POST', body: JSON.stringify({
      email: $('agent-email').value, name: $('agent-name').value, password: $('agent-password').value, role: $('agent-role').value }) });
    e.target.reset();
  } catch (err) { $('agent-error').textContent = err.message; }
  loadAgents();
});

// Knowledge: what is loaded, "try a question" (ranked passages, the answer,
// the grounding verdict) and the questions it could not answer.
async function loadKnowledge() {
  const [kb, gaps] = await Promise.all([api('/v1/admin/knowledge'), api('/v1/admin/knowledge/gaps?days=30')]);
  $('knowledge-facts').textContent = kb.facts;
  $('knowledge-problems').replaceChildren(...kb.problems.map((p) => el('li', { className: 'problem', textContent: p })));
  $('knowledge-sections').replaceChildren(...kb.sections.map((s) => el('tr', {}, [
    el('td', { textContent: s.title }), el('td', { textContent: s.source }),
    el('td', { textContent: String(s.chars) }), el('td', { textContent: s.policy ? 'yes' : '' }),
  ])));
  loadFiles();
  $('knowledge-gaps').replaceChildren(...gaps.groups.map((g) => el('tr', {}, [
    el('td', { textContent: g.question }), el('td', { textContent: String(g.count) }),
    el('td', { textContent: g.kinds.join(', ') }), el('td', { textContent: g.examples.join(' · ') }),
  ])));
}
// The directory's files (none listed with the built-in demo knowledge).
async function loadFiles() {
  let files = [];
  try { ({ files } = await api('/v1/admin/knowledge/files')); } catch (_) { /* the demo: no directory */ }
  $('upload-form').hidden = files.length === 0;
  $('import-form').hidden = files.length === 0;
  $('knowledge-files').replaceChildren(...files.map((f) => {
    const remove = el('button', { type: 'button', textContent: 'Delete' });
    remove.addEventListener('click', async () => {
      if (!confirm(`Delete ${f.name}?`)) return;
      $('knowledge-error').textContent = '';
      try { await api('/v1/admin/knowledge/files/' + encodeURIComponent(f.name), { method: 'DELETE' }); }
      catch (err) { $('knowledge-error').textContent = err.message; }
      loadKnowledge();
    });
    return el('tr', {}, [el('td', { textContent: f.name }), el('td', { textContent: `${f.bytes} bytes` }), el('td', {}, remove)]);
  }));
}
// Text files go as text; PDFs (binary) as base64.
async function fileBody(file) {
  if (!/\.pdf$/i.test(file.name)) return { content: await file.text() };
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { contentBase64: btoa(binary) };
}
$('upload-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const file = $('upload-file').files[0];
  if (!file) return;
  $('upload-status').textContent = '';
  try {
    const saved = await api('/v1/admin/knowledge/files/' + encodeURIComponent(file.name), {
      method: 'PUT', body: JSON.stringify(await fileBody(file)) });
    $('upload-status').textContent = `${saved.name}: ${saved.sections} sections saved (${saved.totalSections} in all)`;
    e.target.reset();
  } catch (err) { $('upload-status').textContent = err.message; }
  loadKnowledge();
});
// A page or a sitemap's pages, fetched by the server (robots.txt respected).
$('import-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('import-status').textContent = 'Importing…';
  $('import-skipped').replaceChildren();
  try {
    const done = await api('/v1/admin/knowledge/urls', {
      method: 'POST', body: JSON.stringify({ url: $('import-url').value }) });
    const sections = done.files.reduce((n, f) => n + f.sections, 0);
    $('import-status').textContent = `${done.files.length} pages imported, ${sections} sections `
      + `(${done.totalSections} in all)` + (done.skipped.length ? `; ${done.skipped.length} skipped` : '');
    $('import-skipped').replaceChildren(...done.skipped.map((s) => el('li', { textContent: `${s.url}: ${s.reason}` })));
    e.target.reset();
  } catch (err) { $('import-status').textContent = err.message; }
  loadKnowledge();
});
const pct = (x) => (x == null ? '–' : Math.round(x * 100) + '%');
$('try-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('knowledge-error').textContent = '';
  try {
    const tried = await api('/v1/admin/knowledge/try', { method: 'POST', body: JSON.stringify({ question: $('try-question').value }) });
    $('try-reply').textContent = tried.reply;
    $('try-verdict').textContent = tried.handoff ? 'Hands the conversation to a person.'
      : `Grounding: ${tried.grounding || 'not checked'}` + (tried.unsupported.length ? ` · removed: ${tried.unsupported.join(', ')}` : '')
        + (tried.sources.length ? ` · sources: ${tried.sources.join(', ')}` : '');
    $('try-passages').replaceChildren(...tried.passages.map((p) => el('tr', {}, [
      el('td', { textContent: p.title }), el('td', { textContent: pct(p.confidence) }),
      el('td', { textContent: p.similarity == null ? '–' : p.similarity.toFixed(2) }),
      el('td', { textContent: p.score.toFixed(3) }), el('td', { textContent: p.excerpt }),
    ])));
    $('try-result').hidden = false;
  } catch (err) { $('knowledge-error').textContent = err.message; }
});
$('reload-knowledge').addEventListener('click', async () => {
  $('knowledge-error').textContent = '';
  try { await api('/v1/admin/knowledge/reload', { method: 'POST' }); } catch (err) { $('knowledge-error').textContent = err.message; }
  loadKnowledge();
});

// The live feed: fetch streaming (EventSource cannot send a bearer token).
// Any event refreshes the visible lists; a dropped stream reconnects.
let pending = null;
// Analytics is a report over days: it reloads when asked, not per message.
function soon() { if (view === 'analytics') return; clearTimeout(pending); pending = setTimeout(refresh, 100); }
async function live() {
  if (liveAbort) liveAbort.abort();
  const abort = new AbortController();
  liveAbort = abort;
  while (!abort.signal.aborted && auth) {
    try {
      const res = await fetch('/v1/agent/events', { headers: { authorization: 'Bearer ' + auth.token }, signal: abort.signal });
      if (res.status === 401) { signOut(); return; }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end); buffer = buffer.slice(end + 2);
          const name = (block.match(/^event: ?(.*)$/m) || [])[1];
          const data = JSON.parse((block.match(/^data: ?(.*)$/m) || [])[1] || '{}');
          if (name === 'ready') document.body.dataset.live = 'true';
          else if (name === 'typing') customerTyping(data);
          else if (name) soon();
        }
      }
    } catch (_) {
      if (abort.signal.aborted) return;
    }
    document.body.dataset.live = 'false';
    await new Promise((r) => setTimeout(r, 1000));
    soon();
  }
}

showSignedIn();

// Relative times stay true while the page is open.
setInterval(() => { for (const t of document.querySelectorAll('time.ago')) t.textContent = ago(t.dateTime); }, 30000);

// The tools the bot called for a reply (arguments as recorded, secret
// fields redacted), and a change waiting for the customer's yes.
function toolCalls(meta) {
  const args = (a) => (a && typeof a === 'object' && !Array.isArray(a)
    ? Object.entries(a).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ')
    : JSON.stringify(a));
  const lines = ((meta && meta.tools) || []).map((t) => `${t.tool}(${args(t.arguments)}) → ${t.outcome.replaceAll('_', ' ')}`
    + ` · ${t.latency_ms} ms${t.summary ? ' · ' + t.summary : ''}`);
  if (meta && meta.confirm) lines.push(`waiting for the customer's yes: ${meta.confirm.tool}(${args(meta.confirm.arguments)})`);
  return lines.length ? el('ul', { className: 'tools' }, lines.map((line) => el('li', { textContent: line }))) : null;
}
