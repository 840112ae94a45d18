// The web app's Content-Security-Policy (docs/security.md, "The web page"): the page may connect to itself,
// the functions API, the LiveKit server and the operators' issuer, and nowhere else. One definition, used by
// the local web server (scripts/serve.mjs: a response header, from the same values as its config.json) and
// by the app (src/csp.ts: the same policy as a <meta> tag once config.json is read, for hosts that send no
// header). No dependencies: plain JavaScript for node and for the bundle.

/** What the app connects to with no config.json and nothing in the build: the local stack (python -m infra.stack). */
export const LOCAL_DEFAULTS = Object.freeze({
  apiUrl: 'http://127.0.0.1:3000',
  livekitUrl: 'ws://127.0.0.1:7880',
  oidcIssuer: 'http://127.0.0.1:9400',
});

/** `scheme://host[:port]` of an http(s) or ws(s) URL; undefined for anything else. */
export function originOf(url) {
  if (typeof url !== 'string') return undefined;
  let u;
  try {
    u = new URL(url.trim());
  } catch {
    return undefined;
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol) || !u.host) return undefined;
  return `${u.protocol}//${u.host}`;
}

/**
 * The origins a LiveKit URL is reached at: livekit-client opens the signalling WebSocket (ws/wss) and, on a
 * failed connection or with LiveKit Cloud, makes HTTP requests to the same host (`/rtc/validate`,
 * `/settings/regions`). Either form may be configured.
 */
export function liveKitOrigins(url) {
  const origin = originOf(url);
  if (!origin) return [];
  const [scheme, rest] = origin.split('://');
  const secure = scheme === 'https' || scheme === 'wss';
  return [`${secure ? 'wss' : 'ws'}://${rest}`, `${secure ? 'https' : 'http'}://${rest}`];
}

/** Whether two LiveKit URLs name the same server (ws and http forms alike). */
export function sameLiveKitServer(a, b) {
  const [x] = liveKitOrigins(a);
  const [y] = liveKitOrigins(b);
  return !!x && x === y;
}

/** The `connect-src` sources: 'self', the API, the LiveKit server, the issuer (and its token endpoint's origin). */
export function connectSources({ apiUrl, livekitUrl, oidcIssuer, oidcEndpointsOrigin } = {}) {
  const sources = ["'self'", originOf(apiUrl), ...liveKitOrigins(livekitUrl), originOf(oidcIssuer), originOf(oidcEndpointsOrigin)];
  return [...new Set(sources.filter(Boolean))];
}

/**
 * The whole policy. `meta: true` leaves out what a <meta> tag cannot carry (frame-ancestors).
 * Styles allow 'unsafe-inline' (React and the LiveKit components set style attributes); scripts do not.
 */
export function contentSecurityPolicy(values = {}, { meta = false } = {}) {
  const directives = [
    ["default-src", "'self'"],
    ['script-src', "'self'"],
    ['style-src', "'self' 'unsafe-inline'"],
    ['img-src', "'self' data: blob:"],
    ['font-src', "'self' data:"],
    // call recordings play from their store (S3 presigned GETs): that origin only
    ['media-src', ["'self' blob: mediastream:", originOf(values.recordingsOrigin)].filter(Boolean).join(' ')],
    ['connect-src', connectSources(values).join(' ')],
    ['worker-src', "'self' blob:"],
    ['object-src', "'none'"],
    ['base-uri', "'self'"],
    ['form-action', "'self'"],
  ];
  if (!meta) directives.push(['frame-ancestors', "'none'"]);
  return directives.map(([name, value]) => `${name} ${value}`).join('; ');
}
