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

export async function serveDist(apiUrl) {
  if (!existsSync(join(webDir, 'dist', 'index.html'))) throw new Error('web/dist missing: run `npm run build` first');
  const server = await startStaticServer({ port: 0, apiUrl });
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
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
  'access-control-allow-headers': 'content-type',
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
      requests.push({ method: req.method, path: url.pathname, search: url.search, body });
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
