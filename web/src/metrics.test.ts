import { describe, expect, it } from 'vitest';
import { parseMetricsPacket, upsertTurn } from './metrics';
import { formatLatency } from './format';
import { parseRoute, hrefOf } from './route';
import { problemFrom, micErrorFrom } from './callErrors';
import { ApiError } from './api';

const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

describe('parseMetricsPacket', () => {
  it('reads a TurnMetrics object', () => {
    const m = parseMetricsPacket(
      enc({ type: 'turn_metrics', event_id: 'call-x-0001', ts: '2026-11-25T10:00:00Z', turn: 1, voice_to_voice: 0.93, llm_ttft: 0.31, tts_ttfb: null, interrupted: false }),
    );
    expect(m).toEqual({ turn: 1, interrupted: false, voice_to_voice: 0.93, llm_ttft: 0.31 });
  });
  it('rejects other types, bad JSON and bad turns', () => {
    expect(parseMetricsPacket(enc({ type: 'transcript', turn: 1 }))).toBeNull();
    expect(parseMetricsPacket('{oops')).toBeNull();
    expect(parseMetricsPacket(enc({ turn: -1 }))).toBeNull();
    expect(parseMetricsPacket(enc({ turn: 1.5 }))).toBeNull();
    expect(parseMetricsPacket(enc([1]))).toBeNull();
    expect(parseMetricsPacket(enc({ turn: 2, voice_to_voice: -3, llm_ttft: 'x' }))).toEqual({ turn: 2, interrupted: false });
  });
  it('upserts by turn, ordered', () => {
    let list = upsertTurn([], { turn: 2, interrupted: false, voice_to_voice: 1 });
    list = upsertTurn(list, { turn: 1, interrupted: false });
    list = upsertTurn(list, { turn: 2, interrupted: true, voice_to_voice: 2 });
    expect(list.map((m) => [m.turn, m.voice_to_voice])).toEqual([
      [1, undefined],
      [2, 2],
    ]);
  });
});

describe('small helpers', () => {
  it('formats latency', () => {
    expect(formatLatency(0.934)).toBe('934 ms');
    expect(formatLatency(1.5)).toBe('1.50 s');
    expect(formatLatency(null)).toBe('—');
  });
  it('routes', () => {
    expect(parseRoute('')).toEqual({ page: 'call' });
    expect(parseRoute('#/analytics')).toEqual({ page: 'analytics' });
    expect(parseRoute(hrefOf({ page: 'session', id: 'call-1 2' }))).toEqual({ page: 'session', id: 'call-1 2' });
    expect(parseRoute('#/assistants')).toEqual({ page: 'assistants' });
    expect(parseRoute(hrefOf({ page: 'assistant', id: null }))).toEqual({ page: 'assistant', id: null });
    expect(parseRoute('#/assistants/asst-0123456789ab')).toEqual({ page: 'assistant', id: 'asst-0123456789ab' });
    expect(parseRoute('#/assistants/../x')).toEqual({ page: 'assistants' });
    expect(parseRoute(hrefOf({ page: 'call', assistant: 'default' }))).toEqual({ page: 'call', assistant: 'default' });
    expect(parseRoute('#/?assistant=javascript:alert(1)')).toEqual({ page: 'call' });
  });
  it('maps failures to messages', () => {
    expect(problemFrom(micErrorFrom(new DOMException('x', 'NotAllowedError'))).key).toBe('error.micDenied');
    expect(problemFrom(micErrorFrom(new DOMException('x', 'NotFoundError'))).key).toBe('error.micMissing');
    expect(problemFrom(micErrorFrom(new DOMException('x', 'NotReadableError'))).key).toBe('error.micBusy');
    expect(problemFrom(new ApiError('unreachable')).key).toBe('error.unreachable');
    const p = problemFrom(new ApiError('access_code_required', 401, 'code please'));
    expect(p).toEqual({ key: 'error.accessCodeRequired', serverMessage: 'code please', needsAccessCode: true });
    expect(problemFrom(new ApiError('refused', 403, 'go away')).serverMessage).toBe('go away');
    expect(problemFrom(new Error('ws failed')).key).toBe('error.roomConnect');
  });
});
