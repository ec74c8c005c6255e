// The minimal demo page (the wasm widget replaces it). Messages are drawn
// from the conversation's live feed, so agent replies arrive without a
// reload; the feed resumes with Last-Event-ID after a network cut.
const log = document.getElementById('log'), form = document.getElementById('form'), text = document.getElementById('text');
const statusLine = document.getElementById('status');
let session = localStorage.getItem('spur.session');
let feed = null;
let withAgent = false;
let typingShown = null;
let typingSent = 0;
const shown = new Set();
function bubble(sender, body) {
  const div = document.createElement('div');
  div.className = 'msg'; div.dataset.sender = sender; div.textContent = body;
  log.appendChild(div); log.scrollTop = log.scrollHeight;
  return div;
}
function stored(m) {
  if (shown.has(m.id)) return;
  shown.add(m.id);
  // The customer's own message was drawn when sent: adopt that bubble.
  const pending = m.sender === 'customer' && [...log.querySelectorAll('.msg[data-pending]')].find((d) => d.textContent === m.text);
  if (pending) { delete pending.dataset.pending; pending.dataset.id = m.id; return; }
  bubble(m.sender, m.text).dataset.id = m.id;
}
function listen() {
  if (feed || !session) return;
  feed = new EventSource('/v1/chat/events/' + session);
  feed.addEventListener('message', (e) => stored(JSON.parse(e.data)));
  feed.addEventListener('typing', () => {
    statusLine.textContent = 'A person is typing…';
    clearTimeout(typingShown);
    typingShown = setTimeout(() => { statusLine.textContent = withAgent ? 'You are chatting with a person.' : ''; }, 3000);
  });
  feed.addEventListener('status', (e) => {
    const s = JSON.parse(e.data);
    withAgent = s.status === 'agent' && s.withAgent;
    statusLine.textContent = s.status === 'agent' ? (s.withAgent ? 'You are chatting with a person.' : 'Waiting for a person to join…') : '';
  });
  feed.addEventListener('error', () => {
    if (feed.readyState === EventSource.CLOSED) { feed = null; setTimeout(listen, 2000); }
  });
}
async function start() {
  if (!session) return;
  const res = await fetch('/v1/chat/history/' + session + '?limit=1');
  if (res.status === 404) { localStorage.removeItem('spur.session'); session = null; return; }
  listen();
}
// A dropped connection or a balancer's 502/503/504 while an instance
// restarts: sent again with the same key (stored once), after a jittered
// pause, three times before the customer is told.
async function post(body) {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch('/v1/chat/message', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (![502, 503, 504].includes(res.status) || attempt === 3) return res;
    } catch (err) { if (attempt === 3) throw err; }
    await new Promise((ok) => setTimeout(ok, 300 * 2 ** attempt * (0.5 + Math.random())));
  }
}
form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const message = text.value.trim();
  if (!message) return;
  text.value = '';
  typingSent = 0; // the next keystroke starts a new burst
  bubble('customer', message).dataset.pending = '';
  const button = form.querySelector('button'); button.disabled = true;
  try {
    const res = await post({ message, sessionId: session ?? undefined, idempotencyKey: crypto.randomUUID() });
    const data = await res.json().catch(() => null);
    if (!res.ok) { bubble('system', data?.error?.message ?? 'The chat is busy, please try again.'); return; }
    session = data.sessionId; localStorage.setItem('spur.session', session);
    listen();
  } catch (err) { bubble('system', 'Network error, please try again.'); }
  finally { button.disabled = false; text.focus(); }
});
text.addEventListener('input', () => {
  if (!session || Date.now() - typingSent < 2000) return;
  typingSent = Date.now();
  fetch('/v1/chat/typing', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sessionId: session }) }).catch(() => {});
});
text.addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); } });
start();
