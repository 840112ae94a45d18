// Operator sign-in through the real local stack: the web app, the functions (serverless-offline + moto)
// and the local OpenID Connect issuer (infra/local_oidc). Started by tests/web/test_web.py, which sets:
//   STACK_WEB_URL, STACK_FUNCTIONS_URL, STACK_ISSUER, STACK_OPERATOR_USERNAME, STACK_OPERATOR_PASSWORD,
//   STACK_EXPIRED_TOKEN (signed by the issuer's key, already expired). Skipped without STACK_WEB_URL.
// Run: node --test e2e/operator.test.mjs
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { artifact, launchBrowser, signInAtIssuer } from './lib.mjs';

const WEB = process.env.STACK_WEB_URL;
const API = process.env.STACK_FUNCTIONS_URL;
const ISSUER = process.env.STACK_ISSUER;
const OPERATOR = { username: process.env.STACK_OPERATOR_USERNAME, password: process.env.STACK_OPERATOR_PASSWORD };
const EXPIRED = process.env.STACK_EXPIRED_TOKEN;

/** In the page: the stored oidc-client-ts user (sessionStorage), optionally with another access token. */
function storedUser(replacement) {
  const key = Object.keys(sessionStorage).find((k) => k.startsWith('oidc.user:'));
  if (!key) return null;
  const user = JSON.parse(sessionStorage.getItem(key));
  if (replacement) {
    // The client keeps believing it is valid for an hour: only the API can tell.
    user.access_token = replacement;
    user.expires_at = Math.floor(Date.now() / 1000) + 3600;
    sessionStorage.setItem(key, JSON.stringify(user));
  }
  return user;
}

async function apiStatus(page, token) {
  return page.evaluate(
    async ([api, t]) => {
      const res = await fetch(`${api}/sessions`, { headers: t ? { Authorization: `Bearer ${t}` } : {} });
      return { status: res.status, body: await res.json() };
    },
    [API, token],
  );
}

async function expectSignInAgain(page, name) {
  await page.reload();
  const panel = page.locator('[data-testid="sign-in-required"][data-state="signed-out"]');
  await panel.waitFor({ timeout: 20_000 });
  assert.match(await panel.innerText(), /no longer valid/);
  assert.equal(await page.getByTestId('operator').count(), 0, 'nobody shown as signed in');
  assert.equal(await page.evaluate(storedUser), null, `the refused token (${name}) is forgotten`);
  await page.screenshot({ path: artifact(`operator-${name}.png`), fullPage: true });
}

