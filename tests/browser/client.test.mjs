// The browser client against a real parley in real Chromium: two (then three)
// users in their own browser contexts, each step as a person would take it.
// Steps depend on the ones before (one server, one room), so they run in order.

import { after, before, test } from 'node:test';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { artifacts, assert, checkA11y, launchBrowser, messageTexts, newUser, screenshots, startParley } from './harness.mjs';

let server;
let browser;
let alice;
let bob;
const timings = {};

before(async () => {
  // A small upload limit, so "too large" is quick to reach.
  server = await startParley(['--upload-max-bytes', '200000']);
  browser = await launchBrowser();
});

after(async () => {
  // Failed requests are logged by the browser itself (the 401 of a signed-out
  // start, the WebSocket refused while offline); anything else is the client's.
  const own = (e) => !/Failed to load resource|ERR_INTERNET_DISCONNECTED/.test(e);
  for (const user of [alice, bob]) if (user) assert.deepEqual(user.errors.filter(own), [], `${user.name}'s page logged errors`);
  if (browser) await browser.close();
  if (server) await server.stop();
  mkdirSync(artifacts, { recursive: true });
  writeFileSync(join(artifacts, 'timings.json'), `${JSON.stringify(timings, null, 2)}\n`);
});

// A 1x1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

async function openRoomFromSearch(user, query, title) {
  const { page } = user;
  await page.getByRole('link', { name: 'Discover' }).click();
  await page.getByLabel('Search movies and books').fill(query);
  await page.getByRole('link', { name: new RegExp(title) }).first().click();
  await page.getByRole('heading', { name: title }).waitFor();
}

async function send(page, text) {
  await page.getByLabel('Message', { exact: true }).fill(text);
  await page.getByLabel('Message', { exact: true }).press('Enter');
}

// Pastes a file into the composer as a browser does (a paste event with files).
async function paste(page, bytes, name, type) {
  await page.getByLabel('Message', { exact: true }).evaluate((input, [data, fileName, fileType]) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(data)], fileName, { type: fileType }));
    input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  }, [[...bytes], name, type]);
}

test('the page is served with its security headers and a first load under 100 KB', async () => {
  const res = await fetch(`${server.url}/`, { headers: { 'Accept-Encoding': 'gzip' } });
  assert.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /connect-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(res.headers.get('cache-control'), 'no-cache');
  const html = await res.text();
  assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]+<\/script>/, 'no inline script');
  const asset = /\/assets\/[0-9a-f]{16}\/app\.js/.exec(html)[0];
  const js = await fetch(`${server.url}${asset}`);
  assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  const stale = await fetch(`${server.url}/assets/0000000000000000/app.js`);
  assert.equal(stale.status, 404);
});

test('two users sign up; the login page and room list pass axe', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(server.url);
  await page.getByRole('heading', { name: 'Log in to parley' }).waitFor();
  await checkA11y(page, 'login');
  await screenshots(page, 'login');
  await context.close();
  alice = await newUser(browser, server.url, 'Alice');
  bob = await newUser(browser, server.url, 'Bob');
  await checkA11y(alice.page, 'home');
  await screenshots(alice.page, 'home');
});

test('search as you type, like a content, open its room', async () => {
  const { page } = alice;
  await page.getByRole('link', { name: 'Discover' }).click();
  await page.getByLabel('Search movies and books').pressSequentially('matr', { delay: 30 });
  const result = page.getByRole('link', { name: /The Matrix/ }).first();
  await result.waitFor();
  await checkA11y(page, 'search');
  await screenshots(page, 'search');
  await result.click();
  await page.getByRole('heading', { name: 'The Matrix' }).waitFor();
  await page.getByRole('button', { name: '♡ Like' }).click();
  await page.getByText('1 like', { exact: true }).waitFor();
  await checkA11y(page, 'content');
  await screenshots(page, 'content');
  await page.getByRole('button', { name: 'Open the chat room' }).click();
  await page.getByRole('heading', { name: 'The Matrix' }).waitFor();
  await page.getByRole('link', { name: /The Matrix/ }).first().waitFor(); // in the room list
});

