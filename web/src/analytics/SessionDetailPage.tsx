import { useEffect, useRef, useState } from 'react';
import { LATENCY_STAGES, type ApiClient, type RecordingInfo, type RecordingLink, type SessionDetail } from '../api';
import { formatDateTime, formatDuration, formatLatency } from '../format';
import { localeOf, useI18n, type MessageKey } from '../i18n';
import { hrefOf } from '../route';
import { LoadError, SummaryTags } from './AnalyticsPage';

export function SessionDetailPage({ api, id }: { api: ApiClient; id: string }) {
  const { t, lang } = useI18n();
  const [state, setState] = useState<
    { status: 'loading' } | { status: 'ok'; data: SessionDetail } | { status: 'error'; error: unknown }
  >({ status: 'loading' });

  useEffect(() => {
    let live = true;
    setState({ status: 'loading' });
    api.getSession(id).then(
      (data) => live && setState({ status: 'ok', data }),
      (error: unknown) => live && setState({ status: 'error', error }),
    );
    return () => {
      live = false;
    };
  }, [api, id]);

  const locale = localeOf(lang);
  const player = useRef<HTMLAudioElement | null>(null);
  const recording = state.status === 'ok' ? state.data.recording : null;
  return (
    <div className="analytics detail" data-testid="session-detail" data-state={state.status}>
      <p>
        <a href={hrefOf({ page: 'analytics' })}>‹ {t('an.back')}</a>
      </p>
      <h1>{t('an.detail', { id })}</h1>
      {state.status === 'loading' && <p className="muted">{t('an.loading')}</p>}
      {state.status === 'error' && <LoadError error={state.error} />}
      {state.status === 'ok' && (
        <>
          <dl className="totals">
            <div className="stat">
              <dt>{t('an.started')}</dt>
              <dd>{formatDateTime(state.data.started_at, locale)}</dd>
            </div>
            <div className="stat">
              <dt>{t('an.duration')}</dt>
              <dd>{formatDuration(state.data.duration_s)}</dd>
            </div>
            <div className="stat">
              <dt>{t('an.language')}</dt>
              <dd>{state.data.language ?? '—'}</dd>
            </div>
            <div className="stat">
              <dt>{t('an.turns')}</dt>
              <dd>{state.data.turns ?? '—'}</dd>
            </div>
            {state.data.status && (
              <div className="stat">
                <dt>{t('an.status')}</dt>
                <dd className="small" data-testid="session-status">
                  {['created', 'active', 'finished'].includes(state.data.status)
                    ? t(`an.status.${state.data.status}` as MessageKey)
                    : state.data.status}
                  {state.data.end_reason ? ` (${state.data.end_reason})` : ''}
                </dd>
              </div>
            )}
            {Object.keys(state.data.providers).length > 0 && (
              <div className="stat">
                <dt>{t('an.providers')}</dt>
                <dd className="small">
                  {Object.entries(state.data.providers)
                    .map(([k, v]) => `${k}: ${v}`)
                    .join(', ')}
                </dd>
              </div>
            )}
            {state.data.assistant_id && (
              <div className="stat">
                <dt>{t('an.assistant')}</dt>
                <dd className="small">
                  <a href={hrefOf({ page: 'assistant', id: state.data.assistant_id })}>{state.data.assistant_id}</a>
                  {state.data.assistant_version !== null && ` v${state.data.assistant_version}`}
                  {state.data.assistant_ran === 'built-in' && (
                    <span className="muted" data-testid="assistant-fallback">
                      {' '}
                      ({t('an.assistantFallback')})
                    </span>
                  )}
                </dd>
              </div>
            )}
          </dl>
          {state.data.summary && (
            <section aria-labelledby="detail-summary" data-testid="session-summary">
              <h2 id="detail-summary">{t('an.summary')}</h2>
              <p>{state.data.summary.summary}</p>
              <SummaryTags summary={state.data.summary} />
            </section>
          )}

          {recording && <RecordingPlayer api={api} id={id} audio={player} />}
          {state.data.status !== 'active' && <DeleteSession api={api} id={id} />}

          <section aria-labelledby="detail-turns">
            <h2 id="detail-turns">{t('an.turnLatency')}</h2>
            {state.data.turn_metrics.length === 0 ? (
              <p className="muted">{t('an.noData')}</p>
            ) : (
              <div className="table-wrap">
                <table className="turns" data-testid="turn-table">
                  <thead>
                    <tr>
                      <th scope="col">{t('an.turn')}</th>
                      {LATENCY_STAGES.map((s) => (
                        <th scope="col" key={s}>
                          {t(`stage.${s}` as MessageKey)}
                        </th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {state.data.turn_metrics.map((m) => (
                      <tr key={m.turn}>
                        <th scope="row">
                          {m.turn}
                          {m.interrupted && <span className="tag"> {t('an.interrupted')}</span>}
                        </th>
                        {LATENCY_STAGES.map((s) => (
                          <td key={s} className={s === 'voice_to_voice' ? 'strong' : undefined}>
                            {formatLatency(m[s])}
                          </td>
                        ))}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>

          {state.data.error_events.length > 0 && (
            <section aria-labelledby="detail-errors">
              <h2 id="detail-errors">{t('an.sessionErrors')}</h2>
              <ul data-testid="session-errors">
                {state.data.error_events.map((e, i) => (
                  <li key={i}>
                    <span className="tag">{e.stage}</span> {e.message}
                  </li>
                ))}
              </ul>
            </section>
          )}

          <section aria-labelledby="detail-transcript">
            <h2 id="detail-transcript">{t('an.transcript')}</h2>
            {state.data.transcript.length === 0 ? (
              <p className="muted">{t('an.noData')}</p>
            ) : (
              <ol className="transcript-static" data-testid="detail-transcript">
                {state.data.transcript.map((e, i) => {
                  const at = recording ? offsetIn(recording, e.ts) : null;
                  const line = (
                    <>
                      <span className="who">{e.role === 'user' ? t('call.you') : t('call.agent')}</span>
                      <span className="text">
                        {e.text}
                        {e.interrupted && <span className="tag"> ({t('an.interrupted')})</span>}
                      </span>
                    </>
                  );
                  return (
                    <li key={i} className={`line ${e.role === 'user' ? 'user' : 'agent'}`} data-offset={at ?? undefined}>
                      {at === null ? (
                        line
                      ) : (
                        // a click plays the recording from this line
                        <button
                          type="button"
                          className="seek"
                          title={t('an.playFrom', { time: formatDuration(at) })}
                          onClick={() => {
                            const audio = player.current;
                            if (!audio) return;
                            audio.currentTime = at;
                            void audio.play().catch(() => undefined);
                          }}
                        >
                          {line}
                        </button>
                      )}
                    </li>
                  );
                })}
              </ol>
            )}
          </section>
        </>
      )}
    </div>
  );
}

// A transcript line is stamped when it was final, just after it was said: start a little before it.
const LEAD_S = 1.5;

/** Where a line is in the recording (seconds), or null without a usable time. */
export function offsetIn(recording: RecordingInfo, ts: string | null): number | null {
  if (!ts) return null;
  const at = (Date.parse(ts) - Date.parse(recording.started_at)) / 1000;
  if (!Number.isFinite(at) || at < 0 || at > recording.duration_s + 5) return null;
  return Math.max(0, Math.round((at - LEAD_S) * 10) / 10);
}

/** The recording, from a short-lived link fetched when the page shows it (caller left, agent right). */
function RecordingPlayer({ api, id, audio }: { api: ApiClient; id: string; audio: React.RefObject<HTMLAudioElement | null> }) {
  const { t } = useI18n();
  const [link, setLink] = useState<{ status: 'loading' } | { status: 'ok'; data: RecordingLink } | { status: 'error'; error: unknown }>({
    status: 'loading',
  });
  useEffect(() => {
    let live = true;
    api.getRecording(id).then(
      (data) => live && setLink({ status: 'ok', data }),
      (error: unknown) => live && setLink({ status: 'error', error }),
    );
    return () => {
      live = false;
    };
  }, [api, id]);
  return (
    <section aria-labelledby="detail-recording" data-testid="recording" data-state={link.status}>
      <h2 id="detail-recording">{t('an.recording')}</h2>
      {link.status === 'loading' && <p className="muted">{t('an.loading')}</p>}
      {link.status === 'error' && <LoadError error={link.error} />}
      {link.status === 'ok' && (
        <>
          <audio ref={audio} controls preload="metadata" src={link.data.url} data-testid="recording-audio" />
          <p className="hint">{t('an.recordingHint', { duration: formatDuration(link.data.duration_s) })}</p>
        </>
      )}
    </section>
  );
}

/** Deletes the session (its transcript and recording too) after the operator confirms. */
function DeleteSession({ api, id }: { api: ApiClient; id: string }) {
  const { t } = useI18n();
  const [state, setState] = useState<{ status: 'idle' } | { status: 'deleting' } | { status: 'error'; error: unknown }>({
    status: 'idle',
  });
  const remove = async () => {
    if (!window.confirm(t('an.deleteConfirm', { id }))) return;
    setState({ status: 'deleting' });
    try {
      await api.deleteSession(id);
      window.location.hash = hrefOf({ page: 'analytics' });
    } catch (error) {
      setState({ status: 'error', error });
    }
  };
  return (
    <div className="toolbar">
      <button type="button" className="danger" disabled={state.status === 'deleting'} onClick={() => void remove()}>
        {t('an.delete')}
      </button>
      {state.status === 'error' && <LoadError error={state.error} />}
    </div>
  );
}
