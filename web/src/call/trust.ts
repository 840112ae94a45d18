// Whom the call page believes. Transcripts and latency packets are shown only when they come from the
// call's agent: a participant whose kind is AGENT. The kind is set by the server from the joining token,
// and only the agent worker's dispatch mints agent tokens, so no caller-side participant can claim it.
// The sender identity of data and text streams is stamped by the server, with one exception that is
// livekit-server's own rule: an agent may open a text stream on behalf of another participant (its
// transcription of the caller's words arrives under the caller's identity, marked generated). So a
// transcription is the agent's when it carries the agent's identity or the caller's own (which nobody
// but an agent can send: the page itself publishes none). Anything else is ignored, and the page lists
// everyone in the room (docs/security.md).

import { ParticipantKind } from 'livekit-client';

export interface ParticipantLike {
  identity: string;
  name?: string;
  kind?: ParticipantKind;
  joinedAt?: Date;
}

export type Role = 'you' | 'assistant' | 'other';

export interface RosterEntry {
  identity: string;
  name: string;
  role: Role;
}

/** The call's agent: the first-joined remote participant of kind AGENT (later agents are "other"). */
export function pickAgent<P extends ParticipantLike>(remotes: readonly P[]): P | undefined {
  const agents = remotes.filter((p) => p.kind === ParticipantKind.AGENT);
  return [...agents].sort((a, b) => (a.joinedAt?.getTime() ?? 0) - (b.joinedAt?.getTime() ?? 0))[0];
}

/**
 * Transcription streams sent by the agent (its own words, and the caller's words on the caller's behalf);
 * everything else is dropped before it reaches the page. No agent yet: nothing is believed.
 */
export function fromAgent<S extends { participantInfo: { identity: string } }>(
  streams: readonly S[],
  agentIdentity: string | undefined,
  localIdentity: string,
): S[] {
  if (!agentIdentity) return [];
  return streams.filter((s) => s.participantInfo.identity === agentIdentity || s.participantInfo.identity === localIdentity);
}

/** A data packet (e.g. voicecall.metrics) counts only when the agent participant sent it. */
export function isFromAgent(from: ParticipantLike | undefined, agentIdentity: string | undefined): boolean {
  return !!from && !!agentIdentity && from.identity === agentIdentity && from.kind === ParticipantKind.AGENT;
}

/** Everyone in the room: you first, then the assistant, then anyone else (who should never be there). */
export function roster(
  local: ParticipantLike,
  remotes: readonly ParticipantLike[],
  agentIdentity: string | undefined,
): RosterEntry[] {
  const entry = (p: ParticipantLike, role: Role): RosterEntry => ({
    identity: p.identity,
    name: p.name || p.identity,
    role,
  });
  const others = remotes.filter((p) => p.identity !== agentIdentity).map((p) => entry(p, 'other'));
  const agent = remotes.filter((p) => p.identity === agentIdentity).map((p) => entry(p, 'assistant'));
  return [entry(local, 'you'), ...agent, ...others];
}
