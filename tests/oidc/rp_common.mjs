// What keyway's openid-client relying-party scripts (openid_client_rp.mjs, rotation_rp.mjs) share: the environment,
// a tiny browser made of fetch (follows no redirect, keeps cookies: one jar per process), the hosted login form's
// hidden inputs and its submission.

/** The environment variable `name`; an error when it is not set. */
export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

/** A browser: follows nothing, keeps cookies. */
const jar = new Map();
export async function browse(url, init = {}) {
  const headers = new Headers(init.headers || {});
  if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    jar.set(pair.slice(0, i), pair.slice(i + 1));
  }
  return res;
}

/** The value of the hidden input `name` in a hosted page, HTML entities decoded. */
export function hidden(html, name) {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  if (!m) throw new Error(`no hidden ${name} in the page`);
  const entities = { '&amp;': '&', '&quot;': '"', '&#x27;': "'", '&#39;': "'", '&lt;': '<', '&gt;': '>' };
  return m[1].replace(/&(amp|quot|#x27|#39|lt|gt);/g, (e) => entities[e]);
}

/** Submits keyway's hosted login form `page` (its CSRF token and pending request) with KW_USER_EMAIL and
 * KW_USER_PASSWORD; the response, not followed. */
export async function signIn(issuer, page) {
  return browse(new URL('/login', issuer), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      csrf_token: hidden(page, 'csrf_token'),
      authz: hidden(page, 'authz'),
      email: env('KW_USER_EMAIL'),
      password: env('KW_USER_PASSWORD'),
    }),
  });
}
