import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiError,
  createApiClient,
  normalizeAnalytics,
  normalizeSessionDetail,
  normalizeSessionPage,
} from './api';

// A real HTTP server: the client is exercised over the wire, status codes and bodies included.
type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;
let server: Server;
let base = '';
let handler: Handler = (_req, _body, res) => res.writeHead(500).end();
const seen: {
  method: string;
  url: string;
  body: string;
  contentType?: string;
  authorization?: string;
  callKey?: string;
}[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        body,
        contentType: req.headers['content-type'],
        authorization: req.headers.authorization,
        callKey: req.headers['x-call-key'] as string | undefined,
      });
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const json = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    return e as ApiError;
  }
  throw new Error('expected a rejection');
}

describe('requestToken', () => {
  it('posts JSON and returns the grant', async () => {
    handler = (_req, _body, res) =>
      json(res, 200, { url: 'ws://127.0.0.1:7880', token: 'tok', room: 'call-abc', identity: 'user-1' });
    const api = createApiClient(`${base}/`);
    const grant = await api.requestToken({ name: 'Ann', language: 'zh' });
    expect(grant).toEqual({ url: 'ws://127.0.0.1:7880', token: 'tok', room: 'call-abc', identity: 'user-1', recording: false });
    const last = seen.at(-1)!;
    expect(last.method).toBe('POST');
    expect(last.url).toBe('/token');
    expect(last.contentType).toBe('application/json');
    expect(JSON.parse(last.body)).toEqual({ name: 'Ann', language: 'zh' });
  });

  it('sends the chosen assistant and reads whether the call is recorded', async () => {
    handler = (_req, _body, res) => json(res, 200, { url: 'ws://x', token: 't', recording: true });
    const grant = await createApiClient(base).requestToken({ name: 'A', language: 'en', assistant_id: 'asst-0123456789ab' });
    expect(JSON.parse(seen.at(-1)!.body)).toEqual({ name: 'A', language: 'en', assistant_id: 'asst-0123456789ab' });
    expect(grant.recording).toBe(true);
  });

  it('sends the access code only when given', async () => {
    handler = (_req, _body, res) => json(res, 200, { url: 'ws://x', token: 't' });
    await createApiClient(base).requestToken({ name: 'A', language: 'en', access_code: 'secret' });
    expect(JSON.parse(seen.at(-1)!.body)).toEqual({ name: 'A', language: 'en', access_code: 'secret' });
  });

  it('maps 401 to access_code_required with the server message', async () => {
    handler = (_req, _body, res) => json(res, 401, { message: 'access code required' });
    const err = await rejection(createApiClient(base).requestToken({ name: 'A', language: 'en' }));
    expect(err.kind).toBe('access_code_required');
    expect(err.serverMessage).toBe('access code required');
  });

  it('reads {error, detail} bodies and treats 401 after sending a code as an invalid code', async () => {
    handler = (_req, _body, res) => json(res, 401, { error: 'unauthorized', detail: 'a valid access_code is required' });
    const err = await rejection(createApiClient(base).requestToken({ name: 'A', language: 'en', access_code: 'bad' }));
    expect(err.kind).toBe('access_code_invalid');
    expect(err.serverMessage).toBe('a valid access_code is required');
    handler = (_req, _body, res) =>
      json(res, 422, { error: 'validation_error', detail: [{ loc: ['body', 'name'], msg: 'String should have at least 1 character' }] });
    const v = await rejection(createApiClient(base).requestToken({ name: '', language: 'en' }));
    expect(v.kind).toBe('refused');
    expect(v.serverMessage).toBe('name: String should have at least 1 character');
    handler = (_req, _body, res) => json(res, 400, { error: 'bad_range' });
    expect((await rejection(createApiClient(base).getAnalytics())).serverMessage).toBe('bad_range');
  });

  it('maps 403 to invalid code when a code was sent, refused otherwise', async () => {
    handler = (_req, _body, res) => json(res, 403, { message: 'nope' });
    const api = createApiClient(base);
    expect((await rejection(api.requestToken({ name: 'A', language: 'en', access_code: 'x' }))).kind).toBe(
      'access_code_invalid',
    );
    const refused = await rejection(api.requestToken({ name: 'A', language: 'en' }));
    expect(refused.kind).toBe('refused');
    expect(refused.serverMessage).toBe('nope');
  });

  it('maps 429/5xx and non-JSON bodies', async () => {
    handler = (_req, _body, res) => res.writeHead(429, { 'content-type': 'text/plain' }).end('slow down');
    const r429 = await rejection(createApiClient(base).requestToken({ name: 'A', language: 'en' }));
    expect(r429.kind).toBe('refused');
    expect(r429.serverMessage).toBeUndefined();
    handler = (_req, _body, res) => json(res, 502, { message: 'bad gateway' });
    expect((await rejection(createApiClient(base).requestToken({ name: 'A', language: 'en' }))).kind).toBe('server');
    handler = (_req, _body, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>');
    expect((await rejection(createApiClient(base).requestToken({ name: 'A', language: 'en' }))).kind).toBe(
      'bad_response',
    );
    handler = (_req, _body, res) => json(res, 200, { url: 'ws://x' });
    expect((await rejection(createApiClient(base).requestToken({ name: 'A', language: 'en' }))).kind).toBe(
      'bad_response',
    );
  });

  it('reports a closed port as unreachable', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const err = await rejection(createApiClient(`http://127.0.0.1:${port}`).requestToken({ name: 'A', language: 'en' }));
    expect(err.kind).toBe('unreachable');
  });
});

