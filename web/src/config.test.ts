import { describe, expect, it } from 'vitest';
import {
  DEFAULT_AGENT_JOIN_TIMEOUT_MS,
  DEFAULT_API_URL,
  DEFAULT_LIVEKIT_URL,
  DEFAULT_OPERATOR_AUTH,
  resolveConfig,
} from './config';

describe('resolveConfig', () => {
  it('defaults to the local stack', () => {
    expect(resolveConfig('', null)).toEqual({
      apiUrl: DEFAULT_API_URL,
      livekitUrl: DEFAULT_LIVEKIT_URL,
      agentJoinTimeoutMs: DEFAULT_AGENT_JOIN_TIMEOUT_MS,
      auth: DEFAULT_OPERATOR_AUTH,
    });
  });
  it('config.json beats build time', () => {
    const file = { apiUrl: 'https://api.example.test/prod/', livekitUrl: 'wss://lk.example.test/' };
    const build = { apiUrl: 'http://build', livekitUrl: 'ws://build:7880' };
    expect(resolveConfig('', file, build)).toMatchObject({
      apiUrl: 'https://api.example.test/prod',
      livekitUrl: 'wss://lk.example.test',
    });
    expect(resolveConfig('', null, { apiUrl: 'http://build:1/', livekitUrl: 'https://lk.build' })).toMatchObject({
      apiUrl: 'http://build:1',
      livekitUrl: 'https://lk.build',
    });
  });
  it('never takes an address from the page URL (issue 10 #7)', () => {
    const file = { apiUrl: 'https://api.example.test' };
    for (const search of ['?api=https://evil.test', '?apiUrl=https://evil.test&livekitUrl=wss://evil.test']) {
      expect(resolveConfig(search, file)).toMatchObject({ apiUrl: 'https://api.example.test', livekitUrl: DEFAULT_LIVEKIT_URL });
      expect(resolveConfig(search, null)).toMatchObject({ apiUrl: DEFAULT_API_URL, livekitUrl: DEFAULT_LIVEKIT_URL });
    }
  });
  it('ignores values that are not http(s) URLs (ws(s) too for LiveKit)', () => {
    expect(resolveConfig('', { apiUrl: 42 }, { apiUrl: '' }).apiUrl).toBe(DEFAULT_API_URL);
    expect(resolveConfig('', { apiUrl: 'javascript:alert(1)' }).apiUrl).toBe(DEFAULT_API_URL);
    expect(resolveConfig('', { apiUrl: 'ws://api.example.test' }).apiUrl).toBe(DEFAULT_API_URL);
    expect(resolveConfig('', { livekitUrl: 'javascript:alert(1)' }).livekitUrl).toBe(DEFAULT_LIVEKIT_URL);
    expect(resolveConfig('', { livekitUrl: 7880 }).livekitUrl).toBe(DEFAULT_LIVEKIT_URL);
  });
  it('reads the agent timeout in seconds', () => {
    expect(resolveConfig('?agentTimeout=5', null).agentJoinTimeoutMs).toBe(5000);
    expect(resolveConfig('', { agentJoinTimeoutS: 30 }).agentJoinTimeoutMs).toBe(30000);
    expect(resolveConfig('?agentTimeout=-1', null).agentJoinTimeoutMs).toBe(DEFAULT_AGENT_JOIN_TIMEOUT_MS);
  });
  it('takes the operator issuer from config.json, then the build, never from the page URL', () => {
    const file = {
      oidcIssuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc',
      oidcClientId: 'abc123',
      oidcScope: 'openid voicecall/sessions:read voicecall/analytics:read',
    };
    expect(resolveConfig('?oidcIssuer=https://evil.test&issuer=https://evil.test', file).auth).toEqual({
      issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc',
      clientId: 'abc123',
      scope: 'openid voicecall/sessions:read voicecall/analytics:read',
    });
    expect(resolveConfig('?oidcIssuer=https://evil.test', null).auth).toEqual(DEFAULT_OPERATOR_AUTH);
    const build = { issuer: 'https://login.example.com/', clientId: 'web', scope: 'openid sessions:read' };
    expect(resolveConfig('', null, { auth: build }).auth).toEqual(build);
  });
  it("takes the issuer's endpoints origin (Cognito's hosted UI) from config.json or the build", () => {
    const hostedUi = 'https://voicecall-prod-operators.auth.eu-west-1.amazoncognito.com';
    expect(resolveConfig('', { oidcEndpointsOrigin: `${hostedUi}/` }).auth.endpointsOrigin).toBe(hostedUi);
    expect(resolveConfig('', null, { auth: { endpointsOrigin: hostedUi } }).auth.endpointsOrigin).toBe(hostedUi);
    expect(resolveConfig('?oidcEndpointsOrigin=https://evil.test', null).auth.endpointsOrigin).toBeUndefined();
    expect(resolveConfig('', { oidcEndpointsOrigin: 'javascript:x' }).auth.endpointsOrigin).toBeUndefined();
  });
  it('keeps the issuer verbatim (it is compared with the tokens) and rejects junk', () => {
    expect(resolveConfig('', { oidcIssuer: 'https://login.example.com/' }).auth.issuer).toBe(
      'https://login.example.com/',
    );
    const junk = { oidcIssuer: 'javascript:alert(1)', oidcClientId: 'a b', oidcScope: 'openid "x"' };
    expect(resolveConfig('', junk).auth).toEqual(DEFAULT_OPERATOR_AUTH);
  });
});
