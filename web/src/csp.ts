// The Content-Security-Policy as a <meta> tag: the fallback for hosts that send no header (docs/security.md,
// "The web page"). Added once config.json is read, before anything else connects anywhere: from then on the
// page reaches 'self', the API, the LiveKit server and the issuer only. A policy sent as a header (the local
// web server, CloudFront) applies as well; the browser enforces both.
import { contentSecurityPolicy, sameLiveKitServer } from '../scripts/csp.mjs';
import type { AppConfig } from './config';

export function policyFor(config: AppConfig, meta = true): string {
  return contentSecurityPolicy(
    {
      apiUrl: config.apiUrl,
      livekitUrl: config.livekitUrl,
      oidcIssuer: config.auth.issuer,
      oidcEndpointsOrigin: config.auth.endpointsOrigin,
      recordingsOrigin: config.recordingsOrigin,
    },
    { meta },
  );
}

/** Put the policy in the document's head (once; a policy cannot be loosened afterwards anyway). */
export function applyContentSecurityPolicy(config: AppConfig, doc: Document = document): void {
  if (doc.querySelector('meta[http-equiv="Content-Security-Policy"][data-voicecall]')) return;
  const meta = doc.createElement('meta');
  meta.httpEquiv = 'Content-Security-Policy';
  meta.content = policyFor(config);
  meta.dataset.voicecall = 'csp';
  doc.head.prepend(meta);
}

/** A token's LiveKit URL is used only when it names the configured server. */
export function isConfiguredLiveKit(config: Pick<AppConfig, 'livekitUrl'>, url: string): boolean {
  return sameLiveKitServer(config.livekitUrl, url);
}
