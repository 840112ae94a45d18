import { useEffect, useId, useMemo, useState, type FormEvent } from 'react';
import { ApiError, type ApiClient, type Assistant, type AssistantSpec, type AssistantVersionSummary, type Language } from '../api';
import { LoadError } from '../analytics/AnalyticsPage';
import { formatDateTime } from '../format';
import { localeOf, useI18n } from '../i18n';
import { hrefOf } from '../route';

const LANGUAGES: Language[] = ['zh', 'en'];
// Voices the offline server and OpenAI know; any other id may be typed (the worker drops one its provider lacks).
const VOICE_SUGGESTIONS = ['auto', 'zh-baker', 'en-joe', 'alloy', 'echo', 'nova', 'shimmer'];

const EMPTY: AssistantSpec = {
  name: '',
  instructions: {},
  greeting: {},
  languages: ['zh', 'en'],
  language_mode: 'bilingual',
  voices: {},
  llm_model: null,
  temperature: null,
  idle_timeout_s: null,
  max_call_s: null,
  recording: false,
};

type Playing = { status: 'idle' } | { status: 'loading' } | { status: 'playing' } | { status: 'error'; error: unknown };

/** Plays the greeting in the chosen voice, through the API's voice preview. */
function VoicePreview({ api, text, language, voice }: { api: ApiClient; text: string; language: Language; voice?: string }) {
  const { t } = useI18n();
  const [playing, setPlaying] = useState<Playing>({ status: 'idle' });
  const play = async () => {
    setPlaying({ status: 'loading' });
    try {
      const url = URL.createObjectURL(await api.previewVoice(text.trim(), language, voice?.trim() || undefined));
      const audio = new Audio(url);
      audio.onended = () => {
        URL.revokeObjectURL(url);
        setPlaying({ status: 'idle' });
      };
      await audio.play();
      setPlaying({ status: 'playing' });
    } catch (err) {
      setPlaying({ status: 'error', error: err });
    }
  };
  return (
    <div className="voice-preview" data-testid={`voice-preview-${language}`} data-state={playing.status}>
      <button type="button" className="chip" disabled={!text.trim() || playing.status === 'loading' || playing.status === 'playing'} onClick={() => void play()}>
        ▶ {playing.status === 'loading' ? t('as.voiceLoading') : t('as.playGreeting')}
      </button>
      {playing.status === 'error' && <LoadError error={playing.error} />}
    </div>
  );
}

type Saved = { status: 'idle' } | { status: 'saving' } | { status: 'saved'; version: number } | { status: 'error'; error: unknown };

const numberOrNull = (v: string): number | null => (v.trim() === '' || !Number.isFinite(Number(v)) ? null : Number(v));

