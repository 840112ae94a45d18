// The call's state as the functions publish it in the LiveKit room's metadata (which only the server API can
// write: functions/livekit_rooms.py `set_call_state`), e.g. when the call's agent dropped mid-call:
//   {"voicecall": {"agent": "reconnecting"}}                 a new agent is being dispatched
//   {"voicecall": {"agent": "left", "reason": "agent lost"}}  the call ends because of that
// Anything else (no metadata, other keys, junk) is "nothing to say".

import type { MessageKey } from '../i18n';

export type CallState = { agent: 'reconnecting' } | { agent: 'left'; reason?: string };

export const ROOM_STATE_KEY = 'voicecall';
const MAX_REASON = 200;

export function parseCallState(metadata: string | undefined | null): CallState | null {
  if (!metadata) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(metadata);
  } catch {
    return null;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
  const state: unknown = (parsed as Record<string, unknown>)[ROOM_STATE_KEY];
  if (!state || typeof state !== 'object' || Array.isArray(state)) return null;
  const { agent, reason } = state as Record<string, unknown>;
  if (agent === 'reconnecting') return { agent: 'reconnecting' };
  if (agent === 'left') {
    const text = typeof reason === 'string' ? reason.trim().slice(0, MAX_REASON) : '';
    return text ? { agent: 'left', reason: text } : { agent: 'left' };
  }
  return null;
}

// The functions' reasons the page can put in words (functions/routes/livekit_webhook.py AGENT_LOST); any
// other reason is shown as the server wrote it.
const LEFT_REASONS: Record<string, MessageKey> = {
  'agent lost': 'call.reason.agentLost',
};

export function leftReasonKey(reason: string | undefined): MessageKey | undefined {
  return reason ? LEFT_REASONS[reason] : undefined;
}

/** What the page says about the agent when no agent participant is (or should be) speaking. */
export type AgentPresence = 'present' | 'waiting' | 'reconnecting' | 'left' | 'gone';

/**
 * `hasAgent`: an agent participant is in the room now; `hadAgent`: one was, earlier in this call.
 * "left" (the call is ending) wins; "reconnecting" only until the new agent is in the room (the metadata
 * may still say so then); an agent that disconnected with nothing said is "gone", never still "speaking".
 */
export function agentPresence(state: CallState | null, hasAgent: boolean, hadAgent: boolean): AgentPresence {
  if (state?.agent === 'left') return 'left';
  if (hasAgent) return 'present';
  if (state?.agent === 'reconnecting') return 'reconnecting';
  return hadAgent ? 'gone' : 'waiting';
}
