// Plausible analytics data for UI screenshots against the stand-in API.
const day = (offset) => new Date(Date.UTC(2026, 10, 25 - offset)).toISOString().slice(0, 10);

export const sessions = Array.from({ length: 12 }, (_, i) => ({
  session_id: `call-${(0xa1b2c3d4e5f0 + i).toString(16)}`,
  room: `call-${(0xa1b2c3d4e5f0 + i).toString(16)}`,
  language: i % 3 === 0 ? 'zh' : 'en',
  started_at: new Date(Date.UTC(2026, 10, 25, 16 - i, 5 * i)).toISOString(),
  ended_at: new Date(Date.UTC(2026, 10, 25, 16 - i, 5 * i + 2, 30)).toISOString(),
  turns: 3 + (i % 5),
}));

export const analytics = {
  totals: { sessions: 42, turns: 311, interruptions: 17, errors: 2, avg_duration_s: 143.5 },
  stages: {
    end_of_utterance_delay: { p50: 0.42, p95: 0.81 },
    stt_duration: { p50: 0.21, p95: 0.48 },
    llm_ttft: { p50: 0.35, p95: 0.92 },
    tts_ttfb: { p50: 0.18, p95: 0.33 },
    voice_to_voice: { p50: 1.12, p95: 1.98 },
  },
  per_day: Array.from({ length: 7 }, (_, i) => ({
    date: day(6 - i),
    sessions: [3, 5, 4, 8, 6, 9, 7][i],
    turns: [20, 38, 30, 61, 44, 70, 48][i],
    voice_to_voice_p50: 1.1,
  })),
};

export function sessionDetail(id) {
  const base = sessions.find((s) => s.session_id === id) ?? { ...sessions[0], session_id: id, room: id };
  const t0 = Date.parse(base.started_at);
  const at = (s) => new Date(t0 + s * 1000).toISOString();
  return {
    ...base,
    providers: { stt: 'local', llm: 'openai', tts: 'local' },
    transcript: [
      { role: 'agent', text: 'Hello! How can I help you today?', ts: at(1) },
      { role: 'user', text: 'What is the weather like in Beijing?', ts: at(5) },
      { role: 'agent', text: "I can't check live weather, but Beijing in late November is usually cold and dry.", ts: at(7) },
      { role: 'user', text: 'Thanks, that helps.', ts: at(14) },
      { role: 'agent', text: "You're welcome! Anything else?", ts: at(15), interrupted: true },
    ],
    turns: [
      { turn: 1, end_of_utterance_delay: 0.41, stt_duration: 0.2, llm_ttft: 0.33, tts_ttfb: 0.17, voice_to_voice: 1.05 },
      { turn: 2, end_of_utterance_delay: 0.52, stt_duration: 0.25, llm_ttft: 0.41, tts_ttfb: 0.19, voice_to_voice: 1.31, interrupted: true },
    ],
  };
}

export function mockRoutes({ token } = {}) {
  return {
    'POST /token': token ?? (() => [403, { message: 'calls are disabled on this server' }]),
    'GET /sessions': (_req, _body, url) => {
      const start = Number(url.searchParams.get('cursor') ?? 0);
      const items = sessions.slice(start, start + 10);
      return [200, { items, next_cursor: start + 10 < sessions.length ? String(start + 10) : null }];
    },
    'GET /sessions/*': (_req, _body, url) => [200, sessionDetail(decodeURIComponent(url.pathname.split('/').pop()))],
    'GET /analytics': () => [200, analytics],
  };
}
