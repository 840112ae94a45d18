import { describe, expect, it } from 'vitest';
import { DEFAULT_AGENT_JOIN_TIMEOUT_MS, DEFAULT_API_URL, DEFAULT_OPERATOR_AUTH, resolveConfig } from './config';

describe('resolveConfig', () => {
  it('defaults to the local stack', () => {
    expect(resolveConfig('', null, undefined)).toEqual({
      apiUrl: DEFAULT_API_URL,
      operatorApiUrl: DEFAULT_API_URL,
      agentJoinTimeoutMs: DEFAULT_AGENT_JOIN_TIMEOUT_MS,
      auth: DEFAULT_OPERATOR_AUTH,
    });
  });
  it('query beats config.json beats build time', () => {
    const file = { apiUrl: 'https://api.example.test/prod/' };
    expect(resolveConfig('?api=http://127.0.0.1:4000', file, 'http://build').apiUrl).toBe('http://127.0.0.1:4000');
    expect(resolveConfig('', file, 'http://build').apiUrl).toBe('https://api.example.test/prod');
    expect(resolveConfig('', null, 'http://build:1/').apiUrl).toBe('http://build:1');
  });
  it('ignores values that are not http(s) URLs', () => {
    expect(resolveConfig('?api=javascript:alert(1)', { apiUrl: 42 }, '').apiUrl).toBe(DEFAULT_API_URL);
  });
  it('reads the agent timeout in seconds', () => {
    expect(resolveConfig('?agentTimeout=5', null, undefined).agentJoinTimeoutMs).toBe(5000);
    expect(resolveConfig('', { agentJoinTimeoutS: 30 }, undefined).agentJoinTimeoutMs).toBe(30000);
    expect(resolveConfig('?agentTimeout=-1', null, undefined).agentJoinTimeoutMs).toBe(DEFAULT_AGENT_JOIN_TIMEOUT_MS);
  });
  it('takes the operator issuer from config.json, then the build, never from the page URL', () => {
    const file = {
      oidcIssuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc',
      oidcClientId: 'abc123',
      oidcScope: 'openid voicecall/sessions:read voicecall/analytics:read',
    };
    expect(resolveConfig('?oidcIssuer=https://evil.test&issuer=https://evil.test', file, undefined).auth).toEqual({
      issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc',
      clientId: 'abc123',
      scope: 'openid voicecall/sessions:read voicecall/analytics:read',
    });
    expect(resolveConfig('?oidcIssuer=https://evil.test', null, undefined).auth).toEqual(DEFAULT_OPERATOR_AUTH);
    const build = { issuer: 'https://login.example.com/', clientId: 'web', scope: 'openid sessions:read' };
    expect(resolveConfig('', null, undefined, build).auth).toEqual(build);
  });
  it('never sends operator calls (and their token) to a ?api= server', () => {
    const file = { apiUrl: 'https://api.example.test' };
    const config = resolveConfig('?api=https://evil.test', file, undefined);
    expect(config.apiUrl).toBe('https://evil.test');
    expect(config.operatorApiUrl).toBe('https://api.example.test');
    expect(resolveConfig('?api=https://evil.test', null, undefined).operatorApiUrl).toBe(DEFAULT_API_URL);
  });
  it('keeps the issuer verbatim (it is compared with the tokens) and rejects junk', () => {
    expect(resolveConfig('', { oidcIssuer: 'https://login.example.com/' }, undefined).auth.issuer).toBe(
      'https://login.example.com/',
    );
    const junk = { oidcIssuer: 'javascript:alert(1)', oidcClientId: 'a b', oidcScope: 'openid "x"' };
    expect(resolveConfig('', junk, undefined).auth).toEqual(DEFAULT_OPERATOR_AUTH);
  });
});
