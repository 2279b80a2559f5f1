// A customer's OpenID Provider for keyway's federation tests: panva's oidc-provider (OpenID Certified), configured
// from the environment, started by a test as a real upstream IdP (keyway is the RP).
//
//   IDP_PORT=0 IDP_CONFIG='{"clients":[…],"accounts":[…]}' node tests/federation/oidc_idp.mjs
//
// stdout: exactly one line once listening, then nothing:  {"issuer":"http://127.0.0.1:PORT[/suffix]","port":PORT}
// stderr: oidc-provider's warnings and errors (never a password). SIGTERM/SIGINT: closes and exits 0.
//
// IDP_CONFIG (JSON):
//   clients:  [{client_id, client_secret?, redirect_uris:[…]}]   no client_secret = public client (auth method
//             `none`, PKCE S256 required); with a secret both client_secret_basic and client_secret_post work.
//   accounts: [{sub, email, email_verified, name, password}]
//   email_in_id_token: true (default) | false  false: the id_token carries no email/email_verified/name
//             (oidc-provider's conformIdTokenClaims), the RP must call userinfo.
//   amr:      ["pwd","mfa"]?  sent as the `amr` claim of the id_token.
//   issuer_suffix: "/tenant-a"?  the issuer becomes http://127.0.0.1:PORT/tenant-a, every endpoint below it.
//   sso_session: false (default) | true  false: every authorization request shows the login form, even in a browser
//             that signed in before (deterministic tests); true: a signed-in browser goes straight back to the RP
//             (single sign-on as at a real IdP).
// IDP_JWKS: optional path of a JWKS file with private RSA key(s) to sign with; default: a fresh RSA-2048 key.
//
// Login (the interaction page, plain HTML, no JavaScript): GET {issuer}/interaction/{uid} shows one form
// (id="login-form", method=post, action = the same URL) with inputs `login` (e-mail) and `password` and two submit
// buttons named `action`: id="submit" value="login" ("Sign in") and id="cancel" value="cancel" ("Cancel").
// A posted form without `action` counts as "login". Wrong e-mail/password: 200, the form again with
// <p id="error" role="alert">. Success: 303 to {issuer}/auth/{uid}, which redirects to the RP with code/state/iss.
// Cancel: 303 to {issuer}/auth/{uid}, which redirects to the RP with error=access_denied&state&iss.
// Consent is never asked: loadExistingGrant grants what the client requested (see below).
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import Provider, { interactionPolicy } from 'oidc-provider';

// stdout carries only the ready line; anything a library logs goes to stderr.
console.log = console.error;
console.info = console.error;

function fail(message) {
  process.stderr.write(`oidc_idp: ${message}\n`);
  process.exit(2);
}

