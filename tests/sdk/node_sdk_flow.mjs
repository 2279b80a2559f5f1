#!/usr/bin/env node
// Drive the official LicenseSpring Node SDK (npm @licensespring/node-sdk 1.4.17) against a running keyway.
//
// Configuration (environment), the same as python_sdk_flow.py:
//   KW_BASE             keyway base URL, no trailing slash (e.g. http://127.0.0.1:43123)
//   KW_API_KEY          License API key
//   KW_SHARED_KEY       its shared key
//   KW_PRODUCT          product short code
//   KW_ACCOUNT          customer account code
//   KW_USER_EMAIL       license user e-mail        (code, token, user_licenses)
//   KW_USER_PASSWORD    license user password      (code, token, user_licenses)
//   KW_PUBLIC_KEY_FILE  keyway's license public key (PEM): the SDK's `publicKey`
//   KW_REDIRECT_URI     the product's redirect URI the login ends at (never fetched)
//   KW_SCENARIO         code (default) | token | user_licenses | error | sso_url
//   KW_HARDWARE_ID      optional; default: a fresh random id per run
//
// Scenarios:
//   code           getSSOUrl(response_type=code) -> hosted login -> activateLicense({code}) -> check -> deactivate
//   token          getSSOUrl(response_type=token) -> hosted login -> activateLicense({id_token}) -> check -> deactivate
//   user_licenses  getSSOUrl(response_type=code) -> hosted login -> getUserLicenses({code})
//   error          activateLicense with a bogus code (-> invalid_code) and a bogus id_token (-> invalid_id_token)
//   sso_url        getSSOUrl for both response types only (no login)
//
// The SDK always verifies the `LicenseSignature` header (RSA-SHA256 over JSON.stringify(body)) and, on activation
// and check, the body field `license_signature`, with `publicKey`; it cannot be turned off.
//
// Prints exactly one JSON line on stdout ({"sdk": "node", "scenario": ..., "ok": ..., "steps": [...], ...});
// progress goes to stderr. Exit status: 0 when every assertion held, 1 when one failed, 2 on bad configuration.

