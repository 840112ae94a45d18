#!/usr/bin/env node
// Tiny static server for web/dist (no dependencies), used by the local stack.
// - binds WEB_HOST:WEB_PORT (default 127.0.0.1:5173)
// - answers /config.json from FUNCTIONS_API_URL and the operator issuer (OPERATOR_ISSUER,
//   OPERATOR_CLIENT_ID, OPERATOR_SCOPES) when set, so one build points at any API and issuer at run time
//   (otherwise a dist/config.json file is served if present, else 404 and the app uses its defaults)
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** config.json for the app from the given settings; null when none is given. */
export function runtimeConfig({ apiUrl, oidcIssuer, oidcClientId, oidcScope } = {}) {
  const entries = Object.entries({ apiUrl, oidcIssuer, oidcClientId, oidcScope }).filter(([, v]) => v);
  return entries.length ? Object.fromEntries(entries) : null;
}

/** Start serving; resolves with the http.Server once listening (port 0 picks a free port). */
export function startStaticServer({ root = defaultRoot, host = '127.0.0.1', port = 5173, apiUrl, oidc = {} } = {}) {
  root = resolve(root);
  const config = runtimeConfig({ apiUrl, ...oidc });
  const server = createServer(async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/config.json' && config) {
      res.writeHead(200, { 'content-type': TYPES['.json'], 'cache-control': 'no-store' });
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
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const body = await readFile(file);
    const cache = path.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': cache });
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
  const oidc = {
    oidcIssuer: process.env.OPERATOR_ISSUER,
    oidcClientId: process.env.OPERATOR_CLIENT_ID,
    oidcScope: process.env.OPERATOR_SCOPES,
  };
  const server = await startStaticServer({ root, host, port, apiUrl, oidc });
  const notes = [apiUrl && `api ${apiUrl}`, oidc.oidcIssuer && `operator issuer ${oidc.oidcIssuer}`].filter(Boolean);
  console.log(`web: serving ${root} on http://${host}:${port}${notes.length ? ` (${notes.join(', ')})` : ''}`);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
}
