// nw0 dashboard: the names on the network, live (Server-Sent Events from
// /events), grouped by machine; click a name to watch its news (/news) or
// send it a message or a command (/send).
//
// Everything that came from the network goes into the page as text
// (textContent, setAttribute): never as markup, so a name like
// <img src=x onerror=...> is shown, not run.
'use strict';

const STATUS = {
  alive: { icon: '●', word: 'alive' },
  goodbye: { icon: '○', word: 'said goodbye' },
  expired: { icon: '✕', word: 'expired' },
};
const MANY = 60; // names from which rows get compact

const $ = (id) => document.getElementById(id);
const rows = new Map(); // name -> { data, at, el, parts }
const machines = new Map(); // ip -> { el, list, count }
let selected = null; // a name
let news = null; // the EventSource of the watched name

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function ago(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return s + ' s ago';
  const m = Math.floor(s / 60);
  if (m < 60) return m + ' min ago';
  return Math.floor(m / 60) + ' h ago';
}

// IPs sort as numbers: 10.0.0.9 before 10.0.0.10.
function ipKey(ip) {
  return ip.split('.').map((p) => p.padStart(3, '0')).join('.');
}

function machine(ip) {
  let m = machines.get(ip);
  if (m) return m;
  const section = el('section', 'machine');
  section.setAttribute('data-ip', ip);
  const h = el('h2');
  h.append(el('span', 'ip', ip), el('span', 'count'));
  const list = el('ul');
  section.append(h, list);
  m = { el: section, list, count: h.lastChild };
  machines.set(ip, m);
  const container = $('machines');
  const after = [...container.children].find((c) => ipKey(c.getAttribute('data-ip')) > ipKey(ip));
  container.insertBefore(section, after || null);
  return m;
}

function newRow(name) {
  const li = el('li', 'row');
  li.setAttribute('data-name', name);
  const button = el('button', 'name', name);
  button.type = 'button';
  button.title = name;
  button.addEventListener('click', () => select(name));
  const parts = { name: button, port: el('span', 'port'), state: el('span', 'state'), heard: el('span', 'heard') };
  li.append(parts.name, parts.port, parts.state, parts.heard);
  return { el: li, parts };
}

function place(row, ip) {
  const m = machine(ip);
  if (row.el.parentNode === m.list) return;
  const old = row.el.parentNode;
  const after = [...m.list.children].find((c) => c.getAttribute('data-name') > row.data.name);
  m.list.insertBefore(row.el, after || null);
  if (old) tidy(old.parentNode.getAttribute('data-ip'));
}

// A machine with no names left goes.
function tidy(ip) {
  const m = machines.get(ip);
  if (m && m.list.children.length === 0) {
    m.el.remove();
    machines.delete(ip);
  }
}

function upsert(data, at) {
  let row = rows.get(data.name);
  if (!row) {
    row = newRow(data.name);
    rows.set(data.name, row);
  }
  row.data = data;
  row.at = at;
  row.el.setAttribute('data-status', data.status);
  const port = data.address.slice(data.address.lastIndexOf(':') + 1);
  row.parts.port.textContent = ':' + port;
  const s = STATUS[data.status] || STATUS.expired;
  row.parts.state.textContent = s.icon + ' ' + s.word;
  place(row, data.ip);
  showAge(row, at);
  if (selected === data.name) showDetail();
}

function forget(name) {
  const row = rows.get(name);
  if (!row) return;
  rows.delete(name);
  row.el.remove();
  tidy(row.data.ip);
  if (selected === name) select(null);
}

function showAge(row, now) {
  const d = row.data;
  const since = now - row.at;
  row.parts.heard.textContent = d.status === 'alive'
    ? 'heard ' + ago(d.heard_ms + since)
    : 'left ' + ago(d.since_ms + since);
}

function summarise() {
  let alive = 0;
  let left = 0;
  for (const r of rows.values()) (r.data.status === 'alive' ? alive++ : left++);
  for (const m of machines.values()) {
    const n = m.list.children.length;
    m.count.textContent = n + (n === 1 ? ' name' : ' names');
  }
  const machinesWord = machines.size === 1 ? ' machine' : ' machines';
  $('summary').textContent = alive + (alive === 1 ? ' name' : ' names') + ' on ' + machines.size + machinesWord
    + (left ? ' · ' + left + ' left' : '');
  $('empty').hidden = rows.size > 0;
  document.body.classList.toggle('many', rows.size >= MANY);
  applyFilter();
}

function applyFilter() {
  const q = $('filter').value.trim().toLowerCase();
  for (const m of machines.values()) {
    let shown = 0;
    for (const li of m.list.children) {
      const hit = !q || li.getAttribute('data-name').toLowerCase().includes(q) || m.el.getAttribute('data-ip').includes(q);
      li.hidden = !hit;
      if (hit) shown++;
    }
    m.el.hidden = shown === 0;
  }
}

function setLink(state, text) {
  $('link').setAttribute('data-state', state);
  $('link').firstElementChild.textContent = state === 'live' ? '●' : '◌';
  $('link-text').textContent = text;
}

