// parley's HTTP API (PROTOCOL.md), authenticated by the parley_token cookie that
// sign-up and login set: same-origin fetches send it, and the browser adds the
// Origin header the server checks on every POST, PATCH and DELETE. The token in
// the login answer is never stored by the client.

// An error from the server (or the network), with its words for people.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// What an error code means to a user; the server's own message is added.
const WORDS = {
  rate_limited: 'You are going too fast',
  payload_too_large: 'That is too large',
  unsupported_media_type: 'That file is not an image the server takes (PNG, JPEG, GIF or WebP)',
  forbidden: 'You are not allowed to do that here',
  unauthorized: 'Your session has ended; please log in again',
  username_taken: 'That username is taken',
  room_not_found: 'That room does not exist',
  user_not_found: 'That user does not exist',
  content_not_found: 'That content does not exist',
  not_found: 'Not found',
  conflict: 'Already done',
  room_creation_timeout: 'The room could not be created in time; try again',
  unavailable: 'The server is unavailable right now; try again',
  internal: 'The server failed; try again',
  network: 'Cannot reach the server',
  not_member: 'You are not a member of this room',
};

export function describe(code, message) {
  const words = WORDS[code];
  if (!words) return message || code;
  return message && code !== 'network' && code !== 'unauthorized' ? `${words}: ${message}` : words;
}

// Called with every 401 a request gets (the session is gone).
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// Sends a request; body is JSON unless it is a Blob (an upload). Resolves to the
// parsed answer (null for 204); rejects with an ApiError.
export async function request(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (body instanceof Blob) {
    init.body = body;
    init.headers['Content-Type'] = body.type;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server');
  }
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch { /* an answer without JSON: its status says enough */ }
  if (res.ok) return data;
  const err = (data && data.error) || {};
  const code = err.code || `http_${res.status}`;
  let message = err.message || res.statusText;
  if (res.status === 429 && res.headers.get('Retry-After'))
    message = `try again in ${res.headers.get('Retry-After')} s`;
  if (res.status === 401 && !path.startsWith('/api/auth/')) onUnauthorized();
  throw new ApiError(res.status, code, message);
}

export const api = {
  get: (path) => request('GET', path),
  post: (path, body) => request('POST', path, body),
  patch: (path, body) => request('PATCH', path, body),
  del: (path) => request('DELETE', path),
};

export const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

// Uploads an image file; resolves to its url. A type the server never takes is
// refused here, before sending; the size limit is the server's (it refuses from
// Content-Length, before the body is sent).
export async function upload(file) {
  if (!IMAGE_TYPES.includes(file.type))
    throw new ApiError(415, 'unsupported_media_type', `${file.name || 'the file'} is ${file.type || 'of an unknown type'}`);
  const answer = await request('POST', '/api/uploads', file);
  return answer.url;
}
