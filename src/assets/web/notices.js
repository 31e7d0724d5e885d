// The notification bell: the unread count, a list newest first (mark one or all
// read), live from the Server-Sent Events stream /api/events, and a browser
// notification when the tab is hidden and the user allowed them.
//
// The stream is opened with ?last_event_id= the newest id of the list just loaded,
// so nothing written between the two is missed (a write after it comes again;
// notifications are kept by id, so that changes nothing). The browser's own
// reconnects send Last-Event-ID themselves; when the stream is refused instead
// (the server restarting), it is opened again after a backoff with the last id.
// Offline, the stream is closed at once and opened again when the browser is
// back online, rather than left to notice a dead connection by itself.

import { api, describe } from './api.js';
import { avatar, fill, h, icon, shortTime, toast } from './dom.js';

const items = new Map(); // id -> Notification
let unread = 0;
let lastEventId = 0;
let source = null;
let retryTimer = null;
let attempt = 0;
let button;
let badge;
let unreadText;
let panel;
let listEl;
let permissionEl;
let clickBound = false;

export function initNotices(host) {
  badge = h('span.badge', { hidden: true, 'aria-hidden': 'true' });
  unreadText = h('span.visually-hidden');
  // Named by its text, not aria-label: the badge's digits are visible text, and a
  // name must hold what is seen.
  button = h('button.icon.bell', {
    type: 'button', 'aria-expanded': 'false', 'aria-controls': 'notice-panel', title: 'Notifications',
    onclick: () => toggle(),
  }, icon('bell'), unreadText, badge);
  listEl = h('ul.notice-list', {});
  permissionEl = h('div.permission');
  panel = h('section.notice-panel', { id: 'notice-panel', hidden: true, 'aria-labelledby': 'notice-title' },
    h('header.panel-head', {},
      h('h2', { id: 'notice-title' }, 'Notifications'),
      h('button.link', { type: 'button', onclick: markAll }, 'Mark all read')),
    permissionEl, listEl);
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      toggle(false);
      button.focus();
    }
  });
  if (!clickBound) {
    // Once for the page: it reads the current panel and button.
    clickBound = true;
    document.addEventListener('click', (e) => {
      if (panel && !panel.hidden && !panel.contains(e.target) && !button.contains(e.target)) toggle(false);
    });
  }
  fill(host, button, panel);
  renderCount();
  load();
}

export function stopNotices() {
  clearTimeout(retryTimer);
  if (source) source.close();
  source = null;
  removeEventListener('offline', offline);
  removeEventListener('online', connect);
  items.clear();
  unread = 0;
  lastEventId = 0;
}

async function load() {
  try {
    const answer = await api.get('/api/notifications?limit=30');
    for (const n of answer.notifications) {
      items.set(n.id, n);
      lastEventId = Math.max(lastEventId, n.id);
    }
    unread = answer.unread;
  } catch (e) {
    toast(describe(e.code, e.message));
  }
  render();
  addEventListener('offline', offline);
  addEventListener('online', connect);
  connect();
}

function offline() {
  clearTimeout(retryTimer);
  if (source) source.close();
}

function connect() {
  clearTimeout(retryTimer);
  if (source) source.close();
  source = new EventSource(lastEventId ? `/api/events?last_event_id=${lastEventId}` : '/api/events');
  source.addEventListener('open', () => { attempt = 0; });
  source.addEventListener('notification', (e) => {
    if (e.lastEventId) lastEventId = Math.max(lastEventId, Number(e.lastEventId));
    try {
      arrived(JSON.parse(e.data));
    } catch (err) {
      console.error(err);
    }
  });
  source.addEventListener('error', () => {
    if (source.readyState !== EventSource.CLOSED) return; // the browser reconnects itself
    source.close();
    const delay = Math.min(30000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt = Math.min(attempt + 1, 10);
    retryTimer = setTimeout(connect, delay);
  });
}

function arrived(n) {
  const known = items.get(n.id);
  if (!known && !n.read) unread++;
  else if (known && known.read && !n.read) unread++;
  items.set(n.id, n);
  if (!known) refreshCount();
  render();
  if (document.hidden && 'Notification' in window && Notification.permission === 'granted') {
    const shown = new Notification('parley', { body: n.text, tag: `parley-${n.id}` });
    shown.onclick = () => {
      window.focus();
      open(n);
      shown.close();
    };
  }
}

// A notification the list had not loaded may be an update of an older one, already
// counted: the server's count is the truth.
async function refreshCount() {
  try {
    unread = (await api.get('/api/notifications?limit=1')).unread;
    renderCount();
  } catch { /* the count stays as it was */ }
}

function toggle(force) {
  const show = force === undefined ? panel.hidden : force;
  panel.hidden = !show;
  button.setAttribute('aria-expanded', String(show));
  if (show) {
    render();
    const first = panel.querySelector('.notice');
    (first || panel.querySelector('button')).focus();
  }
}

async function markAll() {
  try {
    await api.post('/api/notifications/read', { all: true });
    for (const n of items.values()) n.read = true;
    unread = 0;
    render();
  } catch (e) {
    toast(describe(e.code, e.message));
  }
}

async function open(n) {
  toggle(false);
  if (!n.read) {
    n.read = true;
    unread = Math.max(0, unread - 1);
    render();
    api.post('/api/notifications/read', { ids: [n.id] }).catch((e) => toast(describe(e.code, e.message)));
  }
  if (n.url && n.url.startsWith('/')) location.hash = `#${n.url}`;
}

function renderCount() {
  badge.hidden = unread === 0;
  badge.textContent = unread > 99 ? '99+' : String(unread);
  unreadText.textContent = unread ? `Notifications, ${unread} unread` : 'Notifications';
}

function render() {
  renderCount();
  if (panel.hidden) return;
  const sorted = [...items.values()].sort((a, b) => b.ts - a.ts);
  fill(listEl, sorted.length ? sorted.map((n) => h('li', {},
    h(`button.notice${n.read ? '' : '.unread'}`, { type: 'button', onclick: () => open(n) },
      n.actor ? avatar(n.actor, 'sm') : h('span.avatar.avatar-sm.avatar-group', { 'aria-hidden': 'true' }, '#'),
      h('span.notice-text', {}, n.text),
      h('time.notice-time', { datetime: new Date(n.ts).toISOString() }, shortTime(n.ts)),
      n.read ? null : h('span.visually-hidden', {}, ' (unread)')))) : h('li.empty', {}, 'Nothing yet.'));
  if ('Notification' in window && Notification.permission === 'default') {
    fill(permissionEl, h('button.link', {
      type: 'button',
      onclick: async () => {
        await Notification.requestPermission();
        render();
      },
    }, 'Show browser notifications when this tab is hidden'));
  } else fill(permissionEl);
}