/** Create (id null) or edit an assistant: every save is a new version; a stale editor is told, never overwrites. */
export function AssistantEditor({ api, id }: { api: ApiClient; id: string | null }) {
  const { t, lang } = useI18n();
  const uid = useId();
  const [latest, setLatest] = useState<Assistant | null>(null);
  const [draft, setDraft] = useState<AssistantSpec>(EMPTY);
  const [shown, setShown] = useState<number | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [versions, setVersions] = useState<AssistantVersionSummary[]>([]);
  const [saved, setSaved] = useState<Saved>({ status: 'idle' });
  // One key per new assistant being written: a retried create (its answer lost) creates it once.
  const createKey = useMemo(() => crypto.randomUUID(), []);

  useEffect(() => {
    if (id === null) return;
    let live = true;
    Promise.all([api.getAssistant(id), api.listAssistantVersions(id)]).then(
      ([a, v]) => {
        if (!live) return;
        setLatest(a);
        setDraft(a);
        setShown(a.version);
        setVersions(v);
      },
      (err: unknown) => live && setLoadError(err),
    );
    return () => {
      live = false;
    };
  }, [api, id]);

  const set = <K extends keyof AssistantSpec>(key: K, value: AssistantSpec[K]) => {
    setDraft((d) => ({ ...d, [key]: value }));
    if (saved.status === 'saved') setSaved({ status: 'idle' });
  };
  const setPer = (key: 'instructions' | 'greeting' | 'voices', l: Language, value: string) =>
    set(key, { ...draft[key], [l]: value });
  const toggleLanguage = (l: Language, on: boolean) =>
    set('languages', LANGUAGES.filter((x) => (x === l ? on : draft.languages.includes(x))));

  const loadVersion = async (version: number) => {
    if (id === null) return;
    try {
      const a = await api.getAssistant(id, version);
      setDraft(a);
      setShown(version);
      setSaved({ status: 'idle' });
    } catch (err) {
      setSaved({ status: 'error', error: err });
    }
  };
  const loadLatest = async () => {
    if (id === null) return;
    try {
      const [a, v] = await Promise.all([api.getAssistant(id), api.listAssistantVersions(id)]);
      setLatest(a);
      setDraft(a);
      setShown(a.version);
      setVersions(v);
      setSaved({ status: 'idle' });
    } catch (err) {
      setSaved({ status: 'error', error: err });
    }
  };

  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (draft.languages.length === 0) return;
    setSaved({ status: 'saving' });
    try {
      const a = latest
        ? await api.updateAssistant(latest.assistant_id, draft, latest.version)
        : await api.createAssistant(draft, createKey);
      setLatest(a);
      setDraft(a);
      setShown(a.version);
      setSaved({ status: 'saved', version: a.version });
      if (id === null) window.location.hash = hrefOf({ page: 'assistant', id: a.assistant_id });
      else setVersions(await api.listAssistantVersions(a.assistant_id));
    } catch (err) {
      setSaved({ status: 'error', error: err });
    }
  };

  if (loadError !== null) return <LoadError error={loadError} />;
  if (id !== null && latest === null) return <p className="muted">{t('an.loading')}</p>;
  const conflict = saved.status === 'error' && saved.error instanceof ApiError && saved.error.status === 409 && latest !== null && !latest.archived;
  const langName = (l: Language) => t(l === 'zh' ? 'lang.zh' : 'lang.en');

  return (
    <div className="analytics assistant-editor" data-testid="assistant-editor" data-version={latest?.version ?? ''}>
      <p>
        <a href={hrefOf({ page: 'assistants' })}>‹ {t('as.back')}</a>
      </p>
      <h1>{latest ? t('as.editTitle', { name: latest.name }) : t('as.newTitle')}</h1>
      {latest?.archived && <p className="banner warn">{t('as.archivedNote')}</p>}
      {shown !== null && latest !== null && shown !== latest.version && (
        <p className="banner warn" data-testid="older-version">
          {t('as.showingVersion', { version: shown })}
        </p>
      )}
      <div className="editor-columns">
        <form className="assistant-form" onSubmit={(e) => void save(e)}>
          <label htmlFor={`${uid}-name`}>{t('as.name')}</label>
          <input id={`${uid}-name`} name="name" required maxLength={80} value={draft.name} onChange={(e) => set('name', e.target.value)} />

          <fieldset>
            <legend>{t('as.languages')}</legend>
            {LANGUAGES.map((l) => (
              <label key={l} className="inline">
                <input
                  type="checkbox"
                  name={`language-${l}`}
                  checked={draft.languages.includes(l)}
                  onChange={(e) => toggleLanguage(l, e.target.checked)}
                />{' '}
                {langName(l)}
              </label>
            ))}
            {draft.languages.length === 0 && <p role="alert" className="hint">{t('as.noLanguage')}</p>}
          </fieldset>

          {draft.languages.map((l) => (
            <fieldset key={l} lang={l === 'zh' ? 'zh-CN' : 'en'}>
              <legend>{langName(l)}</legend>
              <label htmlFor={`${uid}-instr-${l}`}>{t('as.instructions', { lang: langName(l) })}</label>
              <textarea
                id={`${uid}-instr-${l}`}
                name={`instructions-${l}`}
                required
                maxLength={4000}
                rows={4}
                value={draft.instructions[l] ?? ''}
                onChange={(e) => setPer('instructions', l, e.target.value)}
              />
              <p className="hint">{t('as.instructionsHint')}</p>
              <label htmlFor={`${uid}-greet-${l}`}>{t('as.greeting', { lang: langName(l) })}</label>
              <input
                id={`${uid}-greet-${l}`}
                name={`greeting-${l}`}
                required
                maxLength={300}
                value={draft.greeting[l] ?? ''}
                onChange={(e) => setPer('greeting', l, e.target.value)}
              />
              <label htmlFor={`${uid}-voice-${l}`}>{t('as.voice', { lang: langName(l) })}</label>
              <input
                id={`${uid}-voice-${l}`}
                name={`voice-${l}`}
                list={`${uid}-voices`}
                pattern="[A-Za-z0-9_.:\-]{1,64}"
                value={draft.voices[l] ?? ''}
                onChange={(e) => setPer('voices', l, e.target.value)}
              />
            </fieldset>
          ))}
          <datalist id={`${uid}-voices`}>
            {VOICE_SUGGESTIONS.map((v) => (
              <option key={v} value={v} />
            ))}
          </datalist>

          <label htmlFor={`${uid}-mode`}>{t('as.languageMode')}</label>
          <select id={`${uid}-mode`} name="language_mode" value={draft.language_mode} onChange={(e) => set('language_mode', e.target.value === 'fixed' ? 'fixed' : 'bilingual')}>
            <option value="bilingual">{t('as.mode.bilingual')}</option>
            <option value="fixed">{t('as.mode.fixed')}</option>
          </select>

          <label htmlFor={`${uid}-model`}>{t('as.llmModel')}</label>
          <input id={`${uid}-model`} name="llm_model" value={draft.llm_model ?? ''} onChange={(e) => set('llm_model', e.target.value.trim() || null)} />
          <label htmlFor={`${uid}-temp`}>{t('as.temperature')}</label>
          <input id={`${uid}-temp`} name="temperature" type="number" min={0} max={2} step={0.1} value={draft.temperature ?? ''} onChange={(e) => set('temperature', numberOrNull(e.target.value))} />
          <label htmlFor={`${uid}-idle`}>{t('as.idleTimeout')}</label>
          <input id={`${uid}-idle`} name="idle_timeout_s" type="number" min={10} max={900} step={1} value={draft.idle_timeout_s ?? ''} onChange={(e) => set('idle_timeout_s', numberOrNull(e.target.value))} />
          <label htmlFor={`${uid}-max`}>{t('as.maxCall')}</label>
          <input id={`${uid}-max`} name="max_call_s" type="number" min={30} max={7200} step={1} value={draft.max_call_s ?? ''} onChange={(e) => set('max_call_s', numberOrNull(e.target.value))} />
          <p className="hint">{t('as.workerDefault')}</p>
          <label className="inline">
            <input type="checkbox" name="recording" checked={draft.recording} onChange={(e) => set('recording', e.target.checked)} /> {t('as.recording')}
          </label>

          <button type="submit" className="primary" disabled={saved.status === 'saving' || draft.languages.length === 0}>
            {saved.status === 'saving' ? t('as.saving') : t('as.save')}
          </button>
          <p role="status" data-testid="save-status">
            {saved.status === 'saved' && t('as.saved', { version: saved.version })}
          </p>
          {conflict ? (
            <div className="problem" role="alert" data-testid="conflict">
              <p>{t('as.conflict')}</p>
              <button type="button" onClick={() => void loadLatest()}>
                {t('as.loadLatest')}
              </button>
            </div>
          ) : (
            saved.status === 'error' && <LoadError error={saved.error} />
          )}
        </form>

        <aside className="preview" aria-labelledby={`${uid}-preview`} data-testid="assistant-preview">
          <h2 id={`${uid}-preview`}>{t('as.preview')}</h2>
          {draft.languages.map((l) => (
            <div key={l} lang={l === 'zh' ? 'zh-CN' : 'en'} data-preview-lang={l}>
              <p className="small muted">{t('as.previewCaller', { lang: langName(l) })}</p>
              <p className="line agent">
                <span className="text">{draft.greeting[l] || '…'}</span>
              </p>
              <VoicePreview api={api} text={draft.greeting[l] ?? ''} language={l} voice={draft.voices[l]} />
              <p className="small muted">{t('as.previewRole')}</p>
              <blockquote className="instructions">{draft.instructions[l] || '…'}</blockquote>
            </div>
          ))}
          {latest && versions.length > 0 && (
            <>
              <h2>{t('as.versions')}</h2>
              <ol className="versions" data-testid="versions">
                {versions.map((v) => (
                  <li key={v.version} data-version={v.version}>
                    <span>
                      v{v.version} · {v.name} · {formatDateTime(v.updated_at, localeOf(lang))}
                    </span>{' '}
                    <button type="button" className="chip" disabled={v.version === shown} onClick={() => void loadVersion(v.version)}>
                      {t('as.load')}
                    </button>
                  </li>
                ))}
              </ol>
            </>
          )}
        </aside>
      </div>
    </div>
  );
}
