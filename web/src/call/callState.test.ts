import { describe, expect, it } from 'vitest';
import { translate } from '../i18n';
import { agentPresence, leftReasonKey, parseCallState } from './callState';

describe('the call state in the room metadata', () => {
  it('reads what the functions write', () => {
    // functions/livekit_rooms.py room_state(): compact JSON
    expect(parseCallState('{"voicecall":{"agent":"reconnecting"}}')).toEqual({ agent: 'reconnecting' });
    expect(parseCallState('{"voicecall":{"agent":"left","reason":"agent lost"}}')).toEqual({
      agent: 'left',
      reason: 'agent lost',
    });
    expect(parseCallState(JSON.stringify({ voicecall: { agent: 'left' } }))).toEqual({ agent: 'left' });
    expect(parseCallState(JSON.stringify({ other: 1, voicecall: { agent: 'left', reason: '  agent lost ' } }))).toEqual(
      { agent: 'left', reason: 'agent lost' },
    );
  });

  it('says nothing for no metadata, other keys, other states or junk', () => {
    for (const md of [
      undefined,
      null,
      '',
      'not json',
      '[]',
      '"voicecall"',
      'null',
      '{"voicecall":null}',
      '{"voicecall":[]}',
      '{"voicecall":"left"}',
      '{"voicecall":{"agent":"speaking"}}',
      '{"voicecall":{"agent":["left"]}}',
      '{"agent":"left"}',
    ]) {
      expect(parseCallState(md), String(md)).toBeNull();
    }
  });

  it('keeps a reason short and text only', () => {
    expect(parseCallState(JSON.stringify({ voicecall: { agent: 'left', reason: 'x'.repeat(5000) } }))).toEqual({
      agent: 'left',
      reason: 'x'.repeat(200),
    });
    expect(parseCallState(JSON.stringify({ voicecall: { agent: 'left', reason: { html: '<b>' } } }))).toEqual({
      agent: 'left',
    });
  });

  it('puts the known reason in words, in both languages', () => {
    const key = leftReasonKey('agent lost');
    expect(key).toBe('call.reason.agentLost');
    expect(translate('en', 'call.agentLeft', { reason: translate('en', key!) })).toMatch(/has left.*connection/);
    expect(translate('zh', 'call.agentLeft', { reason: translate('zh', key!) })).toMatch(/助手已离开/);
    expect(leftReasonKey('something new')).toBeUndefined();
    expect(leftReasonKey(undefined)).toBeUndefined();
  });

  it('decides what the page says about the agent', () => {
    const reconnecting = { agent: 'reconnecting' } as const;
    const left = { agent: 'left', reason: 'agent lost' } as const;
    expect(agentPresence(null, false, false)).toBe('waiting');
    expect(agentPresence(null, true, true)).toBe('present');
    // dropped, nothing said (yet): gone, not stuck on its last state
    expect(agentPresence(null, false, true)).toBe('gone');
    expect(agentPresence(reconnecting, false, true)).toBe('reconnecting');
    // the new agent joined while the metadata still says reconnecting
    expect(agentPresence(reconnecting, true, true)).toBe('present');
    expect(agentPresence(left, false, true)).toBe('left');
    expect(agentPresence(left, true, true)).toBe('left');
  });
});