// ---- configuration ----------------------------------------------------------------------------------------------
let config;
try {
  config = JSON.parse(process.env.IDP_CONFIG || '{}');
} catch (e) {
  fail(`IDP_CONFIG is not valid JSON: ${e.message}`);
}
const clientsIn = Array.isArray(config.clients) ? config.clients : [];
const accountsIn = Array.isArray(config.accounts) ? config.accounts : [];
if (clientsIn.length === 0) fail('IDP_CONFIG.clients must list at least one client');
if (accountsIn.length === 0) fail('IDP_CONFIG.accounts must list at least one account');
const emailInIdToken = config.email_in_id_token !== false;
const amr = Array.isArray(config.amr) && config.amr.length > 0 ? config.amr.map(String) : undefined;
let suffix = typeof config.issuer_suffix === 'string' ? config.issuer_suffix.trim() : '';
if (suffix && !suffix.startsWith('/')) suffix = `/${suffix}`;
suffix = suffix.replace(/\/+$/, '');
const ssoSession = config.sso_session === true;
const port = Number(process.env.IDP_PORT || 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail('IDP_PORT must be a port number (0 = random)');

// Passwords are kept only as a salted SHA-256 and compared in constant time (a test IdP, not a password store).
const salt = crypto.randomBytes(16);
const pwHash = (pw) => crypto.createHash('sha256').update(salt).update(String(pw)).digest();
const accounts = accountsIn.map((a) => {
  if (!a.sub || !a.email || typeof a.password !== 'string') fail('each account needs sub, email and password');
  return {
    sub: String(a.sub),
    email: String(a.email),
    email_verified: a.email_verified !== false,
    name: a.name === undefined ? undefined : String(a.name),
    pwHash: pwHash(a.password),
  };
});
const accountBySub = new Map(accounts.map((a) => [a.sub, a]));

function checkLogin(login, password) {
  const hash = pwHash(typeof password === 'string' ? password : ''); // hash even for an unknown e-mail
  const email = typeof login === 'string' ? login.trim().toLowerCase() : '';
  const account = accounts.find((a) => a.email.toLowerCase() === email);
  const ok = crypto.timingSafeEqual(hash, account ? account.pwHash : pwHash(crypto.randomUUID()));
  return account && ok ? account : null;
}

const clients = clientsIn.map((c) => {
  if (!c.client_id || !Array.isArray(c.redirect_uris) || c.redirect_uris.length === 0) {
    fail('each client needs client_id and redirect_uris');
  }
  const base = {
    client_id: String(c.client_id),
    redirect_uris: c.redirect_uris.map(String),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    id_token_signed_response_alg: 'RS256',
  };
  // A secret => confidential. oidc-provider stores one method per client but accepts basic and post for either
  // (lib/shared/client_auth.js). No secret => public: auth method `none`, and pkceRequired() then demands S256.
  return c.client_secret
    ? { ...base, client_secret: String(c.client_secret), token_endpoint_auth_method: 'client_secret_basic' }
    : { ...base, token_endpoint_auth_method: 'none' };
});

// ---- signing key ------------------------------------------------------------------------------------------------
let jwks;
if (process.env.IDP_JWKS) {
  try {
    jwks = JSON.parse(fs.readFileSync(process.env.IDP_JWKS, 'utf8'));
  } catch (e) {
    fail(`cannot read IDP_JWKS: ${e.message}`);
  }
} else {
  // Generated as PEM and exported to JWK from a key object of its own. Exporting the generated KeyObject directly
  // deadlocked about once in 100 starts on Node.js 20: ExportJWKRsaKey holds the key's mutex, an allocation inside
  // it runs the GC, and the GC's weak callback destroys the finished KeyGenJob, whose destructor takes the same
  // mutex (gdb: KeyGenJob::~KeyGenJob under ExportJWKRsaKey, main thread in futex_wait forever).
  const { privateKey: pem } = crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const privateKey = crypto.createPrivateKey(pem);
  jwks = {
    keys: [{ ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' }],
  };
}

// Without SSO sessions the login prompt is requested on every authorization request until this very interaction
// has produced a login result (the check runs again when the interaction resumes).
const policy = interactionPolicy.base();
if (!ssoSession) {
  policy.get('login').checks.add(new interactionPolicy.Check(
    'sso_session_off',
    'this test IdP asks for credentials on every authorization request',
    (ctx) => (ctx.oidc.result?.login ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT),
  ));
}

// ---- the provider -----------------------------------------------------------------------------------------------
// The issuer needs the port, known only after listen(): bind first, then build the provider.
const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const actualPort = server.address().port;
const issuer = `http://127.0.0.1:${actualPort}${suffix}`;

const provider = new Provider(issuer, {
  clients,
  jwks,
  responseTypes: ['code'],
  scopes: ['openid', 'email', 'profile'],
  claims: {
    // `amr` must be a supported claim, or oidc-provider filters the login's amr out of the id_token.
    openid: ['sub', 'amr'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // true (oidc-provider's default): with a code flow the scope-requested claims go to userinfo only, so the
  // id_token has no email; false: they are in the id_token too.
  conformIdTokenClaims: !emailInIdToken,
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: true },
  },
  // The RP does not choose the login page: every interaction comes to the form below.
  interactions: { policy, url: (ctx, interaction) => `${suffix}/interaction/${interaction.uid}` },
  // Automatic consent: whatever the client asked for is granted, so no consent prompt is ever needed.
  async loadExistingGrant(ctx) {
    const { client, session } = ctx.oidc;
    if (!session.accountId) return undefined;
    const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
    let grant = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
    if (!grant || grant.accountId !== session.accountId) {
      grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
    }
    grant.addOIDCScope([...ctx.oidc.requestParamOIDCScopes].join(' '));
    const claims = [...ctx.oidc.requestParamClaims];
    if (claims.length) grant.addOIDCClaims(claims);
    await grant.save();
    return grant;
  },
  async findAccount(ctx, id) {
    const account = accountBySub.get(id);
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: account.sub,
          email: account.email,
          email_verified: account.email_verified,
          ...(account.name === undefined ? {} : { name: account.name }),
        };
      },
    };
  },
  // A code is short-lived and single use (oidc-provider's defaults); the rest is fixed here so that
  // oidc-provider does not print a notice for each default TTL function it calls.
  ttl: { IdToken: 600, AccessToken: 600, Interaction: 600, Grant: 3600, Session: 3600 },
});

