#!/usr/bin/env node
// Tiny static server for web/dist (no dependencies), used by the local stack.
// - binds WEB_HOST:WEB_PORT (default 127.0.0.1:5173)
// - answers /config.json from FUNCTIONS_API_URL, LIVEKIT_URL and the operator issuer (OPERATOR_ISSUER,
//   OPERATOR_CLIENT_ID, OPERATOR_SCOPES, OPERATOR_ENDPOINTS_ORIGIN) when set, so one build points at any API,
//   LiveKit server and issuer at run time (otherwise a dist/config.json file is served if present, else 404
//   and the app uses its defaults)
// - sends every response with the Content-Security-Policy built from those same values (scripts/csp.mjs):
//   the page may connect to itself, that API, that LiveKit server and that issuer only
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { contentSecurityPolicy, LOCAL_DEFAULTS } from './csp.mjs';

const defaultRoot = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'dist');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
};

async function fileFor(root, urlPath) {
  const decoded = decodeURIComponent(urlPath.split('?')[0]);
  const rel = normalize(decoded === '/' ? '/index.html' : decoded);
  const full = join(root, rel);
  if (full !== root && !full.startsWith(root + sep)) return null; // no escaping dist/
  try {
    const s = await stat(full);
    return s.isFile() ? full : null;
  } catch {
    return null;
  }
}

// What config.json may hold (src/config.ts reads the same names).
const CONFIG_KEYS = ['apiUrl', 'livekitUrl', 'oidcIssuer', 'oidcClientId', 'oidcScope', 'oidcEndpointsOrigin', 'recordingsOrigin'];

/** config.json for the app from the given settings; null when none is given. */
export function runtimeConfig(values = {}) {
  const entries = CONFIG_KEYS.map((k) => [k, values[k]]).filter(([, v]) => v);
  return entries.length ? Object.fromEntries(entries) : null;
}

function fileConfig(root) {
  try {
    const parsed = JSON.parse(readFileSync(join(root, 'config.json'), 'utf8'));
    return parsed && typeof parsed === 'object' ? parsed : {};
  } catch {
    return {};
  }
}

/** The policy for what the app will use: the served config.json's values, else the local defaults. */
export function policyFor(config) {
  const str = (v) => (typeof v === 'string' && v ? v : undefined);
  return contentSecurityPolicy({
    apiUrl: str(config?.apiUrl) ?? LOCAL_DEFAULTS.apiUrl,
    livekitUrl: str(config?.livekitUrl) ?? LOCAL_DEFAULTS.livekitUrl,
    oidcIssuer: str(config?.oidcIssuer) ?? LOCAL_DEFAULTS.oidcIssuer,
    oidcEndpointsOrigin: str(config?.oidcEndpointsOrigin),
    recordingsOrigin: str(config?.recordingsOrigin),
  });
}

/**
 * Start serving; resolves with the http.Server once listening (port 0 picks a free port). `csp: false` sends
 * no Content-Security-Policy header (tests of the app's <meta> fallback, as on a host that sets none).
 */
export function startStaticServer({
  root = defaultRoot,
  host = '127.0.0.1',
  port = 5173,
  apiUrl,
  livekitUrl,
  oidc = {},
  recordingsOrigin,
  csp = true,
} = {}) {
  root = resolve(root);
  const config = runtimeConfig({ apiUrl, livekitUrl, ...oidc, recordingsOrigin });
  const secure = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };
  if (csp) secure['content-security-policy'] = policyFor(config ?? fileConfig(root));
  const server = createServer(async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, secure).end();
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/config.json' && config) {
      res.writeHead(200, { ...secure, 'content-type': TYPES['.json'], 'cache-control': 'no-store' });
      res.end(JSON.stringify(config));
      return;
    }
    let file;
    try {
      file = await fileFor(root, path);
    } catch {
      file = null;
    }
    if (!file) {
      res.writeHead(404, { ...secure, 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const body = await readFile(file);
    const cache = path.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
    res.writeHead(200, {
      ...secure,
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'cache-control': cache,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });

  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok(server));
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.env.WEB_DIST ?? defaultRoot);
  const host = process.env.WEB_HOST ?? '127.0.0.1';
  const port = Number(process.env.WEB_PORT ?? 5173);
  const apiUrl = process.env.FUNCTIONS_API_URL;
  const livekitUrl = process.env.LIVEKIT_URL;
  const oidc = {
    oidcIssuer: process.env.OPERATOR_ISSUER,
    oidcClientId: process.env.OPERATOR_CLIENT_ID,
    oidcScope: process.env.OPERATOR_SCOPES,
    oidcEndpointsOrigin: process.env.OPERATOR_ENDPOINTS_ORIGIN,
  };
  const recordingsOrigin = process.env.RECORDINGS_ORIGIN;
  const server = await startStaticServer({ root, host, port, apiUrl, livekitUrl, oidc, recordingsOrigin });
  const notes = [
    apiUrl && `api ${apiUrl}`,
    livekitUrl && `livekit ${livekitUrl}`,
    oidc.oidcIssuer && `operator issuer ${oidc.oidcIssuer}`,
  ].filter(Boolean);
  console.log(`web: serving ${root} on http://${host}:${port}${notes.length ? ` (${notes.join(', ')})` : ''}`);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
}