test('chat both ways live, with typing, presence and read receipts', async () => {
  await openRoomFromSearch(bob, 'matrix', 'The Matrix');
  await bob.page.getByRole('button', { name: 'Open the chat room' }).click();
  await bob.page.getByLabel('Message', { exact: true }).waitFor();
  // Presence: Alice sees Bob come online in the room.
  await alice.page.getByText('2 members, 2 online').waitFor();
  // Typing.
  await alice.page.getByLabel('Message', { exact: true }).pressSequentially('hel');
  await bob.page.getByText('Alice is typing…').waitFor();
  await alice.page.getByLabel('Message', { exact: true }).fill('');
  await send(alice.page, 'hello bob');
  await bob.page.locator('.msg-text', { hasText: 'hello bob' }).waitFor();
  await send(bob.page, 'hi alice, see https://example.com/a?b=1.');
  await alice.page.locator('.msg-text', { hasText: 'hi alice' }).waitFor();
  // The link is a link, to exactly the url, opened safely.
  const link = alice.page.locator('.msg-text a', { hasText: 'https://example.com/a?b=1' });
  assert.equal(await link.getAttribute('href'), 'https://example.com/a?b=1');
  assert.match(await link.getAttribute('rel'), /noopener/);
  // Receipts: each has read the other's message.
  await alice.page.getByText('Seen by Bob').waitFor();
  // The sender's message shows as sent, not sending.
  assert.equal(await alice.page.locator('.msg.sending').count(), 0);
  await checkA11y(alice.page, 'room');
  await screenshots(alice.page, 'room');
});

test('a DM from a profile: unread badge and a notification in the bell', async () => {
  // Alice opens Bob's profile from his message and starts a DM.
  await alice.page.locator('.msg-name', { hasText: 'Bob' }).first().click();
  await alice.page.getByRole('heading', { name: 'Bob' }).waitFor();
  await checkA11y(alice.page, 'profile');
  await screenshots(alice.page, 'profile');
  await alice.page.getByRole('button', { name: 'Follow' }).click();
  await alice.page.getByRole('button', { name: 'Following' }).waitFor();
  await alice.page.getByRole('button', { name: 'Send a message' }).click();
  await alice.page.getByRole('heading', { name: 'Bob' }).waitFor();
  await send(alice.page, 'psst, a secret');
  await alice.page.locator('.msg:not(.sending) .msg-text', { hasText: 'psst' }).waitFor();
  // Bob, still in The Matrix, sees the DM appear with one unread message...
  const dmLink = bob.page.getByRole('link', { name: /^Alice \(direct message\)/ });
  await dmLink.filter({ hasText: /1 unread$/ }).waitFor();
  // ...and notifications in the bell: Alice followed him, and the DM.
  const bell = bob.page.getByRole('button', { name: /^Notifications, \d+ unread$/ });
  await bell.waitFor();
  await bell.click();
  const dm = bob.page.locator('.notice', { hasText: 'psst' });
  await dm.waitFor();
  await bob.page.locator('.notice', { hasText: /follow/i }).waitFor();
  await checkA11y(bob.page, 'notifications');
  await screenshots(bob.page, 'notifications');
  await dm.click();
  await bob.page.getByRole('heading', { name: 'Alice' }).waitFor();
  await bob.page.locator('.msg-text', { hasText: 'psst, a secret' }).waitFor();
  // The unread divider stands before the message he had not read.
  const divider = bob.page.getByRole('separator', { name: 'New messages' });
  assert.equal(await divider.evaluate((el) => el.nextElementSibling.querySelector('.msg-text').textContent), 'psst, a secret');
  await dmLink.filter({ hasText: /unread/ }).waitFor({ state: 'detached' }); // read: no badge
  await bob.page.getByRole('link', { name: /The Matrix/ }).first().click();
  await alice.page.getByRole('link', { name: /The Matrix/ }).first().click();
  await bob.page.getByLabel('Message', { exact: true }).waitFor();
  await alice.page.getByLabel('Message', { exact: true }).waitFor();
});

