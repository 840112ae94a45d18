// Typed client for the functions API. All response shapes are normalised here, tolerant of missing
// or extra fields, so a change on the server side is absorbed in one place.

export type Language = 'zh' | 'en';

export type ApiErrorKind =
  | 'unreachable' // network failure, CORS, timeout: no HTTP answer at all
  | 'access_code_required' // 401
  | 'access_code_invalid' // 403 after we sent a code
  | 'refused' // other 4xx (incl. 403 without a code)
  | 'not_found'
  | 'signed_out' // 401 on an operator route: no, expired or refused sign-in
  | 'forbidden' // 403 on an operator route: signed in without the scope it needs
  | 'server' // 5xx
  | 'bad_response'; // answered, but not the JSON we expect

export class ApiError extends Error {
  readonly kind: ApiErrorKind;
  readonly status: number | undefined;
  /** The server's own message (4xx JSON body), if any. */
  readonly serverMessage: string | undefined;

  constructor(kind: ApiErrorKind, status?: number, serverMessage?: string) {
    super(serverMessage ?? kind);
    this.name = 'ApiError';
    this.kind = kind;
    this.status = status;
    this.serverMessage = serverMessage;
  }
}

export interface TokenRequest {
  name: string;
  language: Language;
  access_code?: string;
  /** `default` or `asst-<12 hex>`; none = the default assistant. */
  assistant_id?: string;
}

export interface TokenResponse {
  url: string;
  token: string;
  room: string;
  identity: string;
  /** The caller's proof of owning this call (first token of a call only): keep it in memory, never in a URL. */
  call_key?: string;
  /** The assistant records its calls: the caller must be told. */
  recording: boolean;
}

/** What a caller may read back about their own call with its call key (GET /calls/{id}/transcript). */
export interface CallTranscript {
  session_id: string;
  status: string | null;
  ended_at: string | null;
  end_reason: string | null;
  transcript: TranscriptEntry[];
}

export interface SessionSummary {
  session_id: string;
  room: string;
  /** 'created' (token issued), 'active' or 'finished' */
  status: string | null;
  language: string | null;
  /** when the call started, or when its token was issued if it never started */
  started_at: string | null;
  ended_at: string | null;
  turns: number | null;
  duration_s: number | null;
  interruptions: number | null;
  errors: number | null;
  providers: Record<string, string>;
  participants: string[];
  end_reason: string | null;
  assistant_id: string | null;
  assistant_version: number | null;
  /** What the worker ran: `<id>@<version>`, or `built-in` when it could not fetch that version. */
  assistant_ran: string | null;
  /** Written by the LLM after the call (none while it runs, or when summaries are off). */
  summary: CallSummary | null;
  /** The call's recording, once uploaded (GET /sessions/{id}/recording gives a link to it). */
  recording: RecordingInfo | null;
}

export interface RecordingInfo {
  /** When its first sample was captured: a transcript line's offset is its ts minus this. */
  started_at: string;
  duration_s: number;
  bytes: number;
}

export interface RecordingLink extends RecordingInfo {
  /** Short-lived (presigned): fetch it when the player is shown. */
  url: string;
}

export const OUTCOMES = ['resolved', 'referred', 'unresolved', 'abandoned'] as const;
export const SENTIMENTS = ['positive', 'neutral', 'negative'] as const;
export type Outcome = (typeof OUTCOMES)[number];
export type Sentiment = (typeof SENTIMENTS)[number];

export interface CallSummary {
  summary: string;
  topic: string;
  outcome: Outcome;
  sentiment: Sentiment;
}

/** Filters of GET /sessions and GET /analytics (besides the date range). */
export interface SessionFilter {
  lang?: string;
  assistant?: string;
  topic?: string;
  outcome?: Outcome;
  sentiment?: Sentiment;
}

export interface SessionPage {
  items: SessionSummary[];
  next_cursor: string | null;
}

export interface TranscriptEntry {
  role: 'user' | 'agent';
  text: string;
  ts: string | null;
  interrupted: boolean;
  turn: number | null;
}

export const LATENCY_STAGES = [
  'end_of_utterance_delay',
  'transcription_delay',
  'stt_duration',
  'llm_ttft',
  'tts_ttfb',
  'voice_to_voice',
] as const;
export type LatencyStage = (typeof LATENCY_STAGES)[number];

