// The views that are not a room: signing in, the welcome page, content search, a
// content's page, a user's profile and editing my own. Each renders into main and
// may return a function that tears it down.

import { api, describe, IMAGE_TYPES, upload } from './api.js';
import { avatar, debounce, fill, h, toast } from './dom.js';

function errorBox() {
  return h('p.form-error', { role: 'alert' });
}

function field(label, input, hint) {
  const id = input.id;
  return h('div.field', {}, h('label', { for: id }, label), input, hint ? h('p.hint', { id: `${id}-hint` }, hint) : null);
}

// Sign up or log in; onSignedIn(user) once the cookie is set.
export function authPage(main, onSignedIn) {
  let mode = 'login';
  const render = () => {
    const err = errorBox();
    const username = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, minLength: 3, maxLength: 32, pattern: '[a-z0-9_]+', autocapitalize: 'none', spellcheck: false });
    const password = h('input', { id: 'password', name: 'password', type: 'password', required: true, minLength: 8, autocomplete: mode === 'login' ? 'current-password' : 'new-password' });
    const displayName = h('input', { id: 'display_name', name: 'display_name', required: true, maxLength: 64, autocomplete: 'name' });
    const submit = h('button.primary', { type: 'submit' }, mode === 'login' ? 'Log in' : 'Create account');
    const form = h('form.auth-form', {
      'aria-labelledby': 'auth-title',
      onsubmit: async (e) => {
        e.preventDefault();
        submit.disabled = true;
        err.textContent = '';
        try {
          const body = { username: username.value.trim(), password: password.value };
          if (mode === 'signup') body.display_name = displayName.value.trim();
          const answer = await api.post(mode === 'login' ? '/api/auth/login' : '/api/auth/signup', body);
          onSignedIn(answer.user);
        } catch (ex) {
          err.textContent = ex.status === 401 ? 'Wrong username or password' : describe(ex.code, ex.message);
          submit.disabled = false;
        }
      },
    },
      h('h1', { id: 'auth-title' }, mode === 'login' ? 'Log in to parley' : 'Create your parley account'),
      field('Username', username, mode === 'signup' ? '3-32 lowercase letters, digits or _' : null),
      mode === 'signup' ? field('Display name', displayName) : null,
      field('Password', password, mode === 'signup' ? 'At least 8 characters' : null),
      err, submit,
      h('p.switch', {}, mode === 'login' ? 'New here? ' : 'Have an account? ',
        h('button.link', { type: 'button', onclick: () => { mode = mode === 'login' ? 'signup' : 'login'; render(); } },
          mode === 'login' ? 'Create an account' : 'Log in')));
    fill(main, h('main.auth', { id: 'main' }, h('div.brand', { 'aria-hidden': 'true' }, 'parley'), form));
    username.focus();
  };
  render();
}

export function homePage(main) {
  fill(main, h('section.notice', { 'aria-labelledby': 'home-title' },
    h('h2', { id: 'home-title' }, 'Welcome to parley'),
    h('p', {}, 'Pick a room on the left, or find a movie or book and join the conversation about it.'),
    h('a.button.primary', { href: '#/search' }, 'Find movies and books')));
}

// Search with results as you type.
export function searchPage(main, query) {
  const input = h('input', { id: 'search', type: 'search', value: query || '', placeholder: 'Title or words from the description', autocomplete: 'off' });
  const kind = h('select', { id: 'kind', 'aria-label': 'Kind' },
    h('option', { value: '' }, 'Movies and books'), h('option', { value: 'movie' }, 'Movies'), h('option', { value: 'book' }, 'Books'));
  const results = h('ul.results', { 'aria-live': 'polite', 'aria-label': 'Results' });
  let seq = 0;
  const run = async () => {
    const mine = ++seq;
    const params = new URLSearchParams({ q: input.value, limit: '30' });
    if (kind.value) params.set('kind', kind.value);
    try {
      const { contents } = await api.get(`/api/contents?${params}`);
      if (mine !== seq) return; // an older answer that came late
      history.replaceState(null, '', `#/search?q=${encodeURIComponent(input.value)}`);
      fill(results, contents.length ? contents.map((c) => h('li', {},
        h('a.result', { href: `#/contents/${c.id}` },
          h('span.kind', {}, c.kind === 'movie' ? 'Movie' : 'Book'),
          h('span.result-title', {}, c.title, c.year ? ` (${c.year})` : ''),
          c.description ? h('span.result-desc', {}, c.description) : null))) : h('li.empty', {}, 'Nothing found.'));
    } catch (e) {
      if (mine === seq) fill(results, h('li.form-error', { role: 'alert' }, describe(e.code, e.message)));
    }
  };
  const later = debounce(run, 150);
  input.addEventListener('input', later);
  kind.addEventListener('change', run);
  fill(main, h('section.page', { 'aria-labelledby': 'search-title' },
    h('h2', { id: 'search-title' }, 'Movies and books'),
    h('form.search-form', { role: 'search', onsubmit: (e) => { e.preventDefault(); run(); } },
      h('label.visually-hidden', { for: 'search' }, 'Search movies and books'), input, kind),
    results));
  input.focus();
  run();
}

// GETs path for a page shown in main, saying "Loading…" meanwhile; resolves to the
// answer, or to null after showing why there is none.
async function loadInto(main, path) {
  fill(main, h('p.loading', { role: 'status' }, 'Loading…'));
  try {
    return await api.get(path);
  } catch (e) {
    fill(main, h('section.notice', {}, h('h2', {}, 'This page cannot be shown'), h('p', { role: 'alert' }, describe(e.code, e.message))));
    return null;
  }
}

// Whether I like a content: the API does not say, so it is learnt from answers
// (a second like is 409, an unlike of what I do not like 404) and kept for the session.
const liked = new Map();