describe('a caller owns their call', () => {
  it('keeps the call key the first token returns', async () => {
    const key = 'k'.repeat(43);
    handler = (_req, _body, res) =>
      json(res, 200, { url: 'ws://x', token: 't', room: 'call-abc', identity: 'web-a-1', call_key: key });
    const grant = await createApiClient(base).requestToken({ name: 'A', language: 'en' });
    expect(grant.call_key).toBe(key);
  });

  it('reads the own transcript with the key in X-Call-Key, never in the URL nor as a bearer token', async () => {
    const key = 'Z'.repeat(43);
    handler = (_req, _body, res) =>
      json(res, 200, {
        session_id: 'call-abc',
        status: 'finished',
        ended_at: '2026-12-01T10:00:00Z',
        end_reason: 'caller idle',
        transcript: [
          { role: 'agent', text: 'Hi', ts: '2026-12-01T09:59:00Z' },
          { role: 'user', text: 'Hello', ts: '2026-12-01T09:59:02Z' },
          { role: 'nobody', text: 'dropped' },
        ],
      });
    const call = await createApiClient(base).getCallTranscript('call-abc', key);
    expect(call).toEqual({
      session_id: 'call-abc',
      status: 'finished',
      ended_at: '2026-12-01T10:00:00Z',
      end_reason: 'caller idle',
      transcript: [
        { role: 'agent', text: 'Hi', ts: '2026-12-01T09:59:00Z', interrupted: false, turn: null },
        { role: 'user', text: 'Hello', ts: '2026-12-01T09:59:02Z', interrupted: false, turn: null },
      ],
    });
    const last = seen.at(-1)!;
    expect(last.method).toBe('GET');
    expect(last.url).toBe('/calls/call-abc/transcript');
    expect(last.callKey).toBe(key);
    expect(last.authorization).toBeUndefined();
    expect(last.url).not.toContain(key);
  });

  it('maps a refused key to an error', async () => {
    handler = (_req, _body, res) => json(res, 403, { error: 'call_key_invalid', detail: 'this call key does not open this call' });
    const err = await rejection(createApiClient(base).getCallTranscript('call-abc', 'x'.repeat(43)));
    expect(err.kind).toBe('refused');
    expect(err.status).toBe(403);
  });
});