export type TurnLatency = { turn: number; interrupted: boolean } & Record<LatencyStage, number | null>;

export interface SessionErrorEntry {
  ts: string | null;
  stage: string;
  message: string;
}

export interface SessionDetail extends SessionSummary {
  transcript: TranscriptEntry[];
  turn_metrics: TurnLatency[];
  error_events: SessionErrorEntry[];
}

export interface StagePercentiles {
  p50: number | null;
  p95: number | null;
  count: number | null;
}

export interface DayStats {
  date: string;
  sessions: number;
  turns: number;
  voice_to_voice_p50: number | null;
  voice_to_voice_p95: number | null;
}

export interface AnalyticsReport {
  totals: {
    sessions: number;
    turns: number;
    interruptions: number;
    errors: number;
    avg_duration_s: number | null;
  };
  stages: Partial<Record<LatencyStage, StagePercentiles>>;
  per_day: DayStats[];
  /** Sessions per assistant and per summary tag, most frequent first ('none': not summarised). */
  tags: Record<TagKind, [string, number][]>;
}

export const TAG_KINDS = ['assistant', 'topic', 'outcome', 'sentiment'] as const;
export type TagKind = (typeof TAG_KINDS)[number];

export interface AnalyticsQuery extends SessionFilter {
  from?: string;
  to?: string;
  provider?: string;
}

// ---------- assistants ----------

export const ASSISTANT_ID = /^(default|asst-[0-9a-f]{12})$/;
export type LanguageMode = 'fixed' | 'bilingual';

/** What an operator edits (the body of POST /assistants). */
export interface AssistantSpec {
  name: string;
  instructions: Partial<Record<Language, string>>;
  greeting: Partial<Record<Language, string>>;
  languages: Language[];
  language_mode: LanguageMode;
  voices: Partial<Record<Language, string>>;
  llm_model: string | null;
  temperature: number | null;
  idle_timeout_s: number | null;
  max_call_s: number | null;
  recording: boolean;
}

export interface Assistant extends AssistantSpec {
  assistant_id: string;
  version: number;
  archived: boolean;
  created_at: string | null;
  updated_at: string | null;
}

export interface AssistantVersionSummary {
  version: number;
  updated_at: string | null;
  name: string;
}

// ---------- small coercion helpers ----------

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

