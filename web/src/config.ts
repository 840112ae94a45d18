// Where the page connects to (docs/security.md, "The web page"). Resolved at run time so one build can be
// deployed anywhere, but never from the page URL (a link could otherwise point the page, the caller's access
// code and the call at any server; issue 10 #7):
// 1. `config.json` served next to index.html ({"apiUrl", "livekitUrl", ...}),
// 2. the build (VITE_API_URL, VITE_LIVEKIT_URL, ...),
// 3. the local stack's defaults.
//
// The API, the LiveKit server and the operators' issuer (config.json "oidcIssuer", "oidcClientId",
// "oidcScope", "oidcEndpointsOrigin"; VITE_OIDC_*) are also the only places the Content-Security-Policy
// lets the page connect to (src/csp.ts): a token naming another LiveKit server is refused.

import { LOCAL_DEFAULTS } from '../scripts/csp.mjs';

export const DEFAULT_API_URL = LOCAL_DEFAULTS.apiUrl;
export const DEFAULT_LIVEKIT_URL = LOCAL_DEFAULTS.livekitUrl;
export const DEFAULT_OPERATOR_AUTH: OperatorAuthConfig = {
  issuer: LOCAL_DEFAULTS.oidcIssuer,
  clientId: 'voicecall-web',
  scope: 'openid email profile sessions:read analytics:read assistants:read assistants:write sessions:delete',
};

export interface RuntimeConfig {
  apiUrl?: unknown;
  livekitUrl?: unknown;
  agentJoinTimeoutS?: unknown;
  oidcIssuer?: unknown;
  oidcClientId?: unknown;
  oidcScope?: unknown;
  oidcEndpointsOrigin?: unknown;
  /** Where call recordings are played from (the S3 endpoint's origin): the CSP's media-src allows it. */
  recordingsOrigin?: unknown;
}

export interface OperatorAuthConfig {
  /** OpenID Connect issuer (its /.well-known/openid-configuration is read). */
  issuer: string;
  /** The web app's public client id (code flow + PKCE, no secret). */
  clientId: string;
  /** Space-separated scopes, e.g. "openid email profile sessions:read analytics:read". */
  scope: string;
  /** The origin of the issuer's endpoints when it is not the issuer's (Cognito: the hosted UI domain). */
  endpointsOrigin?: string;
}

export interface BuildTimeAuth {
  issuer?: string;
  clientId?: string;
  scope?: string;
  endpointsOrigin?: string;
}

/** What the build names (Vite env); config.json wins over each. */
export interface BuildTimeConfig {
  apiUrl?: string;
  livekitUrl?: string;
  auth?: BuildTimeAuth;
  recordingsOrigin?: string;
}

export interface AppConfig {
  /** The functions API: the call page's `/token` and the operator routes alike. */
  apiUrl: string;
  /** The LiveKit server the API's tokens must name (the page connects to no other). */
  livekitUrl: string;
  agentJoinTimeoutMs: number;
  auth: OperatorAuthConfig;
  /** The origin recordings play from, if any. */
  recordingsOrigin?: string;
}

export const DEFAULT_AGENT_JOIN_TIMEOUT_MS = 20_000;

function cleanUrl(value: unknown, schemes = /^https?:\/\/[^\s]+$/i): string | undefined {
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  if (!schemes.test(trimmed)) return undefined;
  return trimmed.replace(/\/+$/, '');
}

const LIVEKIT_URL = /^(wss?|https?):\/\/[^\s]+$/i;

function nonEmpty(value: unknown, pattern: RegExp): string | undefined {
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed && pattern.test(trimmed) ? trimmed : undefined;
}

// The issuer is compared verbatim with the tokens' `iss`: keep it exactly as configured.
function issuerUrl(value: unknown): string | undefined {
  return nonEmpty(value, /^https?:\/\/[^\s?#]+$/i);
}

function resolveAuth(fileConfig: RuntimeConfig | null, build: BuildTimeAuth): OperatorAuthConfig {
  return {
    issuer: issuerUrl(fileConfig?.oidcIssuer) ?? issuerUrl(build.issuer) ?? DEFAULT_OPERATOR_AUTH.issuer,
    clientId:
      nonEmpty(fileConfig?.oidcClientId, /^[\w.:@-]{1,128}$/) ??
      nonEmpty(build.clientId, /^[\w.:@-]{1,128}$/) ??
      DEFAULT_OPERATOR_AUTH.clientId,
    scope:
      nonEmpty(fileConfig?.oidcScope, /^[\x21\x23-\x5b\x5d-\x7e ]{1,1024}$/) ??
      nonEmpty(build.scope, /^[\x21\x23-\x5b\x5d-\x7e ]{1,1024}$/) ??
      DEFAULT_OPERATOR_AUTH.scope,
    ...optional('endpointsOrigin', cleanUrl(fileConfig?.oidcEndpointsOrigin) ?? cleanUrl(build.endpointsOrigin)),
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [k in K]?: V };
}

function positiveNumber(value: unknown): number | undefined {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
}

/** `search`: the page URL's query, read for `?agentTimeout=` only (no address comes from the page URL). */
export function resolveConfig(
  search: string,
  fileConfig: RuntimeConfig | null,
  build: BuildTimeConfig = {},
): AppConfig {
  const params = new URLSearchParams(search);
  const timeoutS =
    positiveNumber(params.get('agentTimeout')) ?? positiveNumber(fileConfig?.agentJoinTimeoutS);
  return {
    apiUrl: cleanUrl(fileConfig?.apiUrl) ?? cleanUrl(build.apiUrl) ?? DEFAULT_API_URL,
    livekitUrl:
      cleanUrl(fileConfig?.livekitUrl, LIVEKIT_URL) ?? cleanUrl(build.livekitUrl, LIVEKIT_URL) ?? DEFAULT_LIVEKIT_URL,
    agentJoinTimeoutMs: timeoutS ? timeoutS * 1000 : DEFAULT_AGENT_JOIN_TIMEOUT_MS,
    auth: resolveAuth(fileConfig, build.auth ?? {}),
    ...optional('recordingsOrigin', cleanUrl(fileConfig?.recordingsOrigin) ?? cleanUrl(build.recordingsOrigin)),
  };
}

async function fetchFileConfig(): Promise<RuntimeConfig | null> {
  try {
    const res = await fetch('./config.json', { cache: 'no-store' });
    if (!res.ok) return null;
    // Static hosts often answer unknown paths with index.html; treat anything but JSON as absent.
    const body: unknown = await res.json();
    return body && typeof body === 'object' ? (body as RuntimeConfig) : null;
  } catch {
    return null;
  }
}

export async function loadConfig(): Promise<AppConfig> {
  const env = import.meta.env;
  return resolveConfig(window.location.search, await fetchFileConfig(), {
    apiUrl: env.VITE_API_URL,
    livekitUrl: env.VITE_LIVEKIT_URL,
    auth: {
      issuer: env.VITE_OIDC_ISSUER,
      clientId: env.VITE_OIDC_CLIENT_ID,
      scope: env.VITE_OIDC_SCOPE,
      endpointsOrigin: env.VITE_OIDC_ENDPOINTS_ORIGIN,
    },
    recordingsOrigin: env.VITE_RECORDINGS_ORIGIN,
  });
}