test('an image pasted shows on both sides; a wrong type and a too large one say why', async () => {
  await paste(alice.page, PNG, 'dot.png', 'image/png');
  const mine = alice.page.locator('.msg:not(.sending) img.msg-image[src^="/uploads/"]');
  await mine.waitFor();
  await bob.page.locator('img.msg-image[src^="/uploads/"]').waitFor();
  // Shown is not loaded: wait for the image's load (or error) before reading its size.
  const loaded = (img) => img.complete ? img.naturalWidth === 1 : new Promise((resolve) => {
    img.addEventListener('load', () => resolve(img.naturalWidth === 1), { once: true });
    img.addEventListener('error', () => resolve(false), { once: true });
  });
  assert.ok(await bob.page.locator('img.msg-image').evaluate(loaded));
  await paste(alice.page, Buffer.from('just text'), 'notes.txt', 'text/plain');
  await alice.page.getByRole('alert').filter({ hasText: 'not an image' }).waitFor();
  const big = Buffer.concat([PNG, Buffer.alloc(300000)]);
  await paste(alice.page, big, 'big.png', 'image/png');
  await alice.page.getByRole('alert').filter({ hasText: 'too large' }).first().waitFor();
  await alice.page.locator('.msg.failed', { hasText: 'too large' }).waitFor();
});

test('text is never HTML', async () => {
  await send(alice.page, '<img src=x onerror="window.__pwned=1"><b>bold</b>');
  const shown = bob.page.locator('.msg-text', { hasText: '<img src=x onerror=' });
  await shown.waitFor();
  assert.equal(await shown.locator('img, b').count(), 0);
  assert.equal(await bob.page.evaluate(() => window.__pwned), undefined);
});

test('Enter that ends an IME composition does not send', async () => {
  const input = alice.page.getByLabel('Message', { exact: true });
  await input.fill('안녕');
  const before = (await messageTexts(alice.page)).length;
  for (const init of [{ isComposing: true }, { keyCode: 229 }]) {
    await input.evaluate((el, extra) => {
      el.dispatchEvent(new CompositionEvent('compositionstart', { data: '' }));
      el.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', code: 'Enter', bubbles: true, cancelable: true, ...extra }));
      el.dispatchEvent(new CompositionEvent('compositionend', { data: '안녕' }));
    }, init);
  }
  await alice.page.waitForTimeout(300);
  assert.equal(await input.inputValue(), '안녕');
  assert.equal((await messageTexts(alice.page)).length, before);
  await input.press('Enter');
  await bob.page.locator('.msg-text', { hasText: '안녕' }).waitFor();
  assert.equal(await input.inputValue(), '');
});

test('offline and back: every message sent meanwhile arrives once', async () => {
  await bob.context.setOffline(true);
  await bob.page.getByText('Connection lost. Reconnecting…').waitFor();
  for (const n of [1, 2, 3]) await send(alice.page, `while away ${n}`);
  await alice.page.locator('.msg:not(.sending) .msg-text', { hasText: 'while away 3' }).waitFor();
  // A DM meanwhile is a notification Bob's stream missed: it comes on its resumption.
  const dmId = await alice.page.evaluate((id) => fetch(`/api/users/${id}/dm`, { method: 'POST' }).then((r) => r.json()).then((r) => r.id), bob.id);
  await alice.page.evaluate((id) => fetch(`/api/rooms/${id}/messages`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ body: 'did you miss me' }),
  }), dmId);
  // Bob's socket is gone: what he gets back comes from `since`.
  assert.equal(await bob.page.locator('.msg-text', { hasText: 'while away' }).count(), 0);
  await bob.context.setOffline(false);
  await bob.page.locator('.msg-text', { hasText: 'while away 3' }).waitFor();
  await bob.page.getByText('Connection lost. Reconnecting…').waitFor({ state: 'hidden' });
  const texts = await messageTexts(bob.page);
  for (const n of [1, 2, 3]) assert.equal(texts.filter((t) => t === `while away ${n}`).length, 1, `while away ${n} shown once`);
  await bob.page.getByRole('button', { name: /^Notifications, \d+ unread$/ }).click();
  await bob.page.locator('.notice.unread', { hasText: 'did you miss me' }).waitFor();
  await bob.page.keyboard.press('Escape');
});

