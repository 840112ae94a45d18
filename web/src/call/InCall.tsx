import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  BarVisualizer,
  RoomAudioRenderer,
  StartAudio,
  useConnectionState,
  useDataChannel,
  useLocalParticipant,
  useRemoteParticipants,
  useTranscriptions,
  useVoiceAssistant,
} from '@livekit/components-react';
import { ConnectionState, type Participant } from 'livekit-client';
import type { Language } from '../api';
import { formatLatency } from '../format';
import { useI18n, type MessageKey } from '../i18n';
import { METRICS_TOPIC, parseMetricsPacket, upsertTurn, type TurnMetricsMessage } from '../metrics';
import { mergeTranscripts } from '../transcript';
import { AgentLeftNote } from './AgentLeftNote';
import { agentPresence, type CallState } from './callState';
import { ProblemBox } from './ProblemBox';
import { fromAgent, isFromAgent, pickAgent, roster } from './trust';
import './call.css';

export function InCall(props: {
  roomName: string;
  callLanguage: Language;
  agentJoinTimeoutMs: number;
  /** From the room metadata (CallPage): the agent reconnecting, or gone and why. */
  callState: CallState | null;
  /** The assistant records its calls (the token answer says so). */
  recorded?: boolean;
  onHangUp: () => void;
}) {
  const { t } = useI18n();
  const connection = useConnectionState();
  const { state, audioTrack } = useVoiceAssistant();
  const { localParticipant, isMicrophoneEnabled, microphoneTrack } = useLocalParticipant();
  // The one participant whose transcripts and metrics the page believes (kind AGENT, set by the server).
  const remotes = useRemoteParticipants();
  const agent = pickAgent(remotes);
  const agentIdentity = agent?.identity;
  const agentRef = useRef<string | undefined>(agentIdentity);
  agentRef.current = agentIdentity;
  const people = roster(localParticipant, remotes, agentIdentity);
  const strangers = people.filter((p) => p.role === 'other');
  const [agentTimedOut, setAgentTimedOut] = useState(false);
  // An agent was in this call: when none is any more, the page says so (never its last state, "speaking").
  const [hadAgent, setHadAgent] = useState(false);
  useEffect(() => {
    if (agent) setHadAgent(true);
  }, [agent]);
  const presence = agentPresence(props.callState, !!agent, hadAgent || !!agent);
  const [turns, setTurns] = useState<TurnMetricsMessage[]>([]);

  useEffect(() => {
    if (agent) {
      setAgentTimedOut(false);
      return;
    }
    const timer = window.setTimeout(() => setAgentTimedOut(true), props.agentJoinTimeoutMs);
    return () => window.clearTimeout(timer);
  }, [agent, props.agentJoinTimeoutMs]);

  const onMetrics = useCallback((msg: { payload: Uint8Array; from?: Participant }) => {
    // Latency comes from the agent only: a packet from anyone else on this topic is ignored.
    if (!isFromAgent(msg.from, agentRef.current)) return;
    const parsed = parseMetricsPacket(msg.payload);
    if (parsed) setTurns((prev) => upsertTurn(prev, parsed));
  }, []);
  useDataChannel(METRICS_TOPIC, onMetrics);

  const allStreams = useTranscriptions();
  const localSid = microphoneTrack?.trackSid;
  const lines = useMemo(
    () =>
      // Both sides' lines come from the agent (the caller's words as it heard them, on the caller's behalf).
      mergeTranscripts(fromAgent(allStreams, agentIdentity, localParticipant.identity), {
        localIdentity: localParticipant.identity,
        localTrackSids: new Set(localSid ? [localSid] : []),
      }),
    [allStreams, agentIdentity, localParticipant.identity, localSid],
  );

  const listRef = useRef<HTMLOListElement>(null);
  useEffect(() => {
    const el = listRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [lines]);

  const reconnecting =
    connection === ConnectionState.Reconnecting || connection === ConnectionState.SignalReconnecting;
  const last = turns.length ? turns[turns.length - 1] : undefined;
  const stateKey = `state.${agent ? state : 'connecting'}` as MessageKey;
  const presenceText: Record<Exclude<typeof presence, 'left'>, string> = {
    present: t(stateKey),
    waiting: t('call.waitingAgent'),
    reconnecting: t('call.agentReconnecting'),
    gone: t('call.agentGone'),
  };
  const agentState = presence === 'present' ? state : presence === 'waiting' ? 'none' : presence;

  return (
    <section className="call" aria-label={t('app.title')} data-agent-state={agentState} data-agent-presence={presence}>
      {reconnecting && (
        <div className="banner warn" role="status" data-testid="reconnecting">
          {t('call.reconnecting')}
        </div>
      )}
      {props.recorded && (
        <div className="banner recorded" role="status" data-testid="recorded">
          ● {t('call.recorded')}
        </div>
      )}
      {props.callState?.agent === 'left' && <AgentLeftNote state={props.callState} />}
      {presence === 'waiting' && agentTimedOut && (
        <ProblemBox
          problem={{ key: 'error.agentTimeout', params: { seconds: Math.round(props.agentJoinTimeoutMs / 1000) } }}
        />
      )}

      <div className="agent-panel">
        <BarVisualizer
          className="visualizer"
          state={agent ? state : 'disconnected'}
          track={agent ? audioTrack : undefined}
          barCount={7}
          options={{ minHeight: 12, maxHeight: 100 }}
          aria-label={t('call.visualizer')}
          role="img"
        />
        <p className="agent-state" aria-live="polite" data-testid="agent-state" data-presence={presence}>
          {presence === 'left' ? t('call.agentLeftNoReason') : presenceText[presence]}
        </p>
        {last?.voice_to_voice !== undefined && (
          <p className="latency-hint" data-testid="last-latency">
            {t('call.lastLatency', { value: formatLatency(last.voice_to_voice) })}
          </p>
        )}
      </div>

      <section className="transcript" aria-labelledby="transcript-title">
        <h2 id="transcript-title" className="sr-only">
          {t('call.transcript')}
        </h2>
        {lines.length === 0 ? (
          <p className="muted empty">{t('call.transcriptEmpty')}</p>
        ) : (
          <ol ref={listRef} aria-live="polite" aria-relevant="additions text" data-testid="transcript">
            {lines.map((line) => (
              <li
                key={line.id}
                // Only the caller's words settle (STT interim -> final); the agent's text is what it says.
                className={`line ${line.speaker}${line.speaker === 'user' && !line.final ? ' interim' : ''}`}
                data-speaker={line.speaker}
                data-final={line.final}
                lang={props.callLanguage === 'zh' ? 'zh-CN' : 'en'}
              >
                <span className="who">{line.speaker === 'user' ? t('call.you') : t('call.agent')}</span>
                <span className="text">{line.text}</span>
              </li>
            ))}
          </ol>
        )}
      </section>

      {turns.length > 0 && (
        <details className="latency">
          <summary>{t('call.latency')}</summary>
          <ul data-testid="turn-latencies">
            {turns.map((m) => (
              <li key={m.turn}>
                {t('call.turnN', { n: m.turn })}: {formatLatency(m.voice_to_voice)}
              </li>
            ))}
          </ul>
        </details>
      )}

      <div className="controls">
        <button
          type="button"
          className="control"
          data-muted={!isMicrophoneEnabled}
          onClick={() => void localParticipant.setMicrophoneEnabled(!isMicrophoneEnabled)}
        >
          {isMicrophoneEnabled ? t('call.mute') : t('call.unmute')}
        </button>
        <button type="button" className="control danger" onClick={props.onHangUp}>
          {t('call.hangup')}
        </button>
      </div>
      {!isMicrophoneEnabled && (
        <p className="muted center" role="status">
          {t('call.muted')}
        </p>
      )}
      <section className="participants" aria-labelledby="participants-title">
        <h2 id="participants-title" className="participants-title">
          {t('call.participants')}
        </h2>
        {strangers.length > 0 && (
          <p className="banner warn" role="alert" data-testid="stranger-warning">
            {t('call.strangerWarning')}
          </p>
        )}
        <ul data-testid="participants">
          {people.map((p) => (
            <li key={p.identity} data-identity={p.identity} data-role={p.role} className={`participant ${p.role}`}>
              {p.role === 'you'
                ? t('call.participantYou', { name: p.name })
                : p.role === 'assistant'
                  ? t('call.participantAgent')
                  : t('call.participantOther', { name: p.name })}
            </li>
          ))}
        </ul>
      </section>
      <p className="room-name muted" data-testid="room-name" data-room={props.roomName}>
        {t('call.room', { room: props.roomName })}
      </p>
      <RoomAudioRenderer />
      <StartAudio label={t('call.startAudio')} className="primary start-audio" />
    </section>
  );
}