// ---- the live list -----------------------------------------------------------

const names = new EventSource('/events');
names.addEventListener('open', () => setLink('live', 'live'));
names.addEventListener('error', () => setLink('lost', 'reconnecting…'));
names.addEventListener('names', (e) => {
  const now = performance.now();
  const list = JSON.parse(e.data);
  const keep = new Set(list.map((d) => d.name));
  for (const name of [...rows.keys()]) if (!keep.has(name)) forget(name);
  for (const d of list) upsert(d, now);
  summarise();
});
names.addEventListener('changes', (e) => {
  const now = performance.now();
  const c = JSON.parse(e.data);
  for (const d of c.updated) upsert(d, now);
  for (const name of c.forgotten) forget(name);
  summarise();
});
names.addEventListener('failed', (e) => setLink('lost', JSON.parse(e.data).error));
names.addEventListener('notice', (e) => {
  $('notice').textContent = '⚠ ' + JSON.parse(e.data).warning;
  $('notice').hidden = false;
});

// Ages count on with the page's own clock between events.
setInterval(() => {
  const now = performance.now();
  for (const r of rows.values()) showAge(r, now);
}, 1000);

$('filter').addEventListener('input', applyFilter);

// ---- one name: details, news, send -------------------------------------------

function select(name) {
  stopWatching();
  for (const r of rows.values()) r.el.classList.toggle('selected', r.data.name === name);
  selected = name;
  $('detail').hidden = name === null;
  $('send-result').textContent = '';
  $('send-state').textContent = '';
  clearNews();
  if (name !== null) showDetail();
}

function showDetail() {
  const row = rows.get(selected);
  if (!row) return;
  const d = row.data;
  const s = STATUS[d.status] || STATUS.expired;
  $('d-name').textContent = d.name;
  $('d-where').textContent = 'at ' + d.address + ' (machine ' + d.ip + ')';
  $('d-status').textContent = s.icon + ' ' + s.word;
  $('d-status').className = d.status === 'alive' ? 'ok' : 'bad';
}

function clearNews() {
  for (const id of ['news-state', 'news-rate', 'news-topics', 'news-items']) $(id).textContent = '';
}

function stopWatching() {
  if (news) news.close();
  news = null;
  $('watch').textContent = 'Watch its news';
  $('watch').setAttribute('aria-pressed', 'false');
}

function watch() {
  if (news) {
    stopWatching();
    $('news-state').textContent = 'Stopped watching.';
    return;
  }
  const row = rows.get(selected);
  if (!row) return;
  clearNews();
  $('news-state').textContent = 'Waiting for news from ' + row.data.address + '…';
  $('watch').textContent = 'Stop watching';
  $('watch').setAttribute('aria-pressed', 'true');
  news = new EventSource('/news?address=' + encodeURIComponent(row.data.address));
  news.addEventListener('news', (e) => showNews(JSON.parse(e.data)));
  const refused = (e) => {
    stopWatching();
    $('news-state').textContent = '✕ ' + JSON.parse(e.data).error;
  };
  news.addEventListener('refused', refused);
  news.addEventListener('failed', refused);
}

function showNews(n) {
  $('news-state').textContent = n.items === 0 ? 'Watching: no news yet.' : 'Watching.';
  $('news-rate').textContent = n.items + (n.items === 1 ? ' item' : ' items') + ' · ' + n.per_second + ' per second';
  const topics = $('news-topics');
  topics.textContent = '';
  for (const t of n.topics) topics.append(el('li', null, t.topic + ': ' + t.items));
  if (n.other_topics) topics.append(el('li', null, 'other topics: ' + n.other_topics));
  const items = $('news-items');
  items.textContent = '';
  for (const item of n.last) {
    const li = el('li');
    li.append(el('span', 'topic', item.topic), el('span', 'note', ' ' + ago(item.ms_ago)), el('pre', null, item.data));
    items.append(li);
  }
}

async function send(kind) {
  const row = rows.get(selected);
  if (!row) return;
  const result = $('send-result');
  const state = $('send-state');
  result.textContent = '';
  state.className = 'note';
  state.textContent = 'Sending to ' + row.data.address + '…';
  let answer;
  try {
    const r = await fetch('/send', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ address: row.data.address, kind, text: $('send-text').value }),
    });
    answer = await r.json();
  } catch (err) {
    answer = { ok: false, error: 'the dashboard did not answer: is nw0 dashboard still running?' };
  }
  if (answer.ok) {
    state.className = 'ok';
    state.textContent = kind === 'command' ? '✓ acknowledged' : '✓ reply:';
    result.textContent = answer.reply === undefined ? '' : answer.reply;
  } else {
    state.className = 'bad';
    state.textContent = '✕ ' + answer.error;
  }
}

$('d-close').addEventListener('click', () => select(null));
$('watch').addEventListener('click', watch);
$('send-message').addEventListener('click', () => send('message'));
$('send-command').addEventListener('click', () => send('command'));
