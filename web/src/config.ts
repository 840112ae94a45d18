// Where the functions API lives. Resolved at run time so one build can be deployed anywhere:
// 1. `?api=` in the page URL (handy for tests and ad-hoc use),
// 2. `config.json` served next to index.html ({"apiUrl": "..."}),
// 3. VITE_API_URL at build time,
// 4. the local stack's default.

export const DEFAULT_API_URL = 'http://127.0.0.1:3000';

export interface RuntimeConfig {
  apiUrl?: unknown;
  agentJoinTimeoutS?: unknown;
}

export interface AppConfig {
  apiUrl: string;
  agentJoinTimeoutMs: number;
}

export const DEFAULT_AGENT_JOIN_TIMEOUT_MS = 20_000;

function cleanUrl(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  if (!/^https?:\/\/[^\s]+$/i.test(trimmed)) return undefined;
  return trimmed.replace(/\/+$/, '');
}

function positiveNumber(value: unknown): number | undefined {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
}

export function resolveConfig(
  search: string,
  fileConfig: RuntimeConfig | null,
  buildTimeUrl: string | undefined,
): AppConfig {
  const params = new URLSearchParams(search);
  const apiUrl =
    cleanUrl(params.get('api')) ??
    cleanUrl(fileConfig?.apiUrl) ??
    cleanUrl(buildTimeUrl) ??
    DEFAULT_API_URL;
  const timeoutS =
    positiveNumber(params.get('agentTimeout')) ?? positiveNumber(fileConfig?.agentJoinTimeoutS);
  return {
    apiUrl,
    agentJoinTimeoutMs: timeoutS ? timeoutS * 1000 : DEFAULT_AGENT_JOIN_TIMEOUT_MS,
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
  return resolveConfig(window.location.search, await fetchFileConfig(), import.meta.env.VITE_API_URL);
}