describe('analytics endpoints', () => {
  it('lists sessions with query parameters and cursor', async () => {
    handler = (_req, _body, res) =>
      json(res, 200, {
        items: [
          { session_id: 'call-1', room: 'call-1', language: 'en', started_at: '2026-11-25T10:00:00Z', ended_at: '2026-11-25T10:01:30Z', turns: 3 },
          { room: 'call-2' },
          { nothing: true },
        ],
        next_cursor: 'abc',
      });
    const page = await createApiClient(base).listSessions({ from: '2026-11-01', cursor: 'xyz' });
    expect(seen.at(-1)!.url).toBe('/sessions?from=2026-11-01&cursor=xyz');
    expect(page.next_cursor).toBe('abc');
    expect(page.items.map((s) => s.session_id)).toEqual(['call-1', 'call-2']);
    expect(page.items[0]!.duration_s).toBe(90);
    expect(page.items[1]!.turns).toBeNull();
  });

  it('fetches a session by encoded id and 404s cleanly', async () => {
    handler = (req, _body, res) =>
      req.url === '/sessions/call%2Fx' ? json(res, 200, { session_id: 'call/x', transcript: [], turns: [] }) : json(res, 404, { message: 'no such session' });
    const api = createApiClient(base);
    expect((await api.getSession('call/x')).session_id).toBe('call/x');
    const err = await rejection(api.getSession('missing'));
    expect(err.kind).toBe('not_found');
    expect(err.serverMessage).toBe('no such session');
  });

  it('passes the tag filters and reads summaries and tag counts', async () => {
    handler = (req, _body, res) =>
      req.url?.startsWith('/analytics')
        ? json(res, 200, { overall: {}, days: [], tags: { topic: { sleep: 2, none: 1, zero: 0 }, outcome: 'bad' } })
        : json(res, 200, {
            items: [
              {
                session_id: 'call-1',
                assistant_id: 'default',
                assistant_version: 2,
                summary: { summary: 'Asked about sleep.', topic: 'sleep', outcome: 'resolved', sentiment: 'neutral' },
              },
              { session_id: 'call-2', summary: { summary: 'x', topic: 'y', outcome: 'maybe', sentiment: 'neutral' } },
            ],
          });
    const api = createApiClient(base);
    const page = await api.listSessions({ assistant: 'default', topic: 'sleep', outcome: 'resolved', sentiment: undefined });
    expect(seen.at(-1)!.url).toBe('/sessions?assistant=default&topic=sleep&outcome=resolved');
    expect(page.items[0]).toMatchObject({ assistant_id: 'default', assistant_version: 2, summary: { topic: 'sleep' } });
    expect(page.items[1]!.summary).toBeNull(); // an outcome the API does not define
    const report = await api.getAnalytics({ sentiment: 'negative' });
    expect(seen.at(-1)!.url).toBe('/analytics?sentiment=negative');
    expect(report.tags.topic).toEqual([['sleep', 2], ['none', 1]]);
    expect(report.tags.outcome).toEqual([]);
    expect(report.tags.assistant).toEqual([]);
  });

  it('passes analytics filters', async () => {
    handler = (_req, _body, res) => json(res, 200, { totals: { sessions: 2 } });
    const report = await createApiClient(base).getAnalytics({ lang: 'zh', provider: '' });
    expect(seen.at(-1)!.url).toBe('/analytics?lang=zh');
    expect(report.totals).toEqual({ sessions: 2, turns: 0, interruptions: 0, errors: 0, avg_duration_s: null });
  });
});

describe('session export', () => {
  it('follows X-Next-Cursor and joins the pages, with the operator token on each', async () => {
    const pages: Record<string, { body: string; next?: string }> = {
      '': { body: 'session_id,text\r\na,你好\r\n', next: 'c1' },
      c1: { body: 'b,hello\r\n', next: 'c2' },
      c2: { body: 'c,\r\n' },
    };
    handler = (req, _body, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const page = pages[url.searchParams.get('cursor') ?? '']!;
      res.writeHead(200, { 'Content-Type': 'text/csv; charset=utf-8', ...(page.next ? { 'X-Next-Cursor': page.next } : {}) });
      res.end(page.body);
    };
    const counted: number[] = [];
    const api = createApiClient(base, fetch, { accessToken: () => 'operator-token' });
    const text = await api.exportSessions({ from: '2026-11-01', to: '2026-11-02', format: 'csv' }, (n) => counted.push(n));
    expect(text).toBe('session_id,text\r\na,你好\r\nb,hello\r\nc,\r\n');
    expect(counted).toEqual([1, 2, 3]);
    expect(seen.slice(-3).map((r) => r.url)).toEqual([
      '/export/sessions?from=2026-11-01&to=2026-11-02&format=csv',
      '/export/sessions?from=2026-11-01&to=2026-11-02&format=csv&cursor=c1',
      '/export/sessions?from=2026-11-01&to=2026-11-02&format=csv&cursor=c2',
    ]);
    expect(seen.slice(-3).every((r) => r.authorization === 'Bearer operator-token')).toBe(true);
  });

  it('reports a refused export as an operator error', async () => {
    handler = (_req, _body, res) => json(res, 403, { error: 'insufficient_scope', detail: 'needs sessions:read' });
    const err = await rejection(createApiClient(base).exportSessions({ format: 'jsonl' }));
    expect(err.kind).toBe('forbidden');
  });
});

