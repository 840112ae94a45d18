import { describe, expect, it } from 'vitest';
import { mergeTranscripts, type TranscriptStream } from './transcript';

const s = (
  id: string,
  identity: string,
  text: string,
  ts: number,
  attrs: Record<string, string> = {},
): TranscriptStream => ({ text, participantInfo: { identity }, streamInfo: { id, timestamp: ts, attributes: attrs } });

const ctx = { localIdentity: 'user-1', localTrackSids: new Set(['TR_mic']) };

describe('mergeTranscripts', () => {
  it('replaces interim text by final text in place and keeps order', () => {
    const lines = mergeTranscripts(
      [
        s('st1', 'user-1', 'hel', 100, { 'lk.segment_id': 'seg-u1', 'lk.transcription_final': 'false' }),
        s('st2', 'agent-1', 'Hi there!', 300, { 'lk.segment_id': 'seg-a1' }),
        s('st3', 'user-1', 'hello world', 150, { 'lk.segment_id': 'seg-u1', 'lk.transcription_final': 'true' }),
      ],
      ctx,
    );
    expect(lines.map((l) => [l.speaker, l.text, l.final])).toEqual([
      ['user', 'hello world', true],
      ['agent', 'Hi there!', false],
    ]);
  });

  it('recognises user speech transcribed by the agent via the track sid', () => {
    const lines = mergeTranscripts(
      [s('a', 'agent-1', 'ni hao', 10, { 'lk.segment_id': 'x', 'lk.transcribed_track_id': 'TR_mic' })],
      ctx,
    );
    expect(lines[0]!.speaker).toBe('user');
  });

  it('never turns a final line back into interim, drops empty lines, orders by time', () => {
    const lines = mergeTranscripts(
      [
        s('1', 'agent-1', 'second', 20, { 'lk.segment_id': 'b' }),
        s('2', 'user-1', 'first', 10, { 'lk.segment_id': 'a', 'lk.transcription_final': 'true' }),
        s('3', 'user-1', 'first!', 12, { 'lk.segment_id': 'a', 'lk.transcription_final': 'false' }),
        s('4', 'agent-1', '   ', 5),
        s('5', 'agent-1', 'no segment id', 30),
      ],
      ctx,
    );
    expect(lines.map((l) => l.text)).toEqual(['first!', 'second', 'no segment id']);
    expect(lines[0]!.final).toBe(true);
    expect(lines[2]!.id).toBe('5');
  });
});