import { createRequire } from 'node:module';
import { randomUUID, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { LicenseManager } = require('@licensespring/node-sdk');
const SDK_VERSION = require('@licensespring/node-sdk/package.json').version;
// The axios instance the SDK itself uses (resolved from the SDK's own location), to record what keyway answered:
// the SDK reports some failures only as {code: "internal_server_error"} (e.g. a missing LicenseSignature header or
// an unexpected deactivate_license body).
const sdkAxios = createRequire(require.resolve('@licensespring/node-sdk'))('axios');
const apiTrace = [];
function recordExchange(response) {
  if (!response || !response.config) return;
  const headers = response.headers || {};
  const signature = typeof headers.get === 'function' ? headers.get('licensesignature') : headers.licensesignature;
  let body;
  try {
    body = JSON.stringify(response.data);
  } catch {
    body = String(response.data);
  }
  const url = new URL(response.config.url, 'http://invalid/');
  apiTrace.push({
    request: `${String(response.config.method).toUpperCase()} ${url.pathname}`,
    status: response.status,
    license_signature_header: Boolean(signature),
    body: body && body.length > 300 ? `${body.slice(0, 300)}…` : body,
  });
  if (apiTrace.length > 8) apiTrace.shift();
}
sdkAxios.interceptors.response.use(
  (response) => {
    recordExchange(response);
    return response;
  },
  (error) => {
    recordExchange(error && error.response);
    return Promise.reject(error);
  },
);

const SCENARIOS = ['code', 'token', 'user_licenses', 'error', 'sso_url'];
const LOGIN_SCENARIOS = ['code', 'token', 'user_licenses'];
const MAX_HOPS = 20;
const HTTP_TIMEOUT_MS = 30_000;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

class ConfigError extends Error {}
class StepFailure extends Error {}

const log = (message) => process.stderr.write(`[node_sdk_flow] ${message}\n`);

function expect(condition, message) {
  if (!condition) throw new StepFailure(message);
}

// ---------------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------------

function readEnv() {
  const scenario = (process.env.KW_SCENARIO || 'code').trim();
  if (!SCENARIOS.includes(scenario)) {
    throw new ConfigError(`KW_SCENARIO must be one of ${SCENARIOS.join(', ')} (got ${JSON.stringify(scenario)})`);
  }
  const required = ['KW_BASE', 'KW_API_KEY', 'KW_SHARED_KEY', 'KW_PRODUCT', 'KW_ACCOUNT', 'KW_PUBLIC_KEY_FILE'];
  if (LOGIN_SCENARIOS.includes(scenario)) required.push('KW_USER_EMAIL', 'KW_USER_PASSWORD', 'KW_REDIRECT_URI');
  const missing = required.filter((name) => !process.env[name]);
  if (missing.length) throw new ConfigError(`missing environment variables: ${missing.join(', ')}`);

  const base = process.env.KW_BASE.replace(/\/+$/, '');
  let parsed;
  try {
    parsed = new URL(base);
  } catch {
    throw new ConfigError(`KW_BASE is not a URL: ${JSON.stringify(base)}`);
  }
  if (!['http:', 'https:'].includes(parsed.protocol)) throw new ConfigError(`KW_BASE must be http(s): ${base}`);

  let publicKey;
  try {
    publicKey = readFileSync(process.env.KW_PUBLIC_KEY_FILE, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read KW_PUBLIC_KEY_FILE: ${error.message}`);
  }
  if (!publicKey.includes('BEGIN PUBLIC KEY')) {
    throw new ConfigError('KW_PUBLIC_KEY_FILE does not contain a PEM public key (-----BEGIN PUBLIC KEY-----)');
  }

  return {
    scenario,
    base,
    apiKey: process.env.KW_API_KEY,
    sharedKey: process.env.KW_SHARED_KEY,
    product: process.env.KW_PRODUCT,
    account: process.env.KW_ACCOUNT,
    email: process.env.KW_USER_EMAIL || '',
    password: process.env.KW_USER_PASSWORD || '',
    redirectUri: process.env.KW_REDIRECT_URI || '',
    publicKey,
    hardwareId: process.env.KW_HARDWARE_ID || `kw-node-${randomUUID().replace(/-/g, '')}`,
  };
}

function makeManager(env, filePath) {
  const manager = new LicenseManager({
    apiKey: env.apiKey,
    sharedKey: env.sharedKey,
    productCode: env.product,
    appName: 'keyway-sdk-test',
    appVersion: '1.0.0',
    apiPath: `${env.base}/api/v4/`,
    publicKey: env.publicKey,
    hardwareID: env.hardwareId,
    filePath,
    filename: 'License',
    fileKey: randomBytes(24).toString('hex'),
    isGuardFileEnabled: false,
    logLevel: 'off',
  });
  // Never fall back to the package's .env.prod (LicenseSpring's API and key).
  expect(manager.config.apiPath === `${env.base}/api/v4/`, `SDK apiPath is ${manager.config.apiPath}`);
  expect(manager.config.publicKey === env.publicKey, "SDK publicKey is not keyway's key");
  expect(manager.getHardwareID() === env.hardwareId, `SDK hardware id is ${manager.getHardwareID()}`);
  return manager;
}

// ---------------------------------------------------------------------------------------------------------
// Hosted login (fetch with redirect: "manual" and a tiny cookie jar, like a browser without JavaScript)
// ---------------------------------------------------------------------------------------------------------

class CookieJar {
  constructor() {
    this.cookies = new Map(); // name -> value; one host, so domain/path scoping is not needed
  }

  store(response) {
    const lines = typeof response.headers.getSetCookie === 'function' ? response.headers.getSetCookie() : [];
    for (const line of lines) {
      const [pair, ...attributes] = line.split(';');
      const index = pair.indexOf('=');
      if (index <= 0) continue;
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      const expired = attributes.some((attribute) => {
        const [key, val = ''] = attribute.split('=');
        const k = key.trim().toLowerCase();
        if (k === 'max-age') return Number(val.trim()) <= 0;
        if (k === 'expires') return Date.parse(val.trim()) <= Date.now();
        return false;
      });
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header() {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

function decodeEntities(text) {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (match, entity) => {
    if (entity[0] === '#') {
      const code = entity[1].toLowerCase() === 'x' ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : match;
    }
    return ENTITIES[entity.toLowerCase()] ?? match;
  });
}

function parseAttributes(tag) {
  const attributes = {};
  const pattern = /([^\s"'<>\/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  const body = tag.replace(/^<\s*[a-z0-9]+/i, '').replace(/\/?>$/, '');
  let match;
  while ((match = pattern.exec(body))) {
    const value = match[2] ?? match[3] ?? match[4] ?? '';
    attributes[match[1].toLowerCase()] = decodeEntities(value);
  }
  return attributes;
}

function parseFirstForm(html) {
  const withoutComments = html.replace(/<!--[\s\S]*?-->/g, '');
  const start = withoutComments.search(/<form[\s>]/i);
  if (start < 0) return null;
  const openEnd = withoutComments.indexOf('>', start);
  const closeIndex = withoutComments.slice(openEnd).search(/<\/form\s*>/i);
  const inner = closeIndex < 0 ? withoutComments.slice(openEnd + 1) : withoutComments.slice(openEnd + 1, openEnd + closeIndex);
  const form = parseAttributes(withoutComments.slice(start, openEnd + 1));
  const inputs = [...inner.matchAll(/<input\b[^>]*>/gi)].map((m) => parseAttributes(m[0]));
  const buttons = [...inner.matchAll(/<button\b[^>]*>/gi)].map((m) => parseAttributes(m[0]));
  return { form, inputs, buttons };
}

function pageText(html) {
  return decodeEntities(
    html
      .replace(/<(script|style)\b[\s\S]*?<\/\1>/gi, ' ')
      .replace(/<[^>]+>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim(),
  );
}

function snippet(text, limit = 400) {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length <= limit ? flat : `${flat.slice(0, limit)}…`;
}

function formFields(parsed, email, password) {
  const fields = new URLSearchParams();
  const names = new Set();
  for (const control of parsed.inputs) {
    const name = control.name;
    const type = (control.type || 'text').toLowerCase();
    if (!name || 'disabled' in control) continue;
    if (['submit', 'image', 'reset', 'button', 'file'].includes(type)) continue;
    if (['checkbox', 'radio'].includes(type) && !('checked' in control)) continue;
    names.add(name);
    if (name === 'email') fields.append(name, email);
    else if (name === 'password') fields.append(name, password);
    else fields.append(name, control.value ?? (['checkbox', 'radio'].includes(type) ? 'on' : ''));
  }
  expect(names.has('email'), "login form has no input named 'email'");
  expect(names.has('password'), "login form has no input named 'password'");
  const submits = [...parsed.buttons, ...parsed.inputs.filter((c) => (c.type || '').toLowerCase() === 'submit')];
  for (const control of submits) {
    if ((control.type || 'submit').toLowerCase() === 'submit' && control.name && !('disabled' in control)) {
      fields.append(control.name, control.value ?? '');
      break;
    }
  }
  return fields;
}

async function browserLogin(ssoUrl, email, password, redirectUri, trace) {
  const jar = new CookieJar();
  const baseHeaders = {
    'User-Agent': `keyway-sdk-test (licensespring-node ${SDK_VERSION})`,
    Accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8',
    'Accept-Language': 'en',
  };

  // Follows redirects manually; returns { location } at the redirect_uri or { response, url, body } otherwise.
  async function walk(method, url, body, extraHeaders = {}) {
    for (let hop = 0; hop < MAX_HOPS; hop++) {
      const headers = { ...baseHeaders, ...extraHeaders };
      const cookie = jar.header();
      if (cookie) headers.Cookie = cookie;
      if (body !== undefined) headers['Content-Type'] = 'application/x-www-form-urlencoded';
      const response = await fetch(url, {
        method,
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
      });
      jar.store(response);
      trace.push(`${method} ${url} -> ${response.status}`);
      if (REDIRECT_STATUSES.has(response.status)) {
        const location = response.headers.get('location');
        expect(location, `${response.status} from ${url} without a Location header`);
        await response.arrayBuffer(); // drain
        const target = new URL(location, url).toString();
        // Compare the raw resolved string too: URL() may normalise (e.g. add a trailing slash to a bare origin).
        const raw = /^[a-z][a-z0-9+.-]*:/i.test(location) ? location : target;
        if (raw.startsWith(redirectUri) || target.startsWith(redirectUri)) {
          trace.push(`stop at redirect_uri: ${raw.slice(0, 120)}`);
          return { location: raw };
        }
        if (response.status === 307 || response.status === 308) {
          url = target; // same method and body
        } else {
          method = 'GET';
          url = target;
          body = undefined;
          extraHeaders = {};
        }
        continue;
      }
      return { response, url, body: await response.text() };
    }
    throw new StepFailure(`more than ${MAX_HOPS} redirects starting at ${ssoUrl}`);
  }

  // 1. Follow the SSO URL to the login page.
  const page = await walk('GET', ssoUrl);
  if (page.location) throw new StepFailure(`redirected to the redirect_uri before any login form: ${page.location}`);
  const contentType = page.response.headers.get('content-type') || '';
  expect(
    page.response.status === 200 && contentType.toLowerCase().includes('html'),
    `expected a 200 HTML login page at ${page.url}, got ${page.response.status} ${contentType}: ${snippet(page.body)}`,
  );
  const parsed = parseFirstForm(page.body);
  expect(parsed, `no <form> on the login page ${page.url}: ${snippet(pageText(page.body))}`);

  // 2. Submit the first form with the credentials.
  const fields = formFields(parsed, email, password);
  const action = new URL(parsed.form.action || page.url, page.url);
  const method = (parsed.form.method || 'get').toUpperCase();
  const origin = new URL(page.url).origin;
  let result;
  if (method === 'POST') {
    result = await walk('POST', action.toString(), fields.toString(), { Origin: origin, Referer: page.url });
  } else {
    for (const [name, value] of fields) action.searchParams.append(name, value);
    result = await walk('GET', action.toString());
  }

  // 3. The answer must be a redirect to the redirect_uri.
  if (!result.location) {
    throw new StepFailure(
      `login did not redirect to ${redirectUri}: ${result.response.status} at ${result.url}: ${snippet(pageText(result.body))}`,
    );
  }
  return result.location;
}

function redirectParams(location) {
  const url = new URL(location);
  return { query: url.searchParams, fragment: new URLSearchParams(url.hash.replace(/^#/, '')) };
}

function checkRedirectError(location) {
  const { query, fragment } = redirectParams(location);
  const error = query.get('error') ?? fragment.get('error');
  if (error) {
    const description = query.get('error_description') ?? fragment.get('error_description') ?? '';
    throw new StepFailure(`authorization failed: error=${error} error_description=${description}`);
  }
}

function jwtClaims(token) {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
  } catch {
    return {};
  }
}

// SDK errors are plain objects {status, code, message} (keyway's error body, or the SDK's own).
function describeError(error) {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  if (error && typeof error === 'object') {
    if ('code' in error) return `${error.status ?? '?'} ${error.code}: ${error.message ?? ''}`;
    return JSON.stringify(error).slice(0, 400);
  }
  return String(error);
}

// ---------------------------------------------------------------------------------------------------------
// Scenario steps
// ---------------------------------------------------------------------------------------------------------

class Run {
  constructor(env) {
    this.env = env;
    this.steps = [];
    this.trace = [];
    this.filePath = mkdtempSync(join(tmpdir(), 'kw-node-sdk-'));
    this.manager = makeManager(env, this.filePath);
    this.issuer = null;
  }

  step(name, detail = {}) {
    this.steps.push({ step: name, ok: true, ...detail });
    log(`ok: ${name} ${Object.keys(detail).length ? JSON.stringify(detail) : ''}`);
  }

  async ssoUrl(responseType) {
    const payload = { customer_account_code: this.env.account, response_type: responseType };
    if (this.env.redirectUri) payload.redirect_uri = this.env.redirectUri; // keyway extension the SDK supports
    const response = await this.manager.getSSOUrl(payload); // verifies LicenseSignature
    expect(response && typeof response === 'object', `sso_url response is not an object: ${JSON.stringify(response)}`);
    const url = response.url;
    expect(typeof url === 'string' && /^https?:\/\//.test(url), `sso_url has no usable url: ${JSON.stringify(response)}`);
    const query = new URL(url).searchParams;
    expect(query.get('response_type') === responseType, `sso url response_type is ${query.get('response_type')}: ${url}`);
    if (this.env.redirectUri && query.has('redirect_uri')) {
      expect(
        query.get('redirect_uri') === this.env.redirectUri,
        `sso url redirect_uri ${query.get('redirect_uri')} is not KW_REDIRECT_URI ${this.env.redirectUri}`,
      );
    }
    const oidc = response.openid_configuration;
    expect(oidc && typeof oidc === 'object' && oidc.issuer, `sso_url response lacks openid_configuration.issuer`);
    this.issuer = oidc.issuer;
    this.step(`getSSOUrl(response_type=${responseType})`, { url, issuer: this.issuer });
    return url;
  }

  async login(url) {
    const location = await browserLogin(url, this.env.email, this.env.password, this.env.redirectUri, this.trace);
    checkRedirectError(location);
    return location;
  }

  async loginCode() {
    const location = await this.login(await this.ssoUrl('code'));
    const { query, fragment } = redirectParams(location);
    expect(query.get('code'), `no code in the redirect query: ${location}`);
    expect(!fragment.has('access_token'), 'code flow returned tokens in the fragment');
    if (query.has('iss')) expect(query.get('iss') === this.issuer, `iss ${query.get('iss')} is not the issuer ${this.issuer}`);
    this.step('login (authorization code)', { has_iss: query.has('iss'), has_state: query.has('state') });
    return query.get('code');
  }

  async loginToken() {
    const location = await this.login(await this.ssoUrl('token'));
    const { query, fragment } = redirectParams(location);
    expect(!query.has('code'), `token flow put a code in the query: ${location}`);
    expect(fragment.get('id_token'), `no id_token in the redirect fragment: ${location}`);
    expect(fragment.get('access_token'), `no access_token in the redirect fragment: ${location}`);
    expect((fragment.get('token_type') || '').toLowerCase() === 'bearer', `token_type is ${fragment.get('token_type')}`);
    const claims = jwtClaims(fragment.get('id_token'));
    this.step('login (implicit, tokens in fragment)', {
      expires_in: fragment.get('expires_in'),
      id_token_claims: { iss: claims.iss, aud: claims.aud, email: claims.email, customer_account_code: claims.customer_account_code },
    });
    return fragment.get('id_token');
  }

  async activate(credentials) {
    const payload = { customer_account_code: this.env.account, ...credentials };
    if (this.env.redirectUri) payload.redirect_uri = this.env.redirectUri;
    // LicenseAPI.activateLicense verifies license_signature (hardware_id#user.email#validity) and LicenseSignature.
    const response = await this.manager.activateLicense(payload);
    expect(response && typeof response === 'object', `activation response is not an object: ${JSON.stringify(response)}`);
    const email = response.user?.email;
    expect(
      typeof email === 'string' && email.toLowerCase() === this.env.email.toLowerCase(),
      `activation response user.email is ${JSON.stringify(email)}, expected ${this.env.email}`,
    );
    expect(typeof response.id === 'number', `activation response id is ${JSON.stringify(response.id)}, expected a number`);
    expect(typeof response.license_signature === 'string', 'activation response has no license_signature');
    expect(response.is_floating !== true, 'activation response says is_floating: true (SDK would use a floating server)');
    const license = this.manager.loadLicense();
    expect(license.licenseActive === true, 'license is not active after activation');
    expect(license.isValid, 'license is not valid after activation');
    expect(license.licenseUser?.email === email, 'stored license has no user e-mail');
    this.step(`activateLicense(${Object.keys(credentials).join(', ')})`, {
      license_id: response.id,
      license_type: response.license_type,
      user_email: email,
      validity_period: response.validity_period ?? null,
    });
    return { response, license };
  }

  async check(license, activation) {
    // License.check(): GET check_license with license_id, username=user.email; verifies both signatures.
    const response = await license.check();
    expect(response && typeof response === 'object', `check returned ${JSON.stringify(response)}`);
    expect(license.isValid, 'license is not valid after License.check()');
    expect(
      String(response.user?.email || '').toLowerCase() === this.env.email.toLowerCase(),
      `check response user.email is ${JSON.stringify(response.user?.email)}, expected ${this.env.email}`,
    );
    this.step('License.check()', { license_active: response.license_active, license_enabled: response.license_enabled });

    // LicenseManager.checkLicense(): same request, and it also requires license_enabled/license_active in the body.
    const managerResponse = await this.manager.checkLicense({ license_id: activation.id, username: activation.user.email });
    expect(managerResponse.license_enabled === true, `check_license license_enabled is ${managerResponse.license_enabled}`);
    expect(managerResponse.license_active === true, `check_license license_active is ${managerResponse.license_active}`);
    this.step('LicenseManager.checkLicense({license_id, username})');
  }

  async deactivate(license) {
    // License.deactivate(): POST deactivate_license; the SDK requires the body to be the string "license_deactivated".
    try {
      await license.deactivate();
    } catch (error) {
      const last = apiTrace[apiTrace.length - 1];
      if (error && error.code === 'internal_server_error' && last && last.request.endsWith('/deactivate_license') && last.status < 300) {
        throw new StepFailure(
          `deactivate_license answered ${last.status} with body ${last.body}; the Node SDK requires the body to be ` +
            'the string "license_deactivated" (JSON "license_deactivated" or text) and otherwise reports internal_server_error',
        );
      }
      throw error;
    }
    expect(license.licenseActive === false, 'license still active locally after deactivate()');
    this.step('License.deactivate()');
  }

  async scenario_code() {
    const code = await this.loginCode();
    const { response, license } = await this.activate({ code });
    await this.check(license, response);
    await this.deactivate(license);
  }

  async scenario_token() {
    const idToken = await this.loginToken();
    const { response, license } = await this.activate({ id_token: idToken });
    await this.check(license, response);
    await this.deactivate(license);
  }

  async scenario_user_licenses() {
    const code = await this.loginCode();
    const payload = { customer_account_code: this.env.account, code };
    if (this.env.redirectUri) payload.redirect_uri = this.env.redirectUri;
    const licenses = await this.manager.getUserLicenses(payload); // verifies LicenseSignature
    expect(Array.isArray(licenses), `user_licenses response is not an array: ${JSON.stringify(licenses)}`);
    expect(licenses.length > 0, 'user_licenses returned an empty list');
    licenses.forEach((item, index) => {
      expect(item && typeof item.license === 'object' && item.license, `user_licenses[${index}] has no 'license' object`);
      expect(item && typeof item.user === 'object' && item.user, `user_licenses[${index}] has no 'user' object`);
    });
    const emails = licenses.map((item) => String(item.user.email || '').toLowerCase());
    expect(emails.includes(this.env.email.toLowerCase()), `user_licenses users are ${emails}, expected ${this.env.email}`);
    this.step('getUserLicenses({code})', { count: licenses.length, license_ids: licenses.map((item) => item.license.id) });
  }

  async expectError(expectedCode, credentials) {
    const payload = { customer_account_code: this.env.account, ...credentials };
    if (this.env.redirectUri) payload.redirect_uri = this.env.redirectUri;
    let response;
    try {
      response = await this.manager.activateLicense(payload);
    } catch (error) {
      expect(
        error && typeof error === 'object' && error.code === expectedCode,
        `activation failed with ${describeError(error)}, expected ${expectedCode}`,
      );
      expect(Number.isInteger(error.status) && error.status >= 400 && error.status < 500, `error status is ${error.status}`);
      this.step(`activateLicense(bogus ${Object.keys(credentials).join(', ')}) -> error`, { code: error.code, status: error.status });
      return;
    }
    throw new StepFailure(`activation with a bogus ${Object.keys(credentials)} succeeded: ${JSON.stringify(response).slice(0, 200)}`);
  }

  async scenario_error() {
    await this.expectError('invalid_code', { code: `bogus-${randomUUID()}` });
    const part = (object) => Buffer.from(JSON.stringify(object)).toString('base64url');
    const bogusToken = [
      part({ alg: 'RS256', typ: 'JWT', kid: 'bogus' }),
      part({ iss: this.env.base, sub: 'bogus' }),
      Buffer.from('not-a-signature').toString('base64url'),
    ].join('.');
    await this.expectError('invalid_id_token', { id_token: bogusToken });
  }

  async scenario_sso_url() {
    await this.ssoUrl('code');
    await this.ssoUrl('token');
  }

  async run() {
    await this[`scenario_${this.env.scenario}`]();
  }

  cleanup() {
    rmSync(this.filePath, { recursive: true, force: true });
  }
}

async function main() {
  const summary = { sdk: 'node', sdk_version: SDK_VERSION, scenario: process.env.KW_SCENARIO || 'code', ok: false };
  let run = null;
  let status = 1;
  try {
    const env = readEnv();
    summary.hardware_id = env.hardwareId;
    run = new Run(env);
    await run.run();
    summary.ok = true;
    status = 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      summary.error = `configuration: ${error.message}`;
      status = 2;
    } else if (error instanceof StepFailure) {
      summary.error = error.message;
    } else if (error && typeof error === 'object' && !(error instanceof Error) && 'code' in error) {
      // Thrown by the SDK: keyway's error body, or the SDK's own verdict (e.g. signature_v2_mismatch,
      // license_signature_invalid, internal_server_error for a missing LicenseSignature header or unexpected body).
      summary.error = `SDK error ${describeError(error)}`;
      const last = apiTrace[apiTrace.length - 1];
      if (error.code === 'internal_server_error' && last && last.status < 300 && !last.license_signature_header) {
        summary.error += ` (keyway's ${last.request} response had no LicenseSignature header)`;
      }
    } else {
      summary.error = `unexpected ${describeError(error)}`;
      if (error instanceof Error && error.stack) summary.stack = error.stack.split('\n').slice(0, 8).join('\n');
    }
  } finally {
    if (run) {
      summary.steps = run.steps;
      if (!summary.ok) {
        summary.http_trace = run.trace.slice(-12);
        summary.api_trace = apiTrace;
      }
      run.cleanup();
    }
  }
  if (!summary.ok) log(`FAILED: ${summary.error}`);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return status;
}

process.exitCode = await main();
