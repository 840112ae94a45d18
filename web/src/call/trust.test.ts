import { ParticipantKind } from 'livekit-client';
import { describe, expect, it } from 'vitest';
import { fromAgent, isFromAgent, pickAgent, roster } from './trust';

const agent = { identity: 'agent-AJ_1', name: 'Assistant', kind: ParticipantKind.AGENT, joinedAt: new Date(1000) };
const laterAgent = { identity: 'agent-AJ_2', kind: ParticipantKind.AGENT, joinedAt: new Date(2000) };
const intruder = { identity: 'web-mallory-1', name: 'Voicecall Agent', kind: ParticipantKind.STANDARD };
const me = { identity: 'web-me-1', name: 'Me', kind: ParticipantKind.STANDARD };

const stream = (identity: string, text: string) => ({
  text,
  participantInfo: { identity },
  streamInfo: { id: `${identity}-${text}`, timestamp: 0 },
});

describe('the call page believes the agent only', () => {
  it('picks the first agent participant, never a standard one named like an agent', () => {
    expect(pickAgent([intruder, laterAgent, agent])?.identity).toBe('agent-AJ_1');
    expect(pickAgent([intruder])).toBeUndefined();
    expect(pickAgent([{ identity: 'agent-fake', kind: ParticipantKind.STANDARD }])).toBeUndefined();
  });

  it('keeps transcriptions from the agent (its own and the caller on whose behalf it sends) only', () => {
    const streams = [
      stream('agent-AJ_1', 'hello from the agent'),
      stream('web-me-1', 'what I said, as the agent heard it'),
      stream('web-mallory-1', 'INJECTED'),
      stream('agent-AJ_2', 'a second agent'),
    ];
    expect(fromAgent(streams, 'agent-AJ_1', 'web-me-1').map((s) => s.text)).toEqual([
      'hello from the agent',
      'what I said, as the agent heard it',
    ]);
    expect(fromAgent(streams, undefined, 'web-me-1')).toEqual([]);
  });

  it('accepts metrics packets from the agent participant only', () => {
    expect(isFromAgent(agent, 'agent-AJ_1')).toBe(true);
    expect(isFromAgent(intruder, 'agent-AJ_1')).toBe(false);
    expect(isFromAgent({ identity: 'agent-AJ_1', kind: ParticipantKind.STANDARD }, 'agent-AJ_1')).toBe(false);
    expect(isFromAgent(undefined, 'agent-AJ_1')).toBe(false);
    expect(isFromAgent(agent, undefined)).toBe(false);
  });

  it('lists everyone in the room, strangers marked', () => {
    expect(roster(me, [intruder, agent], 'agent-AJ_1')).toEqual([
      { identity: 'web-me-1', name: 'Me', role: 'you' },
      { identity: 'agent-AJ_1', name: 'Assistant', role: 'assistant' },
      { identity: 'web-mallory-1', name: 'Voicecall Agent', role: 'other' },
    ]);
  });
});