function num(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function strRecord(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObj(v)) for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

// ---------- normalisers (exported for tests) ----------

export function normalizeToken(body: unknown): TokenResponse {
  if (!isObj(body)) throw new ApiError('bad_response');
  const url = str(body.url);
  const token = str(body.token);
  if (!url || !token) throw new ApiError('bad_response');
  const callKey = str(body.call_key);
  return {
    url,
    token,
    room: str(body.room) ?? '',
    identity: str(body.identity) ?? '',
    ...(callKey ? { call_key: callKey } : {}),
    recording: body.recording === true,
  };
}

export function normalizeCallTranscript(body: unknown): CallTranscript {
  if (!isObj(body)) throw new ApiError('bad_response');
  const id = str(body.session_id);
  if (!id) throw new ApiError('bad_response');
  return {
    session_id: id,
    status: str(body.status),
    ended_at: str(body.ended_at),
    end_reason: str(body.end_reason),
    transcript: arr(body.transcript)
      .map(normalizeTranscriptEntry)
      .filter((t): t is TranscriptEntry => t !== null),
  };
}

export function normalizeSessionSummary(v: unknown): SessionSummary | null {
  if (!isObj(v)) return null;
  const id = str(v.session_id) ?? str(v.room) ?? str(v.id);
  if (!id) return null;
  const turnsField = Array.isArray(v.turns) ? v.turns.length : num(v.turns);
  return {
    session_id: id,
    room: str(v.room) ?? id,
    status: str(v.status) ?? (str(v.ended_at) ? 'finished' : null),
    language: str(v.language),
    started_at: str(v.started_at) ?? str(v.created_at),
    ended_at: str(v.ended_at),
    turns: turnsField ?? num(v.turn_count),
    duration_s: num(v.duration_s) ?? durationFrom(str(v.started_at), str(v.ended_at)),
    interruptions: num(v.interruptions),
    errors: num(v.errors),
    providers: strRecord(v.providers),
    participants: arr(v.participants).filter((p): p is string => typeof p === 'string'),
    end_reason: str(v.end_reason),
    assistant_id: str(v.assistant_id),
    assistant_version: num(v.assistant_version),
    assistant_ran: str(v.assistant_ran),
    summary: normalizeCallSummary(v.summary),
    recording: normalizeRecording(v.recording),
  };
}

function normalizeRecording(v: unknown): RecordingInfo | null {
  if (!isObj(v)) return null;
  const started = str(v.started_at);
  const duration = num(v.duration_s);
  if (!started || duration === null || !Number.isFinite(Date.parse(started))) return null;
  return { started_at: started, duration_s: duration, bytes: num(v.bytes) ?? 0 };
}

function oneOf<T extends string>(values: readonly T[], v: unknown): T | null {
  return values.find((x) => x === v) ?? null;
}

export function normalizeCallSummary(v: unknown): CallSummary | null {
  if (!isObj(v)) return null;
  const summary = str(v.summary);
  const topic = str(v.topic);
  const outcome = oneOf(OUTCOMES, v.outcome);
  const sentiment = oneOf(SENTIMENTS, v.sentiment);
  return summary && topic && outcome && sentiment ? { summary, topic, outcome, sentiment } : null;
}

function languageRecord(v: unknown): Partial<Record<Language, string>> {
  const all = strRecord(v);
  const out: Partial<Record<Language, string>> = {};
  for (const l of ['zh', 'en'] as const) if (all[l]) out[l] = all[l];
  return out;
}

export function normalizeAssistant(v: unknown): Assistant {
  if (!isObj(v)) throw new ApiError('bad_response');
  const id = str(v.assistant_id);
  const version = num(v.version);
  const name = str(v.name);
  if (!id || version === null || !name) throw new ApiError('bad_response');
  return {
    assistant_id: id,
    version,
    name,
    archived: v.archived === true,
    created_at: str(v.created_at),
    updated_at: str(v.updated_at),
    instructions: languageRecord(v.instructions),
    greeting: languageRecord(v.greeting),
    languages: arr(v.languages).filter((l): l is Language => l === 'zh' || l === 'en'),
    language_mode: v.language_mode === 'fixed' ? 'fixed' : 'bilingual',
    voices: languageRecord(v.voices),
    llm_model: str(v.llm_model),
    temperature: num(v.temperature),
    idle_timeout_s: num(v.idle_timeout_s),
    max_call_s: num(v.max_call_s),
    recording: v.recording === true,
  };
}

/** The editable part of an assistant, as POST /assistants and PUT take it. */
export function specOf(a: AssistantSpec): AssistantSpec {
  const pick = <T>(rec: Partial<Record<Language, T>>) => {
    const out: Partial<Record<Language, T>> = {};
    for (const l of a.languages) if (rec[l] !== undefined && rec[l] !== '') out[l] = rec[l];
    return out;
  };
  return {
    name: a.name,
    instructions: pick(a.instructions),
    greeting: pick(a.greeting),
    languages: a.languages,
    language_mode: a.language_mode,
    voices: pick(a.voices),
    llm_model: a.llm_model,
    temperature: a.temperature,
    idle_timeout_s: a.idle_timeout_s,
    max_call_s: a.max_call_s,
    recording: a.recording,
  };
}

function durationFrom(start: string | null, end: string | null): number | null {
  if (!start || !end) return null;
  const d = (Date.parse(end) - Date.parse(start)) / 1000;
  return Number.isFinite(d) && d >= 0 ? d : null;
}

export function normalizeSessionPage(body: unknown): SessionPage {
  if (!isObj(body)) throw new ApiError('bad_response');
  const raw = Array.isArray(body.items) ? body.items : arr(body.sessions);
  return {
    items: raw.map(normalizeSessionSummary).filter((s): s is SessionSummary => s !== null),
    next_cursor: str(body.next_cursor) ?? str(body.cursor),
  };
}

export function normalizeTurnLatency(v: unknown): TurnLatency | null {
  if (!isObj(v)) return null;
  const turn = num(v.turn);
  if (turn === null) return null;
  const out = { turn, interrupted: v.interrupted === true } as TurnLatency;
  for (const stage of LATENCY_STAGES) out[stage] = num(v[stage]);
  return out;
}

function normalizeTranscriptEntry(v: unknown): TranscriptEntry | null {
  if (!isObj(v)) return null;
  const text = typeof v.text === 'string' ? v.text : null;
  if (text === null) return null;
  const role = v.role === 'user' || v.role === 'agent' ? v.role : v.role === 'assistant' ? 'agent' : null;
  if (!role) return null;
  return { role, text, ts: str(v.ts), interrupted: v.interrupted === true, turn: num(v.turn) };
}

export function normalizeSessionDetail(body: unknown): SessionDetail {
  const summary = normalizeSessionSummary(isObj(body) && isObj(body.session) ? { ...body, ...body.session } : body);
  if (!summary || !isObj(body)) throw new ApiError('bad_response');
  const turnSource = Array.isArray(body.turns) ? body.turns : arr(body.turn_metrics);
  const turn_metrics = turnSource
    .map(normalizeTurnLatency)
    .filter((t): t is TurnLatency => t !== null)
    .sort((a, b) => a.turn - b.turn);
  const transcript = arr(body.transcript)
    .map(normalizeTranscriptEntry)
    .filter((t): t is TranscriptEntry => t !== null);
  // Stable sort by timestamp when every entry has one; otherwise keep server order.
  if (transcript.every((t) => t.ts && Number.isFinite(Date.parse(t.ts)))) {
    transcript.sort((a, b) => Date.parse(a.ts!) - Date.parse(b.ts!));
  }
  const error_events = arr(body.errors)
    .filter(isObj)
    .map((e) => ({ ts: str(e.ts), stage: str(e.stage) ?? '', message: str(e.message) ?? '' }))
    .filter((e) => e.message !== '');
  return {
    ...summary,
    errors: Array.isArray(body.errors) ? error_events.length : summary.errors,
    error_events,
    // In a detail, `turns` is the per-turn list; count the valid entries rather than raw items.
    turns: Array.isArray(body.turns) ? turn_metrics.length : (summary.turns ?? (turn_metrics.length || null)),
    transcript,
    turn_metrics,
  };
}

function normalizePercentiles(v: unknown): StagePercentiles | null {
  if (!isObj(v)) return null;
  return { p50: num(v.p50), p95: num(v.p95), count: num(v.count) };
}

function normalizeStages(v: unknown): AnalyticsReport['stages'] {
  const stages: AnalyticsReport['stages'] = {};
  if (isObj(v)) {
    for (const stage of LATENCY_STAGES) {
      const p = normalizePercentiles(v[stage]);
      if (p && (p.p50 !== null || p.p95 !== null)) stages[stage] = p;
    }
  }
  return stages;
}

/**
 * Accepts the API's shape ({overall: PeriodStats, days: [DayStats{day, stages}]}) and the flatter
 * {totals, stages, per_day} one.
 */
export function normalizeAnalytics(body: unknown): AnalyticsReport {
  if (!isObj(body)) throw new ApiError('bad_response');
  const t = isObj(body.totals) ? body.totals : isObj(body.overall) ? body.overall : {};
  const finished = num(t.finished_sessions);
  const total = num(t.duration_s_total);
  const avg = num(t.avg_duration_s) ?? (total !== null && finished ? total / finished : null);
  const days = Array.isArray(body.per_day) ? body.per_day : arr(body.days);
  const per_day = days
    .filter(isObj)
    .map((d) => {
      const v2v = isObj(d.stages) && isObj(d.stages.voice_to_voice) ? d.stages.voice_to_voice : {};
      return {
        date: str(d.date) ?? str(d.day) ?? '',
        sessions: num(d.sessions) ?? 0,
        turns: num(d.turns) ?? 0,
        voice_to_voice_p50: num(d.voice_to_voice_p50) ?? num(v2v.p50),
        voice_to_voice_p95: num(d.voice_to_voice_p95) ?? num(v2v.p95),
      };
    })
    .filter((d) => d.date !== '')
    .sort((a, b) => a.date.localeCompare(b.date));
  return {
    totals: {
      sessions: num(t.sessions) ?? 0,
      turns: num(t.turns) ?? 0,
      interruptions: num(t.interruptions) ?? 0,
      errors: num(t.errors) ?? 0,
      avg_duration_s: avg,
    },
    stages: normalizeStages(isObj(body.stages) ? body.stages : t.stages),
    per_day,
    tags: normalizeTags(body.tags),
  };
}

function normalizeTags(v: unknown): AnalyticsReport['tags'] {
  const tags = {} as AnalyticsReport['tags'];
  for (const kind of TAG_KINDS) {
    const counts = isObj(v) && isObj(v[kind]) ? v[kind] : {};
    tags[kind] = Object.entries(counts)
      .map(([tag, n]): [string, number] => [tag, num(n) ?? 0])
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1]);
  }
  return tags;
}

