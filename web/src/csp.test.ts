import { describe, expect, it } from 'vitest';
import { connectSources, contentSecurityPolicy, liveKitOrigins, originOf } from '../scripts/csp.mjs';
import { resolveConfig } from './config';
import { isConfiguredLiveKit, policyFor } from './csp';

const directive = (policy: string, name: string) =>
  policy
    .split(';')
    .map((d) => d.trim())
    .find((d) => d.startsWith(`${name} `))
    ?.slice(name.length + 1)
    .split(' ');

describe('the Content-Security-Policy', () => {
  it('lets the page connect to itself, the API, LiveKit and the issuer only', () => {
    const policy = contentSecurityPolicy({
      apiUrl: 'https://api.example.com/prod',
      livekitUrl: 'wss://calls.example.com',
      oidcIssuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc',
      oidcEndpointsOrigin: 'https://ops.auth.eu-west-1.amazoncognito.com',
    });
    expect(directive(policy, 'connect-src')).toEqual([
      "'self'",
      'https://api.example.com',
      'wss://calls.example.com',
      'https://calls.example.com',
      'https://cognito-idp.eu-west-1.amazonaws.com',
      'https://ops.auth.eu-west-1.amazoncognito.com',
    ]);
    expect(directive(policy, 'default-src')).toEqual(["'self'"]);
    expect(directive(policy, 'script-src')).toEqual(["'self'"]);
    expect(directive(policy, 'object-src')).toEqual(["'none'"]);
    expect(directive(policy, 'frame-ancestors')).toEqual(["'none'"]);
    expect(policy).not.toMatch(/\*|unsafe-eval/);
  });

  it('a <meta> policy leaves out what a meta tag cannot carry', () => {
    const policy = contentSecurityPolicy({ apiUrl: 'http://127.0.0.1:3000' }, { meta: true });
    expect(directive(policy, 'frame-ancestors')).toBeUndefined();
    expect(directive(policy, 'connect-src')).toEqual(["'self'", 'http://127.0.0.1:3000']);
  });

  it('lets recordings play from their store only, and only when one is configured', () => {
    expect(directive(contentSecurityPolicy({}), 'media-src')).toEqual(["'self'", 'blob:', 'mediastream:']);
    const s3 = contentSecurityPolicy({ recordingsOrigin: 'https://s3.eu-west-1.amazonaws.com/voicecall/x.ogg' });
    expect(directive(s3, 'media-src')).toEqual(["'self'", 'blob:', 'mediastream:', 'https://s3.eu-west-1.amazonaws.com']);
    expect(directive(s3, 'connect-src')).not.toContain('https://s3.eu-west-1.amazonaws.com');
    const junk = contentSecurityPolicy({ recordingsOrigin: 'javascript:alert(1)' });
    expect(directive(junk, 'media-src')).toEqual(["'self'", 'blob:', 'mediastream:']);
  });

  it('names each LiveKit server in its WebSocket and HTTP forms, whichever is configured', () => {
    expect(liveKitOrigins('ws://127.0.0.1:7880')).toEqual(['ws://127.0.0.1:7880', 'http://127.0.0.1:7880']);
    expect(liveKitOrigins('https://x.livekit.cloud/')).toEqual(['wss://x.livekit.cloud', 'https://x.livekit.cloud']);
    expect(liveKitOrigins('javascript:alert(1)')).toEqual([]);
    expect(liveKitOrigins(undefined)).toEqual([]);
  });

  it('keeps origins only: no paths, no junk, no duplicates', () => {
    expect(originOf('https://api.example.com/prod/token?x=1')).toBe('https://api.example.com');
    expect(originOf("https://x.test'; script-src *")).toBeUndefined();
    expect(originOf('data:text/plain,x')).toBeUndefined();
    expect(connectSources({ apiUrl: 'http://127.0.0.1:9400/a', oidcIssuer: 'http://127.0.0.1:9400' })).toEqual([
      "'self'",
      'http://127.0.0.1:9400',
    ]);
  });

  it('is built from the same configuration the app uses', () => {
    const config = resolveConfig('?api=https://evil.test', { apiUrl: 'http://127.0.0.1:3100', livekitUrl: 'ws://127.0.0.1:7990' });
    const sources = directive(policyFor(config), 'connect-src');
    expect(sources).toEqual(["'self'", 'http://127.0.0.1:3100', 'ws://127.0.0.1:7990', 'http://127.0.0.1:7990', 'http://127.0.0.1:9400']);
    expect(sources).not.toContain('https://evil.test');
  });

  it("accepts a token's LiveKit URL only when it names the configured server", () => {
    const config = { livekitUrl: 'wss://calls.example.com' };
    expect(isConfiguredLiveKit(config, 'wss://calls.example.com')).toBe(true);
    expect(isConfiguredLiveKit(config, 'https://calls.example.com/')).toBe(true);
    expect(isConfiguredLiveKit(config, 'wss://calls.example.com:8443')).toBe(false);
    expect(isConfiguredLiveKit(config, 'wss://evil.test')).toBe(false);
    expect(isConfiguredLiveKit(config, 'ws://calls.example.com')).toBe(false);
    expect(isConfiguredLiveKit(config, '')).toBe(false);
  });
});
