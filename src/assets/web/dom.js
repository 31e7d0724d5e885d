// DOM helpers for every view. h() builds elements from tags, properties and
// children; a string child is always a text node, so text from the server is never
// parsed as HTML anywhere in the client (no innerHTML).

export function h(tag, props, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key in el && !key.includes('-') && key !== 'list') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Replaces the children of el.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Text with http(s) links made clickable: the url becomes an <a> whose href is
// the parsed url (only http and https), opened without a referrer or opener.
const URL_RE = /\bhttps?:\/\/[^\s<>"']+/gi;
export function linkify(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    let url = match[0].replace(/[.,;:!?)\]]+$/, '');
    let href = null;
    try {
      const parsed = new URL(url);
      if (parsed.protocol === 'http:' || parsed.protocol === 'https:') href = parsed.href;
    } catch { /* not a url after all: plain text */ }
    if (!href) continue;
    out.push(text.slice(last, match.index));
    out.push(h('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow' }, url));
    last = match.index + url.length;
  }
  out.push(text.slice(last));
  return out;
}

// An avatar: the user's image when it is one of ours (CSP allows no other), else
// their initials on a colour of their own.
export function avatar(user, size = 'md') {
  const name = (user && (user.display_name || user.username)) || '?';
  const initials = name.trim().split(/\s+/).slice(0, 2).map((w) => [...w][0] || '').join('').toUpperCase();
  const hue = ((user && user.id) || 0) * 47 % 360;
  const box = h(`span.avatar.avatar-${size}`, { 'aria-hidden': 'true' }, initials);
  box.style.setProperty('--hue', hue);
  const url = user && user.avatar_url;
  if (url && url.startsWith('/')) {
    const img = h('img', { src: url, alt: '', loading: 'lazy', decoding: 'async' });
    img.addEventListener('error', () => img.remove());
    box.append(img);
  }
  return box;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

// A short time: the clock today, the date before.
export function shortTime(ts) {
  const d = new Date(ts);
  return d.toDateString() === new Date().toDateString() ? timeFmt.format(d) : dayFmt.format(d);
}

export function fullTime(ts) {
  return new Date(ts).toLocaleString();
}

// Announces text to screen readers through the page's polite live region.
export function announce(text) {
  const region = document.getElementById('announcer');
  if (region) region.textContent = text;
}

// A transient message at the bottom of the screen (errors in words, confirmations).
export function toast(text, kind = 'error') {
  const host = document.getElementById('toasts');
  if (!host) return;
  const el = h(`div.toast.toast-${kind}`, { role: kind === 'error' ? 'alert' : 'status' }, text);
  host.append(el);
  setTimeout(() => el.remove(), 6000);
}

// Icons drawn here rather than as emoji, which not every system has a font for.
const ICONS = {
  bell: 'M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1z',
  attach: 'M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z',
  back: 'M15.4 5.4 14 4l-8 8 8 8 1.4-1.4L8.8 12z',
};

export function icon(name) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'icon-svg');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', ICONS[name]);
  svg.append(path);
  return svg;
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