describe('normalisers tolerate missing and odd fields', () => {
  it('session detail: turns array, ordering, roles', () => {
    const d = normalizeSessionDetail({
      session_id: 'call-9',
      started_at: '2026-11-25T10:00:00Z',
      transcript: [
        { role: 'agent', text: 'Hi!', ts: '2026-11-25T10:00:02Z' },
        { role: 'user', text: 'Hello', ts: '2026-11-25T10:00:01Z' },
        { role: 'system', text: 'ignored', ts: '2026-11-25T10:00:00Z' },
        { role: 'assistant', text: 'Bye', ts: '2026-11-25T10:00:03Z', interrupted: true },
      ],
      turns: [
        { turn: 2, voice_to_voice: 1.2, llm_ttft: '0.4' },
        { turn: 1, voice_to_voice: 0.93, stt_duration: null },
        { voice_to_voice: 1 },
      ],
    });
    expect(d.transcript.map((t) => [t.role, t.text])).toEqual([
      ['user', 'Hello'],
      ['agent', 'Hi!'],
      ['agent', 'Bye'],
    ]);
    expect(d.transcript[2]!.interrupted).toBe(true);
    expect(d.turn_metrics.map((t) => t.turn)).toEqual([1, 2]);
    expect(d.turn_metrics[1]!.llm_ttft).toBe(0.4);
    expect(d.turn_metrics[0]!.stt_duration).toBeNull();
    expect(d.turns).toBe(2);
  });

  it('analytics: unknown stages dropped, days sorted', () => {
    const r = normalizeAnalytics({
      stages: { voice_to_voice: { p50: 0.9, p95: 1.4 }, bogus: { p50: 1 }, llm_ttft: 'x' },
      per_day: [{ date: '2026-11-25', sessions: 3 }, { date: '2026-11-24', sessions: '1' }, { sessions: 1 }],
    });
    expect(Object.keys(r.stages)).toEqual(['voice_to_voice']);
    expect(r.stages.voice_to_voice).toEqual({ p50: 0.9, p95: 1.4, count: null });
    expect(r.per_day.map((d) => [d.date, d.sessions])).toEqual([
      ['2026-11-24', 1],
      ['2026-11-25', 3],
    ]);
  });

  it('analytics: the API shape (overall + days with stages)', () => {
    const r = normalizeAnalytics({
      from_day: '2026-11-19',
      to_day: '2026-11-25',
      overall: {
        sessions: 4, finished_sessions: 2, duration_s_total: 300, turns: 9, interruptions: 1, errors: 0,
        stages: { voice_to_voice: { count: 9, p50: 1.1, p95: 1.9, mean: 1.2 }, stt_duration: { count: 0 } },
      },
      days: [
        { day: '2026-11-25', sessions: 3, turns: 7, stages: { voice_to_voice: { count: 7, p50: 1.0, p95: 1.8 } } },
        { day: '2026-11-24', sessions: 1, turns: 2, stages: {} },
      ],
    });
    expect(r.totals).toEqual({ sessions: 4, turns: 9, interruptions: 1, errors: 0, avg_duration_s: 150 });
    expect(Object.keys(r.stages)).toEqual(['voice_to_voice']);
    expect(r.stages.voice_to_voice!.count).toBe(9);
    expect(r.per_day.map((d) => [d.date, d.sessions, d.voice_to_voice_p50])).toEqual([
      ['2026-11-24', 1, null],
      ['2026-11-25', 3, 1.0],
    ]);
  });

  it('session summary from the API: status, created_at fallback, participants; detail errors', () => {
    const page = normalizeSessionPage({
      items: [{ session_id: 'call-1', status: 'created', created_at: '2026-11-25T10:00:00Z', participants: ['web-a', 3] }],
    });
    expect(page.items[0]).toMatchObject({ status: 'created', started_at: '2026-11-25T10:00:00Z', participants: ['web-a'], turns: null });
    const d = normalizeSessionDetail({
      session_id: 'call-1', status: 'finished', errors: [{ ts: '2026-11-25T10:00:00Z', stage: 'llm', message: 'timeout' }, {}],
    });
    expect(d.errors).toBe(1);
    expect(d.error_events).toEqual([{ ts: '2026-11-25T10:00:00Z', stage: 'llm', message: 'timeout' }]);
  });

  it('rejects non-objects', () => {
    expect(() => normalizeSessionPage([])).toThrow(ApiError);
    expect(() => normalizeAnalytics(null)).toThrow(ApiError);
    expect(normalizeSessionPage({}).items).toEqual([]);
  });
});