// ---- interaction (login) page -----------------------------------------------------------------------------------
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
function loginPage(uid, clientId, loginValue, error) {
  const action = `${suffix}/interaction/${uid}`;
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in - customer IdP</title></head>
<body>
<main>
<h1>Customer IdP</h1>
<p>Sign in to continue to <strong id="client">${esc(clientId)}</strong>.</p>
${error ? `<p id="error" role="alert">${esc(error)}</p>` : ''}
<form id="login-form" method="post" action="${esc(action)}">
<p><label for="login">E-mail</label>
<input id="login" name="login" type="email" autocomplete="username" value="${esc(loginValue)}"></p>
<p><label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password"></p>
<p><button id="submit" type="submit" name="action" value="login">Sign in</button>
<button id="cancel" type="submit" name="action" value="cancel" formnovalidate>Cancel</button></p>
</form>
</main>
</body>
</html>
`;
}

async function readForm(req, limit = 16384) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > limit) throw new Error('form too large');
  }
  return Object.fromEntries(new URLSearchParams(body));
}

provider.use(async (ctx, next) => {
  const m = /^\/interaction\/([\w-]+)$/.exec(ctx.path);
  if (!m) return next();
  ctx.set('cache-control', 'no-store');
  // Throws SessionNotFound (rendered as an error page) when the interaction cookie is missing or expired.
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== m[1]) ctx.throw(400, 'interaction mismatch');
  const clientId = details.params.client_id;

  if (ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = loginPage(details.uid, clientId, details.params.login_hint);
    return undefined;
  }
  if (ctx.method !== 'POST') ctx.throw(405);
  const form = await readForm(ctx.req);

  let result;
  if (form.action === 'cancel') {
    // The user refuses: the RP gets error=access_denied (OIDC Core 3.1.2.6) with its state.
    result = { error: 'access_denied', error_description: 'The user cancelled the sign-in at the identity provider' };
  } else {
    const account = checkLogin(form.login, form.password);
    if (!account) {
      ctx.type = 'html';
      ctx.body = loginPage(details.uid, clientId, form.login, 'Invalid e-mail or password.');
      return undefined;
    }
    result = { login: { accountId: account.sub, ...(amr ? { amr } : {}) } };
  }
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(returnTo);
  return undefined;
});

// ---- HTTP: mount the provider under the issuer's path -----------------------------------------------------------
const callback = provider.callback();
server.on('request', (req, res) => {
  if (suffix) {
    const url = req.url || '/';
    if (url !== suffix && !url.startsWith(`${suffix}/`) && !url.startsWith(`${suffix}?`)) {
      res.statusCode = 404;
      res.end('not found\n');
      return;
    }
    // oidc-provider derives its mount path from originalUrl minus url (lib/helpers/oidc_context.js urlFor).
    req.originalUrl = url;
    req.url = url.slice(suffix.length) || '/';
  }
  callback(req, res);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

process.stdout.write(`${JSON.stringify({ issuer, port: actualPort })}\n`);
