import { describe, expect, it } from 'vitest';
import { DEFAULT_AGENT_JOIN_TIMEOUT_MS, DEFAULT_API_URL, resolveConfig } from './config';

describe('resolveConfig', () => {
  it('defaults to the local stack', () => {
    expect(resolveConfig('', null, undefined)).toEqual({
      apiUrl: DEFAULT_API_URL,
      agentJoinTimeoutMs: DEFAULT_AGENT_JOIN_TIMEOUT_MS,
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
});
