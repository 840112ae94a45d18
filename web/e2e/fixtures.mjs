// Plausible analytics data for UI screenshots against the stand-in API.
const day = (offset) => new Date(Date.UTC(2026, 10, 25 - offset)).toISOString().slice(0, 10);

// Shapes as functions/models/api.py defines them (SessionSummary, AnalyticsReport).
export const sessions = Array.from({ length: 12 }, (_, i) => {
  const started = new Date(Date.UTC(2026, 10, 25, 16 - i, 5 * i));
  return {
    session_id: `call-${(0xa1b2c3d4e5f0 + i).toString(16)}`,
    status: i === 0 ? 'active' : 'finished',
    created_at: new Date(started.getTime() - 2000).toISOString(),
    started_at: started.toISOString(),
    ended_at: i === 0 ? null : new Date(started.getTime() + (60 + 17 * i) * 1000).toISOString(),
    duration_s: i === 0 ? null : 60 + 17 * i,
    end_reason: i === 0 ? null : 'participant_left',
    language: i % 3 === 0 ? 'zh' : 'en',
    persona: 'default',
    providers: { stt: 'local', llm: 'openai', tts: 'local' },
    participants: [`web-caller-${i}`, 'agent-voicecall'],
  };
});

const stage = (p50, p95, count = 311) => ({ count, p50, p95, mean: (p50 + p95) / 2 });
export const analytics = {
  from_day: day(6),
  to_day: day(0),
  lang: null,
  provider: null,
  overall: {
    sessions: 42, finished_sessions: 40, duration_s_total: 5740, duration_s_p50: 131, duration_s_p95: 320,
    turns: 311, interruptions: 17, errors: 2,
    stages: {
      end_of_utterance_delay: stage(0.42, 0.81),
      transcription_delay: stage(0.05, 0.12),
      stt_duration: stage(0.21, 0.48),
      llm_ttft: stage(0.35, 0.92),
      tts_ttfb: stage(0.18, 0.33),
      voice_to_voice: stage(1.12, 1.98),
    },
  },
  days: Array.from({ length: 7 }, (_, i) => ({
    day: day(6 - i),
    sessions: [3, 5, 4, 8, 6, 9, 7][i],
    turns: [20, 38, 30, 61, 44, 70, 48][i],
    stages: { voice_to_voice: stage(1.1, 1.9, 10) },
  })),
};

export function sessionDetail(id) {
  const base = sessions.find((s) => s.session_id === id) ?? { ...sessions[0], session_id: id, room: id };
  const t0 = Date.parse(base.started_at);
  const at = (s) => new Date(t0 + s * 1000).toISOString();
  return {
    ...base,
    transcript: [
      { role: 'agent', text: 'Hello! How can I help you today?', ts: at(1) },
      { role: 'user', text: 'What is the weather like in Beijing?', ts: at(5) },
      { role: 'agent', text: "I can't check live weather, but Beijing in late November is usually cold and dry.", ts: at(7) },
      { role: 'user', text: 'Thanks, that helps.', ts: at(14) },
      { role: 'agent', text: "You're welcome! Anything else?", ts: at(15), interrupted: true },
    ],
    errors: [{ event_id: 'e-0001-err', ts: at(9), stage: 'tts', message: 'TTS provider timed out; retried', recoverable: true }],
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
