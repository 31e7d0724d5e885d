// One room's view: its history, live messages, the composer, who is typing, who is
// online, read receipts and the member list.
//
// The list holds at most MAX_IN_DOM messages however long the room: scrolling up
// loads older pages (`before`) and drops the newest from the bottom, and then the
// view is no longer at the live end (`atLatest` false): scrolling back down loads
// newer pages (`after`) until it is. My messages show at once as "sending", become
// sent on their ack (or on their own `message` frame, whichever comes first) and
// failed, with a retry under the same client_id, on an error or no answer.

import { api, ApiError, describe, IMAGE_TYPES, upload } from './api.js';
import { announce, avatar, fill, fullTime, h, icon, linkify, shortTime, toast } from './dom.js';
import * as live from './live.js';
import { getRoom, removeRoom, roomTitle, setCurrent, upsertRoom } from './rooms.js';

const PAGE = 50;
const MAX_IN_DOM = 200;
const MAX_BODY = 4000;
const TYPING_SHOWN_MS = 5000;
const TYPING_SENT_EVERY_MS = 3000;

// Shows room id in main (an element the view owns until the returned close() is
// called). me is the signed-in user.
export function openRoom(main, id, me) {
  const view = new RoomView(main, id, me);
  view.start();
  return () => view.close();
}

class RoomView {
  constructor(main, id, me) {
    this.main = main;
    this.id = id;
    this.me = me;
    this.room = null;
    this.members = new Map(); // user id -> User
    this.online = new Set();
    this.reads = new Map(); // user id -> seq they have read up to
    this.typers = new Map(); // user id -> timer
    this.shown = new Map(); // seq -> element
    this.mine = new Map(); // client_id -> {el, message} not yet sent
    this.hasOlder = false;
    this.atLatest = true;
    this.loading = false;
    this.closed = false;
    this.lastTypingSent = 0;
    this.offs = [];
    this.firstUnread = null;
  }

  async start() {
    const known = getRoom(this.id);
    const unread = known ? known.unread || 0 : 0;
    if (known && unread) this.firstUnread = known.last_seq - unread + 1;
    setCurrent(this.id);
    fill(this.main, h('p.loading', { role: 'status' }, 'Loading the room…'));
    let room;
    try {
      room = await api.get(`/api/rooms/${this.id}`);
    } catch (e) {
      if (!this.closed) this.showRefusal(e);
      return;
    }
    if (this.closed) return;
    this.room = room;
    for (const user of room.member_list || []) this.members.set(user.id, user);
    upsertRoom(withoutMembers(room));
    this.render();
    this.listen();
    await this.loadLatest();
    if (this.closed) return;
    live.watch(this.id, this.newestSeq());
  }

  close() {
    this.closed = true;
    for (const off of this.offs) off();
    for (const timer of this.typers.values()) clearTimeout(timer);
    if (this.observer) this.observer.disconnect();
    live.unwatch(this.id);
    setCurrent(null);
  }

  showRefusal(e) {
    if (e instanceof ApiError && e.status === 403) {
      const join = h('button.primary', { type: 'button', onclick: () => this.join(join) }, 'Join this room');
      fill(this.main, h('section.notice', { 'aria-labelledby': 'refusal' },
        h('h2', { id: 'refusal' }, 'You are not a member of this room'),
        h('p', {}, 'Group rooms are open to everyone: join to read and write.'), join));
    } else {
      fill(this.main, h('section.notice', {}, h('h2', {}, 'This room cannot be opened'),
        h('p', { role: 'alert' }, describe(e.code, e.message))));
    }
  }

  async join(button) {
    button.disabled = true;
    try {
      await api.post(`/api/rooms/${this.id}/join`);
      this.closed = false;
      this.start();
    } catch (e) {
      button.disabled = false;
      toast(describe(e.code, e.message));
    }
  }

  // ---- rendering ----