describe('operator routes', () => {
  it('send the access token as a bearer token to sessions and analytics only', async () => {
    handler = (req, _body, res) =>
      req.url?.startsWith('/token')
        ? json(res, 200, { url: 'ws://x', token: 't' })
        : req.url?.startsWith('/analytics')
          ? json(res, 200, { overall: {}, days: [] })
          : json(res, 200, { items: [], next_cursor: null, session_id: 's', transcript: [], turns: [] });
    const api = createApiClient(base, fetch, { accessToken: () => 'operator-token' });
    await api.listSessions();
    expect(seen.at(-1)!.authorization).toBe('Bearer operator-token');
    await api.getSession('s');
    expect(seen.at(-1)!.authorization).toBe('Bearer operator-token');
    await api.getAnalytics();
    expect(seen.at(-1)!.authorization).toBe('Bearer operator-token');
    await api.requestToken({ name: 'Ann', language: 'en' });
    expect(seen.at(-1)!.url).toBe('/token');
    expect(seen.at(-1)!.authorization).toBeUndefined();
  });

  it('send no Authorization header when nobody is signed in', async () => {
    handler = (_req, _body, res) => json(res, 401, { error: 'unauthorized', detail: 'sign in' });
    const err = await rejection(createApiClient(base, fetch, { accessToken: () => null }).listSessions());
    expect(seen.at(-1)!.authorization).toBeUndefined();
    expect(err.kind).toBe('signed_out');
  });

  it('map 401 to signed_out (and report it) and 403 to forbidden', async () => {
    let refused = 0;
    const api = createApiClient(base, fetch, { accessToken: () => 'stale', refused: () => (refused += 1) });
    handler = (_req, _body, res) => json(res, 401, { error: 'invalid_token', detail: 'the token has expired' });
    const expired = await rejection(api.getAnalytics());
    expect([expired.kind, expired.status, expired.serverMessage]).toEqual(['signed_out', 401, 'the token has expired']);
    expect(refused).toBe(1);
    handler = (_req, _body, res) => json(res, 403, { error: 'insufficient_scope', detail: 'needs analytics:read' });
    const forbidden = await rejection(api.getAnalytics());
    expect([forbidden.kind, forbidden.status]).toEqual(['forbidden', 403]);
    expect(refused).toBe(1);
  });
});

