// openid-client (v6) as a relying party that caches keyway's JWKS, signing in again and again while `keyway keys
// rotate` runs (issue 15 item 2). ID token signatures are verified (enableNonRepudiationChecks) with openid-client's
// own JWKS cache, which refetches on an unknown kid only when the cache is a minute old: a key that signed before
// relying parties could have fetched it would fail here. Environment: KW_ISSUER, KW_CLIENT_ID, KW_CLIENT_SECRET,
// KW_REDIRECT_URI, KW_ACCOUNT, KW_USER_EMAIL, KW_USER_PASSWORD, KW_DURATION_MS. Prints one JSON line: every login's
// time, kid and outcome, and the times the JWKS was fetched.
import * as client from 'openid-client';

import { browse, env, signIn } from './rp_common.mjs';

const issuer = env('KW_ISSUER');
const redirectUri = env('KW_REDIRECT_URI');
const jwksFetches = [];

async function login(config) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid email',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    customer_account_code: env('KW_ACCOUNT'),
  });
  let res = await browse(url);
  if (res.status === 200) {
    res = await signIn(issuer, await res.text());
  }
  if (res.status !== 303) throw new Error(`expected a redirect to the client, got ${res.status}`);
  const tokens = await client.authorizationCodeGrant(config, new URL(res.headers.get('location')), {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
  });
  const header = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url').toString());
  return header.kid;
}

const config = await client.discovery(
  new URL(issuer),
  env('KW_CLIENT_ID'),
  env('KW_CLIENT_SECRET'),
  undefined,
  { execute: [client.allowInsecureRequests] },
);
config[client.customFetch] = (url, options) => {
  if (String(url).includes('jwks')) jwksFetches.push(Date.now() / 1000);
  return fetch(url, options);
};
// Verify every ID token's signature against the (cached) JWKS.
client.enableNonRepudiationChecks(config);

const logins = [];
const end = Date.now() + Number(env('KW_DURATION_MS'));
while (Date.now() < end) {
  const t = Date.now() / 1000;
  try {
    logins.push({ t, kid: await login(config), ok: true });
  } catch (e) {
    logins.push({ t, ok: false, error: String(e && (e.cause?.message || e.message) || e) });
  }
  await new Promise((r) => setTimeout(r, 200));
}
console.log(JSON.stringify({ logins, jwks_fetches: jwksFetches }));
