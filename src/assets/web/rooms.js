// The room list: my group rooms and DMs, most recent activity first, each with its
// title or peer, last message, time and unread count. Loaded from GET /api/rooms,
// then kept live by WebSocket frames: `room` (a room appeared, or got a message
// while this connection was not subscribed to it) and `message` (in the open room).

import { api } from './api.js';
import { avatar, fill, h, shortTime } from './dom.js';
import * as live from './live.js';

const rooms = new Map(); // id -> Room
let listEl = null;
let current = null;
let me = null;
const changeListeners = new Set();

export function roomTitle(room) {
  if (room.kind === 'dm' && room.peer) return room.peer.display_name;
  return room.title || `Room ${room.id}`;
}

function activity(room) {
  return room.last_message ? room.last_message.ts : room.created_at;
}

function preview(room) {
  const m = room.last_message;
  if (!m) return 'No messages yet';
  const who = m.sender && me && m.sender.id === me.id ? 'You' : m.sender && m.sender.display_name;
  const what = m.kind === 'image' ? 'Image' : m.body;
  return who ? `${who}: ${what}` : what;
}

export function initRooms(user, el) {
  me = user;
  listEl = el;
  live.on('room', (frame) => upsertRoom(frame.room));
  live.on('message', (m) => {
    const room = rooms.get(m.room);
    if (!room) return;
    room.last_message = m;
    room.last_seq = Math.max(room.last_seq || 0, m.seq);
    if (m.room !== current && !(me && m.sender && m.sender.id === me.id)) room.unread = (room.unread || 0) + 1;
    render();
  });
  live.on('member', (frame) => {
    if (me && frame.user && frame.user.id === me.id && frame.event === 'updated') me = frame.user;
  });
}

export async function loadRooms() {
  const { rooms: list } = await api.get('/api/rooms');
  rooms.clear();
  for (const room of list) rooms.set(room.id, room);
  render();
}

export function getRoom(id) {
  return rooms.get(id);
}

export function upsertRoom(room) {
  if (room.id === current) room.unread = 0;
  rooms.set(room.id, { ...rooms.get(room.id), ...room });
  render();
}

export function removeRoom(id) {
  rooms.delete(id);
  render();
}

// The room the view shows now (null: none): its unread count is the view's.
export function setCurrent(id) {
  current = id;
  const room = rooms.get(id);
  if (room) room.unread = 0;
  render();
}

// Calls fn() after every change to the list (the page title's unread total).
export function onRoomsChange(fn) {
  changeListeners.add(fn);
}

export function totalUnread() {
  let n = 0;
  for (const room of rooms.values()) n += room.unread || 0;
  return n;
}

function render() {
  if (!listEl) return;
  const sorted = [...rooms.values()].sort((a, b) => activity(b) - activity(a));
  if (!sorted.length) {
    fill(listEl, h('p.empty', {}, 'No rooms yet. Search for a movie or book to join its room, or message someone from their profile.'));
  } else {
    fill(listEl, h('ul.room-list', { role: 'list' }, sorted.map(item)));
  }
  for (const fn of changeListeners) fn();
}

// A link named by its own text (title, kind, last message, time and unread count
// for screen readers), so what is read is what is seen.
function item(room) {
  const title = roomTitle(room);
  const unread = room.unread || 0;
  return h('li', {},
    h('a.room-item', {
      href: `#/rooms/${room.id}`,
      'aria-current': room.id === current ? 'page' : null,
      dataset: { room: room.id },
    },
      room.kind === 'dm' && room.peer ? avatar(room.peer) : h('span.avatar.avatar-md.avatar-group', { 'aria-hidden': 'true' }, '#'),
      h('span.room-text', {},
        h('span.room-title', {}, title, room.kind === 'dm' ? h('span.visually-hidden', {}, ' (direct message)') : null),
        h('span.room-preview', {}, preview(room))),
      h('span.room-meta', {},
        h('time.room-time', { datetime: new Date(activity(room)).toISOString() }, shortTime(activity(room))),
        unread ? h('span.badge', {}, unread > 99 ? '99+' : String(unread), h('span.visually-hidden', {}, ' unread')) : null)));
}