describe('assistants', () => {
  const stored = {
    assistant_id: 'asst-0123456789ab',
    version: 3,
    name: 'Support',
    archived: false,
    created_at: '2026-12-01T10:00:00Z',
    updated_at: '2026-12-02T10:00:00Z',
    instructions: { en: 'You help.', fr: 'ignored' },
    greeting: { en: 'Hello.' },
    languages: ['en', 'fr'],
    language_mode: 'fixed',
    voices: {},
    llm_model: null,
    temperature: 0.4,
    idle_timeout_s: null,
    max_call_s: 600,
    recording: true,
  };
  const api = () => createApiClient(base, fetch, { accessToken: () => 'op' });

  it('creates with an idempotency key and sends only the editable fields of the offered languages', async () => {
    let headers: IncomingMessage['headers'] = {};
    handler = (req, _body, res) => {
      headers = req.headers;
      json(res, 201, stored);
    };
    const a = await api().createAssistant(
      { ...stored, languages: ['en'], greeting: { en: 'Hello.', zh: '你好' }, voices: { en: '' } } as never,
      'key-12345678',
    );
    const sent = seen.at(-1)!;
    expect([sent.method, sent.url, sent.authorization, headers['idempotency-key']]).toEqual([
      'POST',
      '/assistants',
      'Bearer op',
      'key-12345678',
    ]);
    expect(JSON.parse(sent.body)).toEqual({
      name: 'Support',
      instructions: { en: 'You help.' },
      greeting: { en: 'Hello.' },
      languages: ['en'],
      language_mode: 'fixed',
      voices: {},
      llm_model: null,
      temperature: 0.4,
      idle_timeout_s: null,
      max_call_s: 600,
      recording: true,
    });
    expect(a.languages).toEqual(['en']); // 'fr' is not a language this app knows
    expect(a.instructions).toEqual({ en: 'You help.' });
  });

  it('updates from a base version, and a stale one is a 409 with the server message', async () => {
    handler = (_req, _body, res) => json(res, 409, { error: 'version_conflict', detail: 'latest is 4' });
    const err = await rejection(api().updateAssistant('asst-0123456789ab', stored as never, 3));
    expect([err.kind, err.status, err.serverMessage]).toEqual(['refused', 409, 'latest is 4']);
    const sent = seen.at(-1)!;
    expect([sent.method, sent.url, JSON.parse(sent.body).base_version]).toEqual(['PUT', '/assistants/asst-0123456789ab', 3]);
  });

  it('fetches a voice preview as a WAV blob, and refuses an answer that is not base64', async () => {
    handler = (_req, _body, res) => json(res, 200, { audio: Buffer.from('RIFF-audio').toString('base64'), format: 'wav' });
    const blob = await api().previewVoice('Hello.', 'en', 'alloy');
    expect([blob.type, await blob.text()]).toEqual(['audio/wav', 'RIFF-audio']);
    const sent = seen.at(-1)!;
    expect([sent.method, sent.url, sent.authorization]).toEqual(['POST', '/voice-preview', 'Bearer op']);
    expect(JSON.parse(sent.body)).toEqual({ text: 'Hello.', language: 'en', voice: 'alloy' });
    await api().previewVoice('你好', 'zh');
    expect(JSON.parse(seen.at(-1)!.body)).toEqual({ text: '你好', language: 'zh' });
    handler = (_req, _body, res) => json(res, 200, { audio: '%%%not base64' });
    await expect(api().previewVoice('Hello.', 'en')).rejects.toMatchObject({ kind: 'bad_response' });
    handler = (_req, _body, res) => json(res, 404, { error: 'voice_preview_off', detail: 'voice preview is not configured' });
    await expect(api().previewVoice('Hello.', 'en')).rejects.toMatchObject({ status: 404, serverMessage: 'voice preview is not configured' });
  });

  it('lists, reads versions, archives and restores', async () => {
    handler = (req, _body, res) => {
      if (req.url === '/assistants?include_archived=true') return json(res, 200, { assistants: [stored, { bad: 1 }] });
      if (req.url?.endsWith('/versions')) return json(res, 200, { versions: [{ version: 2, name: 'S', updated_at: 'x' }, { version: 'x' }] });
      return json(res, 200, { ...stored, archived: req.method === 'DELETE' });
    };
    expect((await api().listAssistants(true)).map((a) => a.assistant_id)).toEqual(['asst-0123456789ab']);
    expect(await api().listAssistantVersions('default')).toEqual([{ version: 2, name: 'S', updated_at: 'x' }]);
    expect((await api().archiveAssistant('asst-0123456789ab')).archived).toBe(true);
    expect(seen.at(-1)!.method).toBe('DELETE');
    expect((await api().restoreAssistant('asst-0123456789ab')).archived).toBe(false);
    expect([seen.at(-1)!.method, seen.at(-1)!.url]).toEqual(['POST', '/assistants/asst-0123456789ab/restore']);
    await api().getAssistant('asst-0123456789ab', 2);
    expect(seen.at(-1)!.url).toBe('/assistants/asst-0123456789ab/versions/2');
  });
});
