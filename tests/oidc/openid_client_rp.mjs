// openid-client (v6, the certified relying-party library that found issue 12's two bugs) against keyway: discovery,
// code + PKCE + nonce + state through the hosted login (a tiny cookie-keeping browser made of fetch), the token
// response validated by openid-client, then `max_age=0` right after that login, which must show the login form
// again (OIDC Core §3.1.2.1: max_age=0 is prompt=login) and yield an id_token whose auth_time openid-client
// accepts for maxAge 0. Environment: KW_ISSUER, KW_CLIENT_ID, KW_CLIENT_SECRET, KW_REDIRECT_URI, KW_ACCOUNT,
// KW_USER_EMAIL, KW_USER_PASSWORD. Prints one JSON summary line; exits non-zero on any failure.
import * as client from 'openid-client';

import { browse, env, signIn } from './rp_common.mjs';

const issuer = env('KW_ISSUER');
const redirectUri = env('KW_REDIRECT_URI');

/** One authorization request; signs in when the login form shows. */
async function authorize(config, extra) {
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
    ...extra,
  });
  let res = await browse(url);
  const showedLogin = res.status === 200;
  if (showedLogin) {
    res = await signIn(issuer, await res.text());
  }
  if (res.status !== 303) throw new Error(`expected a redirect to the client, got ${res.status}`);
  const callback = new URL(res.headers.get('location'));
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    ...(extra.max_age !== undefined ? { maxAge: Number(extra.max_age) } : {}),
  });
  return { showedLogin, claims: tokens.claims() };
}

const config = await client.discovery(
  new URL(issuer),
  env('KW_CLIENT_ID'),
  env('KW_CLIENT_SECRET'),
  undefined,
  { execute: [client.allowInsecureRequests] }, // the test server speaks http on 127.0.0.1
);
const first = await authorize(config, {});
const again = await authorize(config, {});
const maxAge0 = await authorize(config, { max_age: '0' });
console.log(JSON.stringify({
  first_login_form: first.showedLogin,
  second_login_form: again.showedLogin,
  max_age_0_login_form: maxAge0.showedLogin,
  sub: first.claims.sub,
  same_sub: maxAge0.claims.sub === first.claims.sub,
  auth_time_present: typeof maxAge0.claims.auth_time === 'number',
}));
