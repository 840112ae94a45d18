import { useState } from 'react';
import type { ApiClient, CallTranscript, Language } from '../api';
import { problemFrom, type CallProblem } from '../callErrors';
import { useI18n, type MessageKey } from '../i18n';
import { ProblemBox } from './ProblemBox';
import './call.css';

// The session log's end reasons (agent_worker/room_entry.py) the page can put in words.
const END_REASONS: Record<string, MessageKey> = {
  'caller left': 'call.reason.callerLeft',
  'caller idle': 'call.reason.callerIdle',
  'max length': 'call.reason.maxLength',
  'agent error': 'call.reason.agentError',
  'agent lost': 'call.reason.agentLost',
};

/** After a call: the caller reads their own call back with its call key (nothing else is readable). */
export function OwnTranscript(props: { api: ApiClient; sessionId: string; callKey: string; language: Language }) {
  const { t } = useI18n();
  const [state, setState] = useState<'idle' | 'loading' | 'ok' | 'error'>('idle');
  const [call, setCall] = useState<CallTranscript | null>(null);
  const [problem, setProblem] = useState<CallProblem | null>(null);

  const load = async () => {
    setState('loading');
    setProblem(null);
    try {
      setCall(await props.api.getCallTranscript(props.sessionId, props.callKey));
      setState('ok');
    } catch (err) {
      setProblem(problemFrom(err));
      setState('error');
    }
  };

  const reasonKey = call?.end_reason ? END_REASONS[call.end_reason] : undefined;
  return (
    <section className="own-transcript" aria-labelledby="own-transcript-title" data-testid="own-transcript" data-state={state}>
      <h2 id="own-transcript-title" className="sr-only">
        {t('call.ownTranscript')}
      </h2>
      {state !== 'ok' && (
        <button type="button" className="control" disabled={state === 'loading'} onClick={() => void load()}>
          {state === 'loading' ? t('call.ownTranscriptLoading') : t('call.ownTranscript')}
        </button>
      )}
      {problem && <ProblemBox problem={{ ...problem, key: 'call.ownTranscriptError' }} />}
      {state === 'ok' && call && (
        <>
          {call.end_reason && (
            <p className="muted" data-testid="end-reason" data-reason={call.end_reason}>
              {t('call.endReason', { reason: reasonKey ? t(reasonKey) : call.end_reason })}
            </p>
          )}
          {call.transcript.length === 0 ? (
            <p className="muted">{t('call.ownTranscriptEmpty')}</p>
          ) : (
            <ol className="transcript-lines">
              {call.transcript.map((line, i) => (
                <li
                  key={`${i}-${line.ts ?? ''}`}
                  className={`line ${line.role === 'user' ? 'user' : 'agent'}`}
                  data-speaker={line.role === 'user' ? 'user' : 'agent'}
                  lang={props.language === 'zh' ? 'zh-CN' : 'en'}
                >
                  <span className="who">{line.role === 'user' ? t('call.you') : t('call.agent')}</span>
                  <span className="text">{line.text}</span>
                </li>
              ))}
            </ol>
          )}
        </>
      )}
    </section>
  );
}