export async function contentPage(main, id, openRoom) {
  const content = await loadInto(main, `/api/contents/${id}`);
  if (!content) return;
  const likes = h('span.likes', { 'aria-live': 'polite' });
  const likeBtn = h('button', { type: 'button' });
  const showLikes = () => {
    likes.textContent = `${content.likes} like${content.likes === 1 ? '' : 's'}`;
    const on = liked.get(id) === true;
    likeBtn.textContent = on ? '♥ Liked' : '♡ Like';
    likeBtn.className = on ? 'primary' : '';
    likeBtn.setAttribute('aria-pressed', String(on));
  };
  likeBtn.addEventListener('click', async () => {
    const on = liked.get(id) === true;
    likeBtn.disabled = true;
    try {
      if (on) await api.del(`/api/contents/${id}/like`);
      else await api.post(`/api/contents/${id}/like`);
      content.likes += on ? -1 : 1;
      liked.set(id, !on);
    } catch (e) {
      if (e.code === 'conflict') liked.set(id, true);
      else if (e.code === 'not_found') liked.set(id, false);
      else toast(describe(e.code, e.message));
    }
    likeBtn.disabled = false;
    showLikes();
  });
  const roomBtn = h('button.primary', {
    type: 'button',
    onclick: async () => {
      roomBtn.disabled = true;
      roomBtn.textContent = 'Opening…';
      try {
        const room = await api.post(`/api/contents/${id}/room`);
        openRoom(room);
      } catch (e) {
        toast(describe(e.code, e.message));
        roomBtn.disabled = false;
        roomBtn.textContent = 'Open the chat room';
      }
    },
  }, 'Open the chat room');
  showLikes();
  fill(main, h('article.page.content', { 'aria-labelledby': 'content-title' },
    h('p.kind', {}, content.kind === 'movie' ? 'Movie' : 'Book', content.year ? ` · ${content.year}` : ''),
    h('h2', { id: 'content-title' }, content.title),
    content.description ? h('p.description', {}, content.description) : null,
    h('div.actions', {}, likeBtn, likes),
    h('div.actions', {}, roomBtn)));
}

export async function profilePage(main, id, me, openRoom) {
  const user = await loadInto(main, `/api/users/${id}`);
  if (!user) return;
  const counts = h('p.counts', { 'aria-live': 'polite' });
  const showCounts = () => {
    fill(counts, h('strong', {}, String(user.followers)), ` follower${user.followers === 1 ? '' : 's'} · `,
      h('strong', {}, String(user.following)), ' following');
  };
  const actions = [];
  if (user.id === me.id) {
    actions.push(h('a.button', { href: '#/me' }, 'Edit profile'));
  } else {
    const follow = h('button', { type: 'button' });
    const showFollow = () => {
      follow.textContent = user.followed_by_me ? 'Following' : 'Follow';
      follow.className = user.followed_by_me ? '' : 'primary';
      follow.setAttribute('aria-pressed', String(user.followed_by_me));
    };
    follow.addEventListener('click', async () => {
      follow.disabled = true;
      try {
        if (user.followed_by_me) await api.del(`/api/users/${id}/follow`);
        else await api.post(`/api/users/${id}/follow`);
        user.followers += user.followed_by_me ? -1 : 1;
        user.followed_by_me = !user.followed_by_me;
      } catch (e) {
        toast(describe(e.code, e.message));
      }
      follow.disabled = false;
      showFollow();
      showCounts();
    });
    showFollow();
    const dm = h('button.primary', {
      type: 'button',
      onclick: async () => {
        dm.disabled = true;
        try {
          openRoom(await api.post(`/api/users/${id}/dm`));
        } catch (e) {
          toast(describe(e.code, e.message));
          dm.disabled = false;
        }
      },
    }, 'Send a message');
    actions.push(follow, dm);
  }
  showCounts();
  fill(main, h('article.page.profile', { 'aria-labelledby': 'profile-title' },
    avatar(user, 'lg'),
    h('h2', { id: 'profile-title' }, user.display_name),
    h('p.username', {}, `@${user.username}`),
    counts,
    h('div.actions', {}, actions)));
}

// Editing my display name and avatar; onSaved(user) after PATCH /api/me.
export function mePage(main, me, onSaved) {
  const err = errorBox();
  const name = h('input', { id: 'me-name', value: me.display_name, required: true, maxLength: 64 });
  let avatarUrl = me.avatar_url || '';
  const preview = h('div.avatar-preview');
  const showPreview = () => fill(preview, avatar({ ...me, avatar_url: avatarUrl }, 'lg'));
  const file = h('input', { id: 'me-avatar', type: 'file', accept: IMAGE_TYPES.join(',') });
  file.addEventListener('change', async () => {
    const chosen = file.files[0];
    if (!chosen) return;
    err.textContent = '';
    try {
      avatarUrl = await upload(chosen);
      showPreview();
    } catch (e) {
      err.textContent = describe(e.code, e.message);
    }
  });
  const save = h('button.primary', { type: 'submit' }, 'Save');
  showPreview();
  fill(main, h('section.page', { 'aria-labelledby': 'me-title' },
    h('h2', { id: 'me-title' }, 'Your profile'),
    h('form.me-form', {
      onsubmit: async (e) => {
        e.preventDefault();
        save.disabled = true;
        err.textContent = '';
        try {
          const body = { display_name: name.value.trim() };
          if (avatarUrl) body.avatar_url = avatarUrl;
          const user = await api.patch('/api/me', body);
          onSaved(user);
          toast('Saved', 'ok');
        } catch (ex) {
          err.textContent = describe(ex.code, ex.message);
        }
        save.disabled = false;
      },
    }, preview, field('Avatar image', file), field('Display name', name), err, save)));
}