// ---------- transport ----------

const REQUEST_TIMEOUT_MS = 10_000;
// An export page reads up to 100 transcripts: API Gateway's own limit (30 s), not a quick request's.
const EXPORT_PAGE_TIMEOUT_MS = 30_000;

function detailText(detail: unknown): string | null {
  if (typeof detail === 'string') return str(detail);
  const first = Array.isArray(detail) ? detail[0] : null;
  if (isObj(first) && typeof first.msg === 'string') {
    const loc = Array.isArray(first.loc) ? first.loc[first.loc.length - 1] : undefined;
    return loc !== undefined && loc !== 'body' ? `${String(loc)}: ${first.msg}` : first.msg;
  }
  return null;
}

async function messageOf(res: Response): Promise<string | undefined> {
  try {
    const body: unknown = await res.json();
    if (isObj(body)) {
      // Our API answers {error: code, detail: text | validation list}; others use {message}.
      return str(body.message) ?? detailText(body.detail) ?? str(body.error) ?? undefined;
    }
  } catch {
    // Not JSON: no server message to show.
  }
  return undefined;
}

export async function errorFromResponse(res: Response, sentAccessCode = false): Promise<ApiError> {
  const message = await messageOf(res);
  // The token route answers 401 both for a missing and for a wrong code: what we sent tells them apart.
  if (res.status === 401) {
    return new ApiError(sentAccessCode ? 'access_code_invalid' : 'access_code_required', 401, message);
  }
  if (res.status === 403) return new ApiError(sentAccessCode ? 'access_code_invalid' : 'refused', 403, message);
  if (res.status === 404) return new ApiError('not_found', 404, message);
  if (res.status >= 500) return new ApiError('server', res.status, message);
  return new ApiError('refused', res.status, message);
}