  render() {
    const room = this.room;
    const title = roomTitle(room);
    this.presenceEl = h('span.room-sub', { role: 'status' });
    this.membersBtn = h('button.ghost', {
      type: 'button', 'aria-expanded': 'false', 'aria-controls': 'member-panel',
      onclick: () => this.toggleMembers(),
    }, 'Members');
    const actions = [this.membersBtn];
    if (room.kind === 'group') {
      if (room.content_id) actions.unshift(h('a.button.ghost', { href: `#/contents/${room.content_id}` }, 'About'));
      actions.push(h('button.ghost', { type: 'button', onclick: () => this.leave() }, 'Leave'));
    } else if (room.peer) {
      actions.unshift(h('a.button.ghost', { href: `#/users/${room.peer.id}` }, 'Profile'));
    }
    this.list = h('ol.messages', { 'aria-label': `Messages in ${title}` });
    this.topSentinel = h('li.sentinel', { 'aria-hidden': 'true' });
    this.bottomSentinel = h('div.sentinel', { 'aria-hidden': 'true' });
    this.scroller = h('div.scroller', { tabindex: '0', 'aria-label': 'Message history', role: 'region' },
      this.list, this.bottomSentinel);
    this.scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.jumpBtn = h('button.jump', { type: 'button', hidden: true, onclick: () => this.loadLatest() }, 'New messages ↓');
    this.typingEl = h('div.typing', { 'aria-live': 'polite' });
    this.memberPanel = h('aside.member-panel', { id: 'member-panel', hidden: true, 'aria-label': 'Members' });
    fill(this.main,
      h('section.room', { 'aria-labelledby': 'room-title' },
        h('header.room-head', {},
          h('a.back', { href: '#/', title: 'Back to rooms' }, icon('back'), h('span.visually-hidden', {}, 'Back to rooms')),
          room.kind === 'dm' && room.peer ? avatar(room.peer) : h('span.avatar.avatar-md.avatar-group', { 'aria-hidden': 'true' }, '#'),
          h('div.room-head-text', {}, h('h2', { id: 'room-title' }, title), this.presenceEl),
          h('div.room-actions', {}, actions)),
        h('div.room-body', {},
          h('div.timeline', {}, this.scroller, this.jumpBtn, this.typingEl, this.composer()),
          this.memberPanel)));
    this.observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        if (entry.target === this.topSentinel) this.loadOlder();
        else if (!this.atLatest) this.loadNewer();
      }
    }, { root: this.scroller, rootMargin: '300px 0px' });
    this.observer.observe(this.bottomSentinel);
    this.renderPresence();
    // Keyboard users land where they write; on a phone that would open the
    // on-screen keyboard over the history, so there the view itself takes focus.
    if (matchMedia('(min-width: 721px)').matches) this.input.focus({ preventScroll: true });
    else this.main.focus({ preventScroll: true });
  }

  composer() {
    this.input = h('textarea.compose-input', {
      rows: 1, maxLength: MAX_BODY, placeholder: 'Write a message', 'aria-label': 'Message',
      autocomplete: 'off', enterKeyHint: 'send',
    });
    this.input.addEventListener('keydown', (e) => {
      // Enter that ends an IME composition (Korean, Japanese, Chinese...) must not
      // send: it commits the composed text. keyCode 229 is that Enter in browsers
      // that report it before isComposing.
      if (e.key !== 'Enter' || e.shiftKey || e.isComposing || e.keyCode === 229) return;
      e.preventDefault();
      this.sendText();
    });
    this.input.addEventListener('input', () => {
      this.input.style.height = 'auto';
      this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
      const now = Date.now();
      if (this.input.value && now - this.lastTypingSent > TYPING_SENT_EVERY_MS) {
        this.lastTypingSent = now;
        live.typing(this.id);
      }
    });
    this.input.addEventListener('paste', (e) => {
      const files = [...(e.clipboardData ? e.clipboardData.files : [])];
      if (files.length) {
        e.preventDefault();
        files.forEach((f) => this.sendImage(f));
      }
    });
    const file = h('input.visually-hidden', { type: 'file', accept: IMAGE_TYPES.join(','), tabindex: '-1', 'aria-label': 'Image to send' });
    file.addEventListener('change', () => {
      [...file.files].forEach((f) => this.sendImage(f));
      file.value = '';
    });
    const form = h('form.composer', { 'aria-label': 'Send a message', onsubmit: (e) => { e.preventDefault(); this.sendText(); } },
      h('button.icon', { type: 'button', title: 'Attach an image', onclick: () => file.click() }, icon('attach'), h('span.visually-hidden', {}, 'Attach an image')),
      file, this.input,
      h('button.primary', { type: 'submit' }, 'Send'));
    form.addEventListener('dragover', (e) => { e.preventDefault(); form.classList.add('drop'); });
    form.addEventListener('dragleave', () => form.classList.remove('drop'));
    form.addEventListener('drop', (e) => {
      e.preventDefault();
      form.classList.remove('drop');
      [...e.dataTransfer.files].forEach((f) => this.sendImage(f));
    });
    this.main.addEventListener('dragover', (e) => e.preventDefault());
    this.main.addEventListener('drop', (e) => {
      if (e.defaultPrevented) return;
      e.preventDefault();
      [...e.dataTransfer.files].forEach((f) => this.sendImage(f));
    });
    return form;
  }

  messageEl(m, status) {
    const sender = this.members.get(m.sender.id) || m.sender;
    const mine = sender.id === this.me.id;
    const content = m.kind === 'image'
      ? h('a.msg-image-link', { href: m.url, target: '_blank', rel: 'noopener' },
        h('img.msg-image', { src: m.url, alt: `Image from ${sender.display_name}`, loading: 'lazy' }))
      : h('p.msg-text', {}, linkify(m.body || ''));
    const el = h(`li.msg${mine ? '.mine' : ''}`, { dataset: { user: sender.id } },
      h('a.msg-avatar', { href: `#/users/${sender.id}`, tabindex: '-1', 'aria-hidden': 'true' }, avatar(sender)),
      h('div.msg-main', {},
        h('div.msg-head', {},
          h('a.msg-name', { href: `#/users/${sender.id}` }, sender.display_name),
          h('time.msg-time', { datetime: new Date(m.ts || Date.now()).toISOString(), title: fullTime(m.ts || Date.now()) }, shortTime(m.ts || Date.now()))),
        content,
        h('div.msg-status', { 'aria-live': 'polite' })));
    if (m.seq) el.dataset.seq = m.seq;
    this.setStatus(el, status);
    return el;
  }

  setStatus(el, status, reason, retry) {
    const box = el.querySelector('.msg-status');
    el.classList.toggle('failed', status === 'failed');
    el.classList.toggle('sending', status === 'sending');
    if (status === 'sending') fill(box, 'Sending…');
    else if (status === 'failed') {
      fill(box, h('span.error-text', {}, `Not sent: ${reason}. `),
        h('button.link', { type: 'button', onclick: retry }, 'Retry'));
    } else fill(box);
  }

  // ---- history ----

  newestSeq() {
    let newest = -1;
    for (const seq of this.shown.keys()) newest = Math.max(newest, seq);
    return newest === -1 ? (this.room.last_seq || 0) : newest;
  }

  oldestSeq() {
    let oldest = Infinity;
    for (const seq of this.shown.keys()) oldest = Math.min(oldest, seq);
    return oldest;
  }

  // Loads a page of history (query: "", "before=N&" or "after=N&") and hands it to
  // apply, one load at a time; an error is shown in words.
  async loadPage(query, apply) {
    if (this.loading || this.closed) return;
    this.loading = true;
    try {
      const page = await api.get(`/api/rooms/${this.id}/messages?${query}limit=${PAGE}`);
      if (!this.closed) apply(page);
    } catch (e) {
      toast(describe(e.code, e.message));
    } finally {
      this.loading = false;
    }
  }

  loadLatest() {
    return this.loadPage('', (page) => {
      for (const el of this.shown.values()) el.remove();
      this.shown.clear();
      this.hasOlder = page.has_more;
      this.atLatest = true;
      this.insert(page.messages, 'end');
      this.updateTop();
      this.jumpBtn.hidden = true;
      const divider = this.list.querySelector('.unread-divider');
      if (divider) divider.scrollIntoView({ block: 'center' });
      else this.scrollToBottom();
      this.markRead();
    });
  }

  loadOlder() {
    if (!this.hasOlder) return;
    this.loadPage(`before=${this.oldestSeq()}&`, (page) => {
      this.hasOlder = page.has_more;
      this.keepPosition(() => {
        this.insert(page.messages, 'start');
        this.trim('end');
        this.updateTop();
      });
    });
  }

  loadNewer() {
    if (this.atLatest) return;
    this.loadPage(`after=${this.newestSeq()}&`, (page) => {
      this.atLatest = !page.has_more;
      this.keepPosition(() => {
        this.insert(page.messages, 'end');
        this.trim('start');
        this.updateTop();
      });
      if (this.atLatest) {
        this.jumpBtn.hidden = true;
        live.seen(this.id, this.newestSeq());
      }
    });
  }

  // Runs change() (which adds or drops messages) keeping the first message in view
  // where it is on the screen.
  keepPosition(change) {
    const top = this.scroller.getBoundingClientRect().top;
    const anchor = [...this.list.children].find((el) => el.classList.contains('msg') && el.getBoundingClientRect().bottom > top);
    const before = anchor ? anchor.getBoundingClientRect().top : 0;
    change();
    if (anchor && anchor.isConnected) this.scroller.scrollTop += anchor.getBoundingClientRect().top - before;
  }

  // Adds messages (ascending seq) at the start or end of the list, skipping those
  // already shown, with the unread divider before the first unread one.
  insert(messages, where) {
    const frag = document.createDocumentFragment();
    for (const m of messages) {
      if (this.shown.has(m.seq)) continue;
      const pending = m.client_id && this.mine.get(m.client_id);
      if (pending) {
        this.settle(m.client_id, m);
        continue;
      }
      if (this.firstUnread !== null && m.seq === this.firstUnread && m.sender.id !== this.me.id)
        frag.append(h('li.unread-divider', { role: 'separator', 'aria-label': 'New messages' }, h('span', {}, 'New messages')));
      const el = this.messageEl(m, 'sent');
      this.shown.set(m.seq, el);
      frag.append(el);
    }
    if (where === 'start') this.topSentinel.after(frag);
    else {
      // Before my unsent messages, which stay last until they are sent.
      const firstPending = this.list.querySelector('.msg.sending, .msg.failed');
      if (firstPending) firstPending.before(frag);
      else this.list.append(frag);
    }
    this.renderReceipts();
  }

  // Keeps at most MAX_IN_DOM messages, dropping them from one end. Returns how many.
  trim(from) {
    let excess = this.shown.size - MAX_IN_DOM;
    if (excess <= 0) return 0;
    const seqs = [...this.shown.keys()].sort((a, b) => a - b);
    const drop = from === 'start' ? seqs.slice(0, excess) : seqs.slice(-excess);
    for (const seq of drop) {
      this.shown.get(seq).remove();
      this.shown.delete(seq);
    }
    if (from === 'start') this.hasOlder = true;
    else this.atLatest = false;
    return excess;
  }

  updateTop() {
    if (this.hasOlder) {
      if (!this.topSentinel.isConnected) this.list.prepend(this.topSentinel);
      this.observer.unobserve(this.topSentinel);
      this.observer.observe(this.topSentinel);
    } else {
      this.topSentinel.remove();
      if (!this.list.querySelector('.history-start'))
        this.list.prepend(h('li.history-start', {}, 'This is the beginning of the room.'));
    }
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  onScroll() {
    if (this.nearBottom() && this.atLatest) {
      this.jumpBtn.hidden = true;
      this.markRead();
    }
  }

  markRead() {
    if (document.hidden || !this.atLatest || this.closed) return;
    const newest = this.newestSeq();
    if (newest > 0 && newest !== this.readSent) {
      this.readSent = newest;
      live.read(this.id, newest);
    }
  }

  // ---- live ----

  listen() {
    const mineRoom = (fn) => (frame) => { if (frame.room === this.id && !this.closed) fn(frame); };
    this.offs.push(
      live.on('message', mineRoom((m) => this.onMessage(m))),
      live.on('subscribed', mineRoom((f) => {
        this.online = new Set(f.online || []);
        this.renderPresence();
        if (f.recovered === false) this.loadLatest();
      })),
      live.on('presence', mineRoom((f) => {
        if (f.online) this.online.add(f.user);
        else this.online.delete(f.user);
        this.renderPresence();
      })),
      live.on('typing', mineRoom((f) => this.onTyping(f.user))),
      live.on('read', mineRoom((f) => {
        this.reads.set(f.user, Math.max(this.reads.get(f.user) || 0, f.seq));
        this.renderReceipts();
      })),
      live.on('member', mineRoom((f) => this.onMember(f))),
      live.on('error', (f) => {
        if (f.ref === `sub-${this.id}` && !this.closed) toast(describe(f.code, f.message));
      }),
    );
    const onVisible = () => { if (!document.hidden && this.nearBottom()) this.markRead(); };
    document.addEventListener('visibilitychange', onVisible);
    this.offs.push(() => document.removeEventListener('visibilitychange', onVisible));
  }

  onMessage(m) {
    this.clearTyping(m.sender.id);
    if (this.shown.has(m.seq)) return;
    if (m.client_id && this.mine.has(m.client_id)) {
      this.settle(m.client_id, m);
      return;
    }
    if (!this.atLatest) {
      this.jumpBtn.hidden = false;
      return;
    }
    const stick = this.nearBottom();
    this.insert([m], 'end');
    this.trim('start');
    this.updateTop();
    if (stick) {
      this.scrollToBottom();
      this.markRead();
    } else {
      this.jumpBtn.hidden = false;
    }
    if (m.sender.id !== this.me.id)
      announce(`${m.sender.display_name}: ${m.kind === 'image' ? 'an image' : m.body}`);
  }

  onTyping(user) {
    if (user === this.me.id) return;
    clearTimeout(this.typers.get(user));
    this.typers.set(user, setTimeout(() => this.clearTyping(user), TYPING_SHOWN_MS));
    this.renderTyping();
  }

  clearTyping(user) {
    if (!this.typers.has(user)) return;
    clearTimeout(this.typers.get(user));
    this.typers.delete(user);
    this.renderTyping();
  }

  renderTyping() {
    const names = [...this.typers.keys()].map((id) => (this.members.get(id) || { display_name: 'Someone' }).display_name);
    if (!names.length) fill(this.typingEl);
    else fill(this.typingEl, names.length === 1 ? `${names[0]} is typing…` : `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are typing…`);
  }

  onMember(f) {
    const user = f.user;
    if (f.event === 'left') {
      this.members.delete(user.id);
      this.online.delete(user.id);
      if (user.id === this.me.id) {
        removeRoom(this.id);
        location.hash = '#/';
        return;
      }
    } else {
      this.members.set(user.id, user);
    }
    if (f.event === 'updated') {
      for (const el of this.list.querySelectorAll(`.msg[data-user="${user.id}"]`)) {
        el.querySelector('.msg-name').textContent = user.display_name;
        el.querySelector('.msg-avatar').replaceChildren(avatar(user));
      }
    }
    this.renderPresence();
  }

  renderPresence() {
    const room = this.room;
    const others = [...this.online].filter((id) => id !== this.me.id);
    if (room.kind === 'dm' && room.peer) {
      fill(this.presenceEl, others.includes(room.peer.id) ? 'online' : 'offline');
      this.presenceEl.classList.toggle('is-online', others.includes(room.peer.id));
    } else {
      const count = this.members.size || room.members;
      fill(this.presenceEl, `${count} member${count === 1 ? '' : 's'}, ${this.online.size} online`);
    }
    this.membersBtn.textContent = `Members (${this.members.size || room.members})`;
    if (!this.memberPanel.hidden) this.renderMembers();
  }

  toggleMembers() {
    const open = this.memberPanel.hidden;
    this.memberPanel.hidden = !open;
    this.membersBtn.setAttribute('aria-expanded', String(open));
    if (open) this.renderMembers();
  }

  renderMembers() {
    const sorted = [...this.members.values()].sort((a, b) =>
      (this.online.has(b.id) - this.online.has(a.id)) || a.display_name.localeCompare(b.display_name));
    fill(this.memberPanel, h('h3', {}, 'Members'),
      h('ul.member-list', {}, sorted.map((u) => h('li', {},
        h('a.member', { href: `#/users/${u.id}` }, avatar(u, 'sm'),
          h('span', {}, u.display_name, u.id === this.me.id ? ' (you)' : ''),
          h(`span.dot${this.online.has(u.id) ? '.on' : ''}`, { 'aria-label': this.online.has(u.id) ? 'online' : 'offline', role: 'img' }))))));
  }

  // "Seen by" under my newest message that others have read.
  renderReceipts() {
    for (const old of this.list.querySelectorAll('.receipt')) old.remove();
    const mine = [...this.shown.entries()].filter(([, el]) => el.classList.contains('mine')).sort((a, b) => b[0] - a[0]);
    if (!mine.length) return;
    const [seq, el] = mine[0];
    const readers = [...this.reads.entries()].filter(([user, upTo]) => user !== this.me.id && upTo >= seq)
      .map(([user]) => (this.members.get(user) || { display_name: 'someone' }).display_name);
    if (!readers.length) return;
    const text = this.room.kind === 'dm' ? 'Seen' : `Seen by ${readers.join(', ')}`;
    el.querySelector('.msg-main').append(h('p.receipt', {}, text));
  }

  // ---- sending ----

  sendText() {
    const body = this.input.value.trim();
    if (!body) return;
    if ([...body].length > MAX_BODY) {
      toast(`A message may be up to ${MAX_BODY} characters`);
      return;
    }
    this.input.value = '';
    this.input.style.height = 'auto';
    this.submit({ kind: 'text', body });
  }

  async sendImage(file) {
    if (!IMAGE_TYPES.includes(file.type)) {
      toast(describe('unsupported_media_type', `${file.name || 'the file'} is ${file.type || 'of an unknown type'}`));
      return;
    }
    const preview = URL.createObjectURL(file);
    const clientId = live.newClientId();
    const el = this.pendingEl(clientId, { kind: 'image', url: preview });
    fill(el.querySelector('.msg-status'), 'Uploading…');
    try {
      const url = await upload(file);
      URL.revokeObjectURL(preview);
      el.querySelector('img').src = url;
      this.transmit(clientId, { kind: 'image', url });
    } catch (e) {
      const words = describe(e.code, e.message);
      this.setStatus(el, 'failed', words, () => { el.remove(); this.mine.delete(clientId); this.sendImage(file); });
      toast(words);
    }
  }

  submit(message) {
    const clientId = live.newClientId();
    this.pendingEl(clientId, message);
    this.transmit(clientId, message);
  }

  pendingEl(clientId, message) {
    const el = this.messageEl({ ...message, sender: this.me, ts: Date.now(), client_id: clientId }, 'sending');
    this.mine.set(clientId, { el, message });
    if (!this.atLatest) this.loadLatest();
    this.list.append(el);
    this.scrollToBottom();
    return el;
  }

  transmit(clientId, message) {
    const entry = this.mine.get(clientId);
    if (!entry) return;
    entry.message = message;
    this.setStatus(entry.el, 'sending');
    live.send(clientId, { room: this.id, ...message },
      (ack) => this.settle(clientId, { ...message, seq: ack.seq, ts: ack.ts, sender: this.me, client_id: clientId, room: this.id }),
      (words) => {
        if (!this.mine.has(clientId)) return;
        this.setStatus(entry.el, 'failed', words, () => this.transmit(clientId, message));
        toast(`Message not sent: ${words}`);
      });
  }

  // My message clientId is stored as m: it takes its place in seq order.
  settle(clientId, m) {
    const entry = this.mine.get(clientId);
    if (!entry) return;
    this.mine.delete(clientId);
    if (this.shown.has(m.seq)) {
      entry.el.remove();
      return;
    }
    entry.el.dataset.seq = m.seq;
    this.setStatus(entry.el, 'sent');
    this.shown.set(m.seq, entry.el);
    const later = [...this.shown.entries()].filter(([seq]) => seq > m.seq).sort((a, b) => a[0] - b[0]);
    if (later.length) later[0][1].before(entry.el);
    else {
      const firstPending = this.list.querySelector('.msg.sending, .msg.failed');
      if (firstPending && firstPending !== entry.el) firstPending.before(entry.el);
    }
    this.renderReceipts();
    this.markRead();
  }

  async leave() {
    if (!confirm(`Leave ${roomTitle(this.room)}?`)) return;
    try {
      await api.post(`/api/rooms/${this.id}/leave`);
      removeRoom(this.id);
      location.hash = '#/';
    } catch (e) {
      toast(describe(e.code, e.message));
    }
  }
}

// A Room without its member_list, as the room list keeps it.
function withoutMembers(room) {
  const { member_list: _, ...rest } = room;
  return rest;
}
