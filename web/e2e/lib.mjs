// Shared helpers for the browser tests: Debian's Chromium via playwright-core, a static server for
// dist/, a small stand-in API, and artefact paths. Nothing here downloads anything.
import { createServer } from 'node:http';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startStaticServer } from '../scripts/serve.mjs';

export const webDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const repoDir = resolve(webDir, '..');
export const artifactsDir = resolve(process.env.TEST_ARTIFACTS_DIR ?? join(repoDir, 'test-artifacts'));

export function artifact(name) {
  mkdirSync(artifactsDir, { recursive: true });
  return join(artifactsDir, name);
}

export const chromiumPath = process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-headless-shell'].find((p) => existsSync(p));

/**
 * Launch headless Chromium with a fake microphone. `wav` plays as the microphone when given.
 * `fakeDevice: false` leaves only the machine's real capture devices (none on a headless server).
 */
export async function launchBrowser({ wav, fakeUi = true, fakeDevice = true } = {}) {
  if (!chromiumPath) throw new Error('Chromium not found: apt-get install chromium');
  const args = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--autoplay-policy=no-user-gesture-required',
  ];
  if (fakeDevice) args.push('--use-fake-device-for-media-stream');
  // Without the fake UI flag headless Chromium answers the permission prompt with "denied".
  if (fakeUi) args.push('--use-fake-ui-for-media-stream');
  if (wav) args.push(`--use-file-for-fake-audio-capture=${wav}`);
  return chromium.launch({ executablePath: chromiumPath, headless: true, args });
}

/**
 * Serve dist/ with a config.json naming `apiUrl` and, when given, the LiveKit server and the operator issuer
 * (the server's Content-Security-Policy names the same; unset ones are the local stack's defaults).
 */
export async function serveDist(apiUrl, { livekitUrl, oidcIssuer, csp = true } = {}) {
  if (!existsSync(join(webDir, 'dist', 'index.html'))) throw new Error('web/dist missing: run `npm run build` first');
  const server = await startStaticServer({ port: 0, apiUrl, livekitUrl, oidc: { oidcIssuer }, csp });
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

export const OPERATOR = { username: 'operator@voicecall.local', password: 'e2e-operator-password' };

/**
 * The web app served with a config.json naming `apiUrl` and a real local OIDC issuer (infra/local_oidc,
 * oidc-provider) whose only redirect URI is that page. Returns { web, issuer, operator, close() }.
 */
export async function serveDistWithIssuer(apiUrl, { livekitUrl } = {}) {
  const port = await closedPort();
  const issuerUrl = `http://127.0.0.1:${port}`;
  const web = await serveDist(apiUrl, { livekitUrl, oidcIssuer: issuerUrl });
  // oidc-provider lives in the repository's node_modules (root `npm ci`): loaded only by the tests using it.
  const { startIssuer } = await import('../../infra/local_oidc/server.mjs');
  const issuer = await startIssuer({ port, redirectUris: [web.url], ...OPERATOR });
  return {
    web,
    issuer,
    operator: OPERATOR,
    async close() {
      await close(issuer.server);
      await close(web.server);
    },
  };
}

/** On the issuer's sign-in page: sign in and wait until the app has the browser back. */
export async function signInAtIssuer(page, { username, password } = OPERATOR, appUrl) {
  await page.locator('input[name="password"]').waitFor({ timeout: 20_000 });
  await page.locator('input[name="username"]').fill(username);
  await page.locator('input[name="password"]').fill(password);
  await page.locator('button[type="submit"]').click();
  if (appUrl) await page.waitForURL((u) => u.href.startsWith(appUrl), { timeout: 20_000 });
}

/** Open an operator page (e.g. "#/analytics") of `appUrl`, signing in when the app sends us to the issuer. */
export async function openSignedIn(page, appUrl, hashAndQuery = '#/analytics', operator = OPERATOR) {
  await page.goto(`${appUrl}${hashAndQuery}`);
  const signedIn = page.getByTestId('operator');
  const login = page.locator('input[name="password"]');
  await Promise.race([signedIn.waitFor({ timeout: 20_000 }), login.waitFor({ timeout: 20_000 })]);
  if (await login.count()) await signInAtIssuer(page, operator, appUrl);
  await signedIn.waitFor({ timeout: 20_000 });
}

export function close(server) {
  return new Promise((r) => {
    server.closeAllConnections?.();
    server.close(() => r());
  });
}

/** A port on which nothing listens (bound, then released). */
export async function closedPort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const port = s.address().port;
  await close(s);
  return port;
}

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'content-type, authorization, x-call-key',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
};

/**
 * A stand-in functions API with CORS. `routes` maps "METHOD /path" to (req, body, url) => [status, json].
 * Unmatched paths answer 404 {message}. Requests are recorded in `.requests`.
 */
export async function startMockApi(routes) {
  const requests = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'OPTIONS') {
        res.writeHead(204, CORS).end();
        return;
      }
      requests.push({
        method: req.method,
        path: url.pathname,
        search: url.search,
        body,
        authorization: req.headers.authorization,
        callKey: req.headers['x-call-key'],
      });
      const key = `${req.method} ${url.pathname}`;
      const route =
        routes[key] ?? Object.entries(routes).find(([k]) => k.endsWith('*') && key.startsWith(k.slice(0, -1)))?.[1];
      const [status, json] = route ? route(req, body, url) : [404, { message: 'not found' }];
      res.writeHead(status, { 'content-type': 'application/json', ...CORS }).end(JSON.stringify(json));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${server.address().port}`, requests };
}

/** Fill the join form and submit. */
export async function joinCall(page, { name = 'E2E Caller', language = 'en', accessCode } = {}) {
  await page.locator(`input[name="language"][value="${language}"]`).check({ force: true });
  await page.locator('input[name="name"]').fill(name);
  if (accessCode !== undefined) await page.locator('input[name="access_code"]').fill(accessCode);
  await page.locator('form button[type="submit"]').click();
}