test('a failed send retried is stored once', async () => {
  // Carol's WebSocket goes through a proxy in the test that, for her first send,
  // hides the ack and the message frame and answers an error instead: the server
  // stored it, but her page must show it failed. Her retry reuses the client_id.
  const carol = await newUser(browser, server.url, 'Carol');
  let trapped = null;
  await carol.page.routeWebSocket(/\/ws$/, (ws) => {
    const upstream = ws.connectToServer();
    ws.onMessage((text) => {
      const frame = JSON.parse(text);
      if (frame.type === 'send' && trapped === null) trapped = frame.client_id;
      else if (frame.type === 'send' && frame.client_id === trapped) trapped = 'released';
      upstream.send(text);
    });
    upstream.onMessage((text) => {
      const frame = JSON.parse(text);
      if (trapped && trapped !== 'released' && frame.client_id === trapped) {
        if (frame.type === 'ack') ws.send(JSON.stringify({ type: 'error', code: 'unavailable', message: 'the store is unavailable', ref: frame.client_id }));
        return;
      }
      ws.send(text);
    });
  });
  await carol.page.reload();
  await openRoomFromSearch(carol, 'matrix', 'The Matrix');
  await carol.page.getByRole('button', { name: 'Open the chat room' }).click();
  await send(carol.page, 'only once please');
  const failed = carol.page.locator('.msg.failed', { hasText: 'only once please' });
  await failed.waitFor();
  await failed.getByText('The server is unavailable right now').waitFor();
  await failed.getByRole('button', { name: 'Retry' }).click();
  await carol.page.locator('.msg:not(.failed):not(.sending) .msg-text', { hasText: 'only once please' }).waitFor();
  await alice.page.locator('.msg-text', { hasText: 'only once please' }).waitFor();
  const roomId = Number(new URL(carol.page.url()).hash.split('/')[2]);
  const history = await carol.page.evaluate((id) => fetch(`/api/rooms/${id}/messages?limit=200`).then((r) => r.json()), roomId);
  assert.equal(history.messages.filter((m) => m.body === 'only once please').length, 1);
  assert.equal((await messageTexts(carol.page)).filter((t) => t === 'only once please').length, 1);
  assert.equal((await messageTexts(alice.page)).filter((t) => t === 'only once please').length, 1);
  await carol.context.close();
});

test('a profile edit is seen live in the open room; logout and login', async () => {
  await alice.page.locator('.me-link').click();
  await alice.page.getByRole('link', { name: 'Edit profile' }).click();
  await alice.page.getByLabel('Display name').fill('Alice Liddell');
  await checkA11y(alice.page, 'edit profile');
  await alice.page.getByRole('button', { name: 'Save' }).click();
  await alice.page.getByText('Saved').waitFor();
  await bob.page.locator('.msg-name', { hasText: 'Alice Liddell' }).first().waitFor();
  await bob.page.getByRole('button', { name: 'Log out' }).click();
  await bob.page.getByRole('heading', { name: 'Log in to parley' }).waitFor();
  assert.equal(await bob.page.evaluate(() => fetch('/api/me').then((r) => r.status)), 401);
  await bob.page.getByLabel('Username').fill(bob.username);
  await bob.page.getByLabel('Password').fill('correct horse battery');
  await bob.page.getByRole('button', { name: 'Log in' }).click();
  await bob.page.getByRole('link', { name: /The Matrix/ }).first().waitFor();
});

test('by keyboard alone: from the room list to a sent message', async () => {
  const { page } = bob;
  await page.locator('.brand').focus();
  let focused = '';
  for (let i = 0; i < 30 && !focused.startsWith('Alice Liddell (direct message)'); i++) {
    await page.keyboard.press('Tab');
    focused = await page.evaluate(() => document.activeElement.querySelector('.room-title')?.textContent || '');
  }
  assert.ok(focused.startsWith('Alice Liddell (direct message)'), 'Tab reaches the DM in the room list');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Alice Liddell' }).waitFor();
  await page.keyboard.type('typed without a mouse');
  await page.keyboard.press('Enter');
  await alice.page.getByRole('link', { name: /^Bob \(direct message\)/ }).filter({ hasText: 'typed without a mouse' }).waitFor();
});