describe('operator sign-in through the local stack', { skip: WEB ? false : 'STACK_WEB_URL not set' }, () => {
  let browser;
  let page;
  let room = '';

  before(async () => {
    for (const [k, v] of Object.entries({ API, ISSUER, EXPIRED, ...OPERATOR })) assert.ok(v, `${k} is required`);
    const issued = await fetch(`${API}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Operator E2E', language: 'en' }),
    });
    assert.equal(issued.status, 200);
    room = (await issued.json()).room;
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
    page.on('console', (m) => m.type() === 'error' && console.error('[page]', m.text()));
  });
  after(async () => browser?.close());

  it('the call page needs no sign-in', async () => {
    await page.goto(`${WEB}?lang=en`);
    await page.locator('input[name="name"]').waitFor();
    assert.ok(page.url().startsWith(WEB));
    assert.equal(await page.getByTestId('operator').count(), 0);
  });

  it('a signed-out visit to analytics is sent to the issuer; a wrong password stays there', async () => {
    const anonymous = await apiStatus(page, null);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.error, 'unauthorized');
    await page.goto(`${WEB}?lang=en#/analytics`);
    await page.waitForURL((u) => u.href.startsWith(ISSUER), { timeout: 20_000 });
    const url = new URL(page.url());
    assert.ok(url.pathname.startsWith('/interaction/'), url.href);
    await page.locator('input[name="username"]').fill(OPERATOR.username);
    await page.locator('input[name="password"]').fill('not-the-password');
    await page.locator('button[type="submit"]').click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').innerText(), /Wrong email or password/);
    assert.ok(page.url().startsWith(ISSUER));
  });

  it('signing in brings the operator back to the sessions page, loaded with the token', async () => {
    await signInAtIssuer(page, OPERATOR, WEB);
    const list = page.locator('[data-testid="session-list"]:not([data-state="loading"])');
    await list.waitFor({ timeout: 20_000 });
    assert.equal(await list.getAttribute('data-state'), 'ok', await list.innerText());
    await page.locator(`[data-session-id="${room}"]`).waitFor({ timeout: 20_000 });
    assert.match(await page.getByTestId('operator').innerText(), /Signed in as Dev Operator/);
    // Back at the page itself: no code, no state, no token in the address bar.
    const url = new URL(page.url());
    assert.equal(url.search, '?lang=en');
    assert.equal(url.hash, '#/analytics');
    // The token lives in sessionStorage (this tab), not in localStorage.
    const local = await page.evaluate(() => Object.values(localStorage).join(' '));
    assert.doesNotMatch(local, /eyJ/);
    const user = await page.evaluate(storedUser);
    assert.ok(user?.access_token, 'the user is kept in sessionStorage');
    assert.equal((await apiStatus(page, user.access_token)).status, 200);
    await page.screenshot({ path: artifact('operator-signed-in.png'), fullPage: true });
  });

  it('the sessions of the range download as CSV, with the call in them', async () => {
    const downloaded = page.waitForEvent('download', { timeout: 45_000 });
    await page.getByRole('button', { name: 'Export CSV' }).click();
    const status = page.getByTestId('export').getByRole('status');
    const download = await downloaded.catch(async (err) => {
      throw new Error(`no download (export status: ${JSON.stringify(await status.innerText())}): ${err}`);
    });
    assert.match(download.suggestedFilename(), /^sessions-.*\.csv$/);
    const text = await readFile(await download.path(), 'utf8');
    const [header, ...rows] = text.replace(/^\ufeff/, '').split('\r\n');
    assert.ok(header.startsWith('session_id,status,created_at'), header);
    assert.ok(rows.some((r) => r.startsWith(`${room},`)), text.slice(0, 500));
  });

  it('a forged token gets a 401 from the API and the page asks to sign in again', async () => {
    const { access_token: token } = await page.evaluate(storedUser);
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    claims.sub = 'someone-else';
    const forged = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
    const refused = await apiStatus(page, forged);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error, 'invalid_token');
    assert.match(refused.body.detail, /signature/);
    await page.evaluate(storedUser, forged);
    await expectSignInAgain(page, 'forged');
  });

  it('an expired token gets a 401 from the API and the page asks to sign in again', async () => {
    await page.getByRole('button', { name: 'Sign in' }).click();
    // The issuer still has a session: straight back, or through its form.
    const login = page.locator('input[name="password"]');
    await Promise.race([page.getByTestId('operator').waitFor({ timeout: 20_000 }), login.waitFor({ timeout: 20_000 })]);
    if (await login.count()) await signInAtIssuer(page, OPERATOR, WEB);
    await page.getByTestId('operator').waitFor({ timeout: 20_000 });
    const refused = await apiStatus(page, EXPIRED);
    assert.equal(refused.status, 401);
    assert.match(refused.body.detail, /expired/);
    await page.evaluate(storedUser, EXPIRED);
    await expectSignInAgain(page, 'expired');
  });

  it('signing out ends the issuer session too: the next visit asks for the password', async () => {
    await page.getByRole('button', { name: 'Sign in' }).click();
    const login = page.locator('input[name="password"]');
    await Promise.race([page.getByTestId('operator').waitFor({ timeout: 20_000 }), login.waitFor({ timeout: 20_000 })]);
    if (await login.count()) await signInAtIssuer(page, OPERATOR, WEB);
    await page.getByRole('button', { name: 'Sign out' }).click();
    // Back at the app's own address (the registered post-logout URI): the call page, nothing in the URL.
    await page.waitForURL((u) => u.href.startsWith(WEB) && !u.search && ['', '#/'].includes(u.hash), {
      timeout: 20_000,
    });
    await page.locator('input[name="name"]').waitFor();
    assert.equal(await page.getByTestId('operator').count(), 0);
    assert.equal(await page.evaluate(storedUser), null);
    await page.goto(`${WEB}#/analytics`);
    await page.waitForURL((u) => u.href.startsWith(ISSUER), { timeout: 20_000 });
    await page.locator('input[name="password"]').waitFor();
  });
});
