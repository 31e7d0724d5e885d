// The WebSocket to /ws (PROTOCOL.md "WebSocket"), kept open for the whole session.
//
// When it drops (the network, the server restarting, the tab offline) it comes
// back after a delay that doubles up to 15 s with random jitter, so a restarted
// server is not hit by every client at once. On every (re)open it subscribes again
// to the rooms being watched with `since` = the last seq each has seen, so the
// server replays what was missed, and it sends again every message not yet acked,
// with its same client_id: the server stores a retried client_id once and acks it
// with the same seq. A send that gets an error frame, or no ack within
// ACK_TIMEOUT_MS while connected, is failed for the view to offer a retry.

import { describe } from './api.js';

const ACK_TIMEOUT_MS = 10000;
const PING_EVERY_MS = 20000;
const SILENCE_LIMIT_MS = 45000;

const listeners = new Map(); // frame type -> Set of functions
const watched = new Map(); // room id -> last seq seen (-1: none yet)
const pending = new Map(); // client_id -> {frame, onAck, onFail, timer}
let ws = null;
let running = false;
let attempt = 0;
let retryTimer = null;
let pingTimer = null;
let heardAt = 0;
let state = 'offline';

// Calls fn(frame) for every server frame of type ('state' gets the connection's
// state: 'online', 'connecting', 'reconnecting'). Returns a function that stops it.
export function on(type, fn) {
  if (!listeners.has(type)) listeners.set(type, new Set());
  listeners.get(type).add(fn);
  return () => listeners.get(type).delete(fn);
}

function emit(type, value) {
  for (const fn of listeners.get(type) || []) {
    try {
      fn(value);
    } catch (e) {
      console.error(e);
    }
  }
}

function setState(next) {
  if (state === next) return;
  state = next;
  emit('state', next);
}

export function connectionState() {
  return state;
}

function raw(frame) {
  if (!ws || ws.readyState !== WebSocket.OPEN) return false;
  ws.send(JSON.stringify(frame));
  return true;
}

export function start() {
  if (running) return;
  running = true;
  addEventListener('offline', onOffline);
  addEventListener('online', onOnline);
  open();
}

// Logging out: closes for good and forgets every room, pending send and listener.
export function stop() {
  running = false;
  removeEventListener('offline', onOffline);
  removeEventListener('online', onOnline);
  clearTimeout(retryTimer);
  drop();
  watched.clear();
  for (const p of pending.values()) clearTimeout(p.timer);
  pending.clear();
  setState('offline');
  listeners.clear();
}

function open() {
  clearTimeout(retryTimer);
  setState(attempt === 0 ? 'connecting' : 'reconnecting');
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const socket = new WebSocket(`${scheme}//${location.host}/ws`);
  ws = socket;
  socket.onopen = () => {
    attempt = 0;
    heardAt = Date.now();
    setState('online');
    for (const [room, since] of watched) subscribeFrame(room, since);
    for (const p of pending.values()) transmit(p);
    clearInterval(pingTimer);
    pingTimer = setInterval(heartbeat, PING_EVERY_MS);
  };
  socket.onmessage = (event) => {
    heardAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    receive(frame);
  };
  socket.onclose = () => lost();
}

// Forgets the socket at once, without waiting for a close handshake a dead network
// cannot finish.
function drop() {
  clearInterval(pingTimer);
  if (!ws) return;
  const socket = ws;
  ws = null;
  socket.onopen = socket.onmessage = socket.onclose = null;
  try {
    socket.close();
  } catch { /* already closed */ }
}

function lost() {
  drop();
  for (const p of pending.values()) clearTimeout(p.timer);
  if (!running) return;
  setState('reconnecting');
  const delay = Math.min(15000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
  attempt = Math.min(attempt + 1, 10);
  // Offline, the 'online' event is the time to try again.
  if (navigator.onLine !== false) retryTimer = setTimeout(open, delay);
}

function onOffline() {
  if (ws) lost();
}

function onOnline() {
  if (!running || (ws && ws.readyState <= WebSocket.OPEN)) return;
  attempt = 0;
  open();
}

function heartbeat() {
  if (Date.now() - heardAt > SILENCE_LIMIT_MS) lost();
  else raw({ type: 'ping' });
}

function receive(frame) {
  if (frame.type === 'ack') {
    const p = pending.get(frame.client_id);
    if (p) {
      pending.delete(frame.client_id);
      clearTimeout(p.timer);
      p.onAck(frame);
    }
    return;
  }
  if (frame.type === 'error' && frame.ref && pending.has(frame.ref)) {
    const p = pending.get(frame.ref);
    pending.delete(frame.ref);
    clearTimeout(p.timer);
    p.onFail(describe(frame.code, frame.message));
    return;
  }
  if (frame.type === 'message' && watched.has(frame.room))
    watched.set(frame.room, Math.max(watched.get(frame.room), frame.seq));
  emit(frame.type, frame);
}

function subscribeFrame(room, since) {
  const frame = { type: 'subscribe', room, ref: `sub-${room}` };
  if (since >= 0) frame.since = since;
  raw(frame);
}

// Watches a room: subscribes now (since the last seq the view has, -1 for none)
// and again after every reconnect.
export function watch(room, since) {
  watched.set(room, since);
  subscribeFrame(room, since);
}

export function unwatch(room) {
  if (!watched.delete(room)) return;
  raw({ type: 'unsubscribe', room });
}

// The view has seen up to seq (a page of history loaded after a gap).
export function seen(room, seq) {
  if (watched.has(room)) watched.set(room, Math.max(watched.get(room), seq));
}

function transmit(p) {
  clearTimeout(p.timer);
  if (!raw(p.frame)) return; // sent on the next open
  p.timer = setTimeout(() => {
    if (!pending.has(p.frame.client_id)) return;
    pending.delete(p.frame.client_id);
    p.onFail('No answer from the server');
  }, ACK_TIMEOUT_MS);
}

// Sends a chat message ({room, kind, body | url}) under clientId. onAck(ack) once
// it is stored, or onFail(words). Calling it again with the same clientId is the
// retry the server de-duplicates.
export function send(clientId, message, onAck, onFail) {
  const p = { frame: { type: 'send', client_id: clientId, ...message }, onAck, onFail, timer: null };
  pending.set(clientId, p);
  transmit(p);
}

export function read(room, seq) {
  raw({ type: 'read', room, seq });
}

export function typing(room) {
  raw({ type: 'typing', room });
}

export function newClientId() {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return 'c-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
