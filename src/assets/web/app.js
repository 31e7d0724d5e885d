// parley's browser client: the shell (top bar, room list, the view) and the router.
//
// Views are addressed by the url's hash (#/rooms/12, #/contents/5, #/users/3,
// #/search?q=, #/me), so the server serves one page at / and every link works
// with back, forward and reload. The session is the parley_token cookie: on load
// GET /api/me says whether there is one.

import { api, describe, request, setUnauthorizedHandler } from './api.js';
import { avatar, fill, h, toast } from './dom.js';
import * as live from './live.js';
import { initNotices, stopNotices } from './notices.js';
import { openRoom } from './room.js';
import { initRooms, loadRooms, onRoomsChange, totalUnread, upsertRoom } from './rooms.js';
import { authPage, contentPage, homePage, mePage, profilePage, searchPage } from './pages.js';

const root = document.getElementById('app');
let me = null;
let main = null;
let closeView = null;
let meLink = null;

function chrome() {
  return [
    // Not href="#main": the hash is the router's.
    h('button.skip-link', { type: 'button', onclick: () => document.getElementById('main')?.focus() }, 'Skip to content'),
    h('div.visually-hidden', { id: 'announcer', 'aria-live': 'polite' }),
    h('div.toasts', { id: 'toasts' }),
  ];
}

async function boot() {
  setUnauthorizedHandler(() => signedOut());
  try {
    me = await api.get('/api/me');
  } catch (e) {
    if (e.status !== 401) toast(describe(e.code, e.message));
    signedOut();
    return;
  }
  signedIn(me);
}

function signedOut() {
  if (closeView) closeView();
  closeView = null;
  live.stop();
  stopNotices();
  me = null;
  document.title = 'parley';
  fill(root, chrome(), h('div.auth-host'));
  authPage(root.querySelector('.auth-host'), (user) => signedIn(user));
}

async function signOut() {
  try {
    await request('POST', '/api/auth/logout');
  } catch (e) {
    if (e.status !== 401) {
      toast(describe(e.code, e.message));
      return;
    }
  }
  location.hash = '#/';
  signedOut();
}

function signedIn(user) {
  me = user;
  const bell = h('div.bell-host');
  const banner = h('div.banner', { role: 'status', hidden: true });
  const roomsHost = h('div.rooms-host');
  meLink = h('a.me-link', { href: `#/users/${me.id}` });
  renderMe();
  main = h('main.view', { id: 'main', tabindex: '-1' });
  fill(root, chrome(),
    h('header.topbar', {},
      h('a.brand', { href: '#/' }, 'parley'),
      h('nav.top-nav', { 'aria-label': 'Main' },
        h('a.button.ghost', { href: '#/search' }, 'Discover'), bell, meLink,
        h('button.ghost', { type: 'button', onclick: signOut }, 'Log out'))),
    banner,
    h('div.layout', {},
      h('nav.sidebar', { 'aria-labelledby': 'rooms-title' },
        h('h2.sidebar-title', { id: 'rooms-title' }, 'Rooms'), roomsHost),
      main));
  live.on('state', (state) => {
    banner.hidden = state === 'online' || state === 'connecting';
    banner.textContent = 'Connection lost. Reconnecting…';
    root.classList.toggle('is-offline', !banner.hidden);
  });
  live.on('member', (f) => {
    if (f.event === 'updated' && f.user.id === me.id) {
      me = { ...me, ...f.user };
      renderMe();
    }
  });
  live.on('error', (f) => {
    if (!f.ref) toast(describe(f.code, f.message));
  });
  initRooms(me, roomsHost);
  onRoomsChange(() => {
    const n = totalUnread();
    document.title = n ? `(${n}) parley` : 'parley';
  });
  initNotices(bell);
  live.start();
  loadRooms().then(() => performance.mark('parley:rooms-ready'), (e) => toast(describe(e.code, e.message)));
  route();
}

function renderMe() {
  fill(meLink, avatar(me, 'sm'), h('span.me-name', {}, me.display_name));
  meLink.title = 'Your profile';
}

function goToRoom(room) {
  upsertRoom(room);
  location.hash = `#/rooms/${room.id}`;
}

function route() {
  if (!me) return;
  if (closeView) closeView();
  closeView = null;
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query] = hash.split('?');
  const parts = path.split('/').filter(Boolean);
  const id = Number(parts[1]);
  root.classList.toggle('has-view', parts.length > 0);
  if (parts[0] === 'rooms' && id > 0) closeView = openRoom(main, id, me);
  else if (parts[0] === 'contents' && id > 0) contentPage(main, id, goToRoom);
  else if (parts[0] === 'users' && id > 0) profilePage(main, id, me, goToRoom);
  else if (parts[0] === 'search') searchPage(main, new URLSearchParams(query || '').get('q'));
  else if (parts[0] === 'me') {
    mePage(main, me, (user) => {
      me = user;
      renderMe();
    });
  } else homePage(main);
}

addEventListener('hashchange', route);
boot();
