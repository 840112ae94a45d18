// Turns LiveKit transcription text streams (topic `lk.transcription`) into ordered transcript lines.
// Interim updates for a segment share `lk.segment_id`; the latest text replaces earlier text in place,
// so a line keeps its position while its words settle.

export const TRANSCRIPTION_TOPIC = 'lk.transcription';
const SEGMENT_ID = 'lk.segment_id';
const TRACK_ID = 'lk.transcribed_track_id';
const FINAL = 'lk.transcription_final';

/** The subset of components-core's TextStreamData we rely on. */
export interface TranscriptStream {
  text: string;
  participantInfo: { identity: string };
  streamInfo: { id: string; timestamp: number; attributes?: Record<string, string> };
}

export type Speaker = 'user' | 'agent';

export interface TranscriptLine {
  id: string;
  speaker: Speaker;
  text: string;
  final: boolean;
  /** ms since epoch when the segment was first seen (sender's clock) */
  firstTs: number;
}

export interface SpeakerContext {
  localIdentity: string;
  /** sids of the local participant's tracks: the agent publishes user transcripts under its own identity in some setups */
  localTrackSids?: ReadonlySet<string>;
}

export function speakerOf(stream: TranscriptStream, ctx: SpeakerContext): Speaker {
  if (stream.participantInfo.identity === ctx.localIdentity) return 'user';
  const trackSid = stream.streamInfo.attributes?.[TRACK_ID];
  if (trackSid && ctx.localTrackSids?.has(trackSid)) return 'user';
  return 'agent';
}

export function mergeTranscripts(streams: readonly TranscriptStream[], ctx: SpeakerContext): TranscriptLine[] {
  const byId = new Map<string, TranscriptLine & { order: number }>();
  streams.forEach((s, order) => {
    const attrs = s.streamInfo.attributes ?? {};
    const id = attrs[SEGMENT_ID] || s.streamInfo.id;
    const ts = Number.isFinite(s.streamInfo.timestamp) ? s.streamInfo.timestamp : 0;
    const final = attrs[FINAL] === 'true';
    const prev = byId.get(id);
    if (prev) {
      // A final line never goes back to interim.
      prev.text = s.text;
      prev.final = prev.final || final;
      prev.firstTs = Math.min(prev.firstTs, ts);
    } else {
      byId.set(id, { id, speaker: speakerOf(s, ctx), text: s.text, final, firstTs: ts, order });
    }
  });
  return [...byId.values()]
    .filter((l) => l.text.trim() !== '')
    .sort((a, b) => a.firstTs - b.firstTs || a.order - b.order)
    .map(({ order: _order, ...line }) => line);
}