/** Operator routes: 401 = the token is missing, expired or refused; 403 = a scope is missing. */
export async function operatorErrorFromResponse(res: Response): Promise<ApiError> {
  if (res.status === 401) return new ApiError('signed_out', 401, await messageOf(res));
  if (res.status === 403) return new ApiError('forbidden', 403, await messageOf(res));
  return errorFromResponse(res);
}

async function send(
  fetchImpl: typeof fetch,
  url: string,
  init: RequestInit,
  toError: (res: Response) => Promise<ApiError>,
  timeoutMs = REQUEST_TIMEOUT_MS,
): Promise<Response> {
  let res: Response;
  try {
    res = await fetchImpl(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch {
    throw new ApiError('unreachable');
  }
  if (!res.ok) throw await toError(res);
  return res;
}

async function request(
  fetchImpl: typeof fetch,
  url: string,
  init: RequestInit,
  sentAccessCode = false,
  toError: (res: Response) => Promise<ApiError> = (res) => errorFromResponse(res, sentAccessCode),
): Promise<unknown> {
  const res = await send(fetchImpl, url, init, toError);
  try {
    return await res.json();
  } catch {
    throw new ApiError('bad_response', res.status);
  }
}

function withQuery(base: string, path: string, query: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, v);
  const qs = params.toString();
  return `${base}${path}${qs ? `?${qs}` : ''}`;
}

export interface ApiClient {
  requestToken(req: TokenRequest): Promise<TokenResponse>;
  /** The caller's own call, with the call key its first token returned (sent as X-Call-Key, never in the URL). */
  getCallTranscript(sessionId: string, callKey: string): Promise<CallTranscript>;
  listSessions(q?: SessionFilter & { from?: string; to?: string; cursor?: string | null }): Promise<SessionPage>;
  getSession(id: string): Promise<SessionDetail>;
  getRecording(id: string): Promise<RecordingLink>;
  /** A finished session with its transcript and recording; 409 (`refused`) while the call runs. */
  deleteSession(id: string): Promise<void>;
  getAnalytics(q?: AnalyticsQuery): Promise<AnalyticsReport>;
  listAssistants(includeArchived?: boolean): Promise<Assistant[]>;
  getAssistant(id: string, version?: number): Promise<Assistant>;
  /** A new assistant; `idempotencyKey` makes a retried create (a lost answer) create it once. */
  createAssistant(spec: AssistantSpec, idempotencyKey: string): Promise<Assistant>;
  /** A new version; 409 (`refused`, status 409) when `baseVersion` is no longer the latest. */
  updateAssistant(id: string, spec: AssistantSpec, baseVersion: number): Promise<Assistant>;
  archiveAssistant(id: string): Promise<Assistant>;
  restoreAssistant(id: string): Promise<Assistant>;
  listAssistantVersions(id: string): Promise<AssistantVersionSummary[]>;
  /** The text spoken by the voice (none: the preview's default), as a WAV blob. */
  previewVoice(text: string, language: Language, voice?: string): Promise<Blob>;
  /** Every page of GET /export/sessions for the range, joined (CSV: one header, on the first page). */
  exportSessions(q: ExportQuery, onPage?: (pages: number) => void): Promise<string>;
}

export type ExportFormat = 'jsonl' | 'csv';

export interface ExportQuery {
  from?: string;
  to?: string;
  format: ExportFormat;
}

/** A runaway cursor loop must end: 1000 pages of up to 100 sessions is far beyond any real range. */
export const MAX_EXPORT_PAGES = 1000;

export interface OperatorCredentials {
  /** The signed-in operator's access token, sent as `Authorization: Bearer` to the operator routes. */
  accessToken(): string | null;
  /** The API refused the token (401): it expired, was revoked or was never valid. */
  refused?(): void;
}

export function createApiClient(
  apiUrl: string,
  fetchImpl: typeof fetch = fetch.bind(globalThis),
  operator?: OperatorCredentials,
): ApiClient {
  const base = apiUrl.replace(/\/+$/, '');
  // Sessions, analytics and assistants are operator data: the token goes only to them, never to /token.
  const operatorSend = async <T>(
    url: string,
    read: (res: Response) => Promise<T>,
    timeoutMs?: number,
    init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<T> => {
    const token = operator?.accessToken() ?? null;
    const headers: Record<string, string> = { ...init.headers, ...(token ? { Authorization: `Bearer ${token}` } : {}) };
    const body = init.body === undefined ? undefined : JSON.stringify(init.body);
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    try {
      const res = await send(
        fetchImpl,
        url,
        { method: init.method ?? 'GET', headers, body },
        operatorErrorFromResponse,
        timeoutMs,
      );
      try {
        return await read(res);
      } catch {
        throw new ApiError('bad_response', res.status);
      }
    } catch (err) {
      if (err instanceof ApiError && err.kind === 'signed_out') operator?.refused?.();
      throw err;
    }
  };
  const operatorGet = (url: string): Promise<unknown> => operatorSend(url, (res) => res.json() as Promise<unknown>);
  const operatorWrite = async (
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Assistant> =>
    normalizeAssistant(
      await operatorSend(`${base}${path}`, (res) => res.json() as Promise<unknown>, undefined, { method, body, headers }),
    );
  const assistantPath = (id: string) => `/assistants/${encodeURIComponent(id)}`;
  return {
    async requestToken(req) {
      const body: TokenRequest = { name: req.name, language: req.language };
      if (req.access_code) body.access_code = req.access_code;
      if (req.assistant_id) body.assistant_id = req.assistant_id;
      const json = await request(
        fetchImpl,
        `${base}/token`,
        { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) },
        Boolean(req.access_code),
      );
      return normalizeToken(json);
    },
    async getCallTranscript(sessionId, callKey) {
      // Not an operator route: no bearer token, only the call's own key.
      const json = await request(fetchImpl, `${base}/calls/${encodeURIComponent(sessionId)}/transcript`, {
        method: 'GET',
        headers: { 'X-Call-Key': callKey },
      });
      return normalizeCallTranscript(json);
    },
    async listSessions(q = {}) {
      const { cursor, ...rest } = q;
      const url = withQuery(base, '/sessions', { ...rest, cursor: cursor ?? undefined });
      return normalizeSessionPage(await operatorGet(url));
    },
    async getSession(id) {
      return normalizeSessionDetail(await operatorGet(`${base}/sessions/${encodeURIComponent(id)}`));
    },
    async deleteSession(id) {
      await operatorSend(`${base}/sessions/${encodeURIComponent(id)}`, async () => undefined, undefined, {
        method: 'DELETE',
      });
    },
    async getRecording(id) {
      const body = await operatorGet(`${base}/sessions/${encodeURIComponent(id)}/recording`);
      const info = normalizeRecording(body);
      const url = isObj(body) ? str(body.url) : null;
      if (!info || !url || !/^https?:\/\//.test(url)) throw new ApiError('bad_response');
      return { ...info, url };
    },
    async getAnalytics(q = {}) {
      const url = withQuery(base, '/analytics', { ...q });
      return normalizeAnalytics(await operatorGet(url));
    },
    async listAssistants(includeArchived = false) {
      const url = withQuery(base, '/assistants', { include_archived: includeArchived ? 'true' : undefined });
      const body = await operatorGet(url);
      if (!isObj(body)) throw new ApiError('bad_response');
      // An item this client cannot read is left out, not the whole list.
      return arr(body.assistants).flatMap((v) => {
        try {
          return [normalizeAssistant(v)];
        } catch {
          return [];
        }
      });
    },
    async getAssistant(id, version) {
      const path = version === undefined ? assistantPath(id) : `${assistantPath(id)}/versions/${version}`;
      return normalizeAssistant(await operatorGet(`${base}${path}`));
    },
    createAssistant: (spec, idempotencyKey) =>
      operatorWrite('POST', '/assistants', specOf(spec), { 'Idempotency-Key': idempotencyKey }),
    updateAssistant: (id, spec, baseVersion) =>
      operatorWrite('PUT', assistantPath(id), { ...specOf(spec), base_version: baseVersion }),
    archiveAssistant: (id) => operatorWrite('DELETE', assistantPath(id)),
    restoreAssistant: (id) => operatorWrite('POST', `${assistantPath(id)}/restore`),
    async previewVoice(text, language, voice) {
      const body = await operatorSend(
        `${base}/voice-preview`,
        (res) => res.json() as Promise<unknown>,
        // speech takes a moment on a CPU model server
        EXPORT_PAGE_TIMEOUT_MS,
        { method: 'POST', body: { text, language, ...(voice ? { voice } : {}) } },
      );
      const audio = isObj(body) ? str(body.audio) : null;
      if (!audio) throw new ApiError('bad_response');
      let bytes: Uint8Array<ArrayBuffer>;
      try {
        bytes = Uint8Array.from(atob(audio), (c) => c.charCodeAt(0));
      } catch {
        throw new ApiError('bad_response');
      }
      return new Blob([bytes], { type: 'audio/wav' });
    },
    async listAssistantVersions(id) {
      const body = await operatorGet(`${base}${assistantPath(id)}/versions`);
      if (!isObj(body)) throw new ApiError('bad_response');
      return arr(body.versions)
        .filter(isObj)
        .map((v) => ({ version: num(v.version) ?? 0, updated_at: str(v.updated_at), name: str(v.name) ?? '' }))
        .filter((v) => v.version > 0);
    },
    async exportSessions(q, onPage) {
      const parts: string[] = [];
      let cursor: string | undefined;
      for (let page = 1; page <= MAX_EXPORT_PAGES; page++) {
        const url = withQuery(base, '/export/sessions', { from: q.from, to: q.to, format: q.format, cursor });
        const { text, next } = await operatorSend(
          url,
          async (res) => ({ text: await res.text(), next: res.headers.get('X-Next-Cursor') ?? undefined }),
          EXPORT_PAGE_TIMEOUT_MS,
        );
        parts.push(text);
        onPage?.(page);
        if (!next) return parts.join('');
        cursor = next;
      }
      throw new ApiError('bad_response');
    },
  };
}
