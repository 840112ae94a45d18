// Where the functions API lives. Resolved at run time so one build can be deployed anywhere:
// 1. `?api=` in the page URL (handy for tests and ad-hoc use),
// 2. `config.json` served next to index.html ({"apiUrl": "..."}),
// 3. VITE_API_URL at build time,
// 4. the local stack's default.
//
// Who signs operators in (docs/security.md) comes only from config.json ({"oidcIssuer", "oidcClientId",
// "oidcScope"}) or the build (VITE_OIDC_ISSUER, VITE_OIDC_CLIENT_ID, VITE_OIDC_SCOPE), never from the page
// URL, else the local stack's issuer (infra/local_oidc).

export const DEFAULT_API_URL = 'http://127.0.0.1:3000';
export const DEFAULT_OPERATOR_AUTH: OperatorAuthConfig = {
  issuer: 'http://127.0.0.1:9400',
  clientId: 'voicecall-web',
  scope: 'openid email profile sessions:read analytics:read',
};

export interface RuntimeConfig {
  apiUrl?: unknown;
  agentJoinTimeoutS?: unknown;
  oidcIssuer?: unknown;
  oidcClientId?: unknown;
  oidcScope?: unknown;
}

export interface OperatorAuthConfig {
  /** OpenID Connect issuer (its /.well-known/openid-configuration is read). */
  issuer: string;
  /** The web app's public client id (code flow + PKCE, no secret). */
  clientId: string;
  /** Space-separated scopes, e.g. "openid email profile sessions:read analytics:read". */
  scope: string;
}

export interface BuildTimeAuth {
  issuer?: string;
  clientId?: string;
  scope?: string;
}

export interface AppConfig {
  apiUrl: string;
  /** Where operator calls (with the bearer token) go: config.json or the build only, never `?api=`. */
  operatorApiUrl: string;
  agentJoinTimeoutMs: number;
  auth: OperatorAuthConfig;
}

export const DEFAULT_AGENT_JOIN_TIMEOUT_MS = 20_000;

function cleanUrl(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  if (!/^https?:\/\/[^\s]+$/i.test(trimmed)) return undefined;
  return trimmed.replace(/\/+$/, '');
}

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
  };
}

function positiveNumber(value: unknown): number | undefined {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
}

export function resolveConfig(
  search: string,
  fileConfig: RuntimeConfig | null,
  buildTimeUrl: string | undefined,
  buildTimeAuth: BuildTimeAuth = {},
): AppConfig {
  const params = new URLSearchParams(search);
  const operatorApiUrl = cleanUrl(fileConfig?.apiUrl) ?? cleanUrl(buildTimeUrl) ?? DEFAULT_API_URL;
  const apiUrl = cleanUrl(params.get('api')) ?? operatorApiUrl;
  const timeoutS =
    positiveNumber(params.get('agentTimeout')) ?? positiveNumber(fileConfig?.agentJoinTimeoutS);
  return {
    apiUrl,
    operatorApiUrl,
    agentJoinTimeoutMs: timeoutS ? timeoutS * 1000 : DEFAULT_AGENT_JOIN_TIMEOUT_MS,
    auth: resolveAuth(fileConfig, buildTimeAuth),
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
  return resolveConfig(window.location.search, await fetchFileConfig(), env.VITE_API_URL, {
    issuer: env.VITE_OIDC_ISSUER,
    clientId: env.VITE_OIDC_CLIENT_ID,
    scope: env.VITE_OIDC_SCOPE,
  });
}