test('a long room keeps a bounded DOM while paging both ways; dark mode passes axe', async () => {
  const { page } = alice;
  // 320 messages published over HTTP, as a program would.
  const roomId = await page.evaluate(async () => {
    const headers = { 'Content-Type': 'application/json' };
    const room = await (await fetch('/api/contents/2/room', { method: 'POST', headers })).json();
    for (let i = 1; i <= 320; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, k) => fetch(`/api/rooms/${room.id}/messages`, {
        method: 'POST', headers, body: JSON.stringify({ client_id: `bulk-${i + k}`, body: `bulk ${i + k}` }),
      })));
    }
    return room.id;
  });
  await page.goto(`${server.url}/#/rooms/${roomId}`);
  await page.locator('.msg').first().waitFor();
  const count = () => page.locator('.messages .msg').count();
  assert.equal(await count(), 50);
  // Up to the beginning: older pages load, the newest are dropped past 200.
  const scroller = page.locator('.scroller');
  for (let i = 0; i < 20 && !(await page.getByText('This is the beginning of the room.').isVisible()); i++) {
    await scroller.evaluate((el) => { el.scrollTop = 0; });
    await page.waitForTimeout(150);
    assert.ok(await count() <= 200, `${await count()} messages in the DOM`);
  }
  await page.getByText('This is the beginning of the room.').waitFor();
  const texts = await messageTexts(page);
  const [first, last] = await page.evaluate((id) => Promise.all(['after=0&limit=1', 'limit=1'].map((q) =>
    fetch(`/api/rooms/${id}/messages?${q}`).then((r) => r.json()).then((p) => p.messages[0].body))), roomId);
  assert.equal(texts[0], first, 'the room\'s first message is at the top');
  assert.ok(!texts.includes(last), 'the newest were dropped');
  // Bob, not a member, is offered to join; his message, arriving while Alice
  // reads the beginning, is offered to her, not appended out of place.
  await bob.page.goto(`${server.url}/#/rooms/${roomId}`);
  await bob.page.getByRole('button', { name: 'Join this room' }).click();
  await send(bob.page, 'latest news');
  await page.getByRole('button', { name: 'New messages ↓' }).click();
  await page.locator('.msg-text', { hasText: 'latest news' }).waitFor();
  assert.ok(await count() <= 200);
  await page.emulateMedia({ colorScheme: 'dark' });
  await checkA11y(page, 'room (dark)');
  await screenshots(page, 'room-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  // And he leaves: the room goes from his list, and Alice sees him go.
  bob.page.once('dialog', (d) => d.accept());
  await bob.page.getByRole('button', { name: 'Leave' }).click();
  await bob.page.getByRole('heading', { name: 'Welcome to parley' }).waitFor();
  assert.equal(await bob.page.locator(`.room-item[data-room="${roomId}"]`).count(), 0);
  await page.getByText('1 member, 1 online').waitFor();
});

test('sending faster than the rate limit says so, and a retry sends', async () => {
  const { page } = bob;
  await page.getByRole('link', { name: /^Alice Liddell \(direct message\)/ }).click();
  await page.getByRole('heading', { name: 'Alice Liddell' }).waitFor();
  // 60 messages at once, past the burst of 40.
  await page.getByLabel('Message', { exact: true }).evaluate((input) => {
    for (let i = 1; i <= 60; i++) {
      input.value = `burst ${i}`;
      input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }));
    }
  });
  const failed = page.locator('.msg.failed');
  await failed.first().waitFor();
  await failed.first().getByText('You are going too fast').waitFor();
  await page.waitForTimeout(1500); // the bucket refills
  const text = await failed.first().locator('.msg-text').textContent();
  await failed.first().getByRole('button', { name: 'Retry' }).click();
  await page.locator('.msg:not(.failed):not(.sending) .msg-text', { hasText: new RegExp(`^${text}$`) }).waitFor();
  await alice.page.getByRole('link', { name: /^Bob \(direct message\)/ }).filter({ hasText: text }).waitFor();
});

test('first load: bytes transferred and time to a usable room list', async () => {
  // A fresh context (cold cache) with Alice's cookie.
  const state = await alice.context.storageState();
  const context = await browser.newContext({ storageState: state, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  let bytes = 0;
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });
  await page.goto(server.url);
  await page.getByRole('link', { name: /The Matrix/ }).first().waitFor();
  const ready = await page.evaluate(() => performance.getEntriesByName('parley:rooms-ready')[0]?.startTime);
  assert.ok(ready > 0, 'the app marks when its room list is ready');
  await page.waitForLoadState('networkidle').catch(() => {});
  timings.first_load_bytes = bytes;
  timings.rooms_ready_ms = Math.round(ready);
  console.log(`first load: ${bytes} bytes transferred, room list usable ${Math.round(ready)} ms after navigation`);
  assert.ok(bytes <= 100 * 1024, `first load transferred ${bytes} bytes, over 100 KB`);
  await context.close();
});
