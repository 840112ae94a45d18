// Types for csp.mjs (plain JavaScript so that node runs it as is).
export interface PolicyValues {
  apiUrl?: string;
  livekitUrl?: string;
  oidcIssuer?: string;
  oidcEndpointsOrigin?: string;
  /** Where call recordings play from (media-src). */
  recordingsOrigin?: string;
}
export const LOCAL_DEFAULTS: Readonly<{ apiUrl: string; livekitUrl: string; oidcIssuer: string }>;
export function originOf(url: unknown): string | undefined;
export function liveKitOrigins(url: unknown): string[];
export function sameLiveKitServer(a: unknown, b: unknown): boolean;
export function connectSources(values?: PolicyValues): string[];
export function contentSecurityPolicy(values?: PolicyValues, options?: { meta?: boolean }): string;
