import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  BarVisualizer,
  RoomAudioRenderer,
  StartAudio,
  useConnectionState,
  useDataChannel,
  useLocalParticipant,
  useTranscriptions,
  useVoiceAssistant,
} from '@livekit/components-react';
import { ConnectionState } from 'livekit-client';
import type { Language } from '../api';
import { formatLatency } from '../format';
import { useI18n, type MessageKey } from '../i18n';
import { METRICS_TOPIC, parseMetricsPacket, upsertTurn, type TurnMetricsMessage } from '../metrics';
import { mergeTranscripts } from '../transcript';
import { ProblemBox } from './ProblemBox';

export function InCall(props: {
  roomName: string;
  callLanguage: Language;
  agentJoinTimeoutMs: number;
  onHangUp: () => void;
}) {
  const { t } = useI18n();
  const connection = useConnectionState();
  const { agent, state, audioTrack } = useVoiceAssistant();
  const { localParticipant, isMicrophoneEnabled, microphoneTrack } = useLocalParticipant();
  const [agentTimedOut, setAgentTimedOut] = useState(false);
  const [turns, setTurns] = useState<TurnMetricsMessage[]>([]);

  useEffect(() => {
    if (agent) {
      setAgentTimedOut(false);
      return;
    }
    const timer = window.setTimeout(() => setAgentTimedOut(true), props.agentJoinTimeoutMs);
    return () => window.clearTimeout(timer);
  }, [agent, props.agentJoinTimeoutMs]);

  const onMetrics = useCallback((msg: { payload: Uint8Array }) => {
    const parsed = parseMetricsPacket(msg.payload);
    if (parsed) setTurns((prev) => upsertTurn(prev, parsed));
  }, []);
  useDataChannel(METRICS_TOPIC, onMetrics);

  const streams = useTranscriptions();
  const localSid = microphoneTrack?.trackSid;
  const lines = useMemo(
    () =>
      mergeTranscripts(streams, {
        localIdentity: localParticipant.identity,
        localTrackSids: new Set(localSid ? [localSid] : []),
      }),
    [streams, localParticipant.identity, localSid],
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

  return (
    <section className="call" aria-label={t('app.title')} data-agent-state={agent ? state : 'none'}>
      {reconnecting && (
        <div className="banner warn" role="status" data-testid="reconnecting">
          {t('call.reconnecting')}
        </div>
      )}
      {!agent && agentTimedOut && (
        <ProblemBox
          problem={{ key: 'error.agentTimeout', params: { seconds: Math.round(props.agentJoinTimeoutMs / 1000) } }}
        />
      )}

      <div className="agent-panel">
        <BarVisualizer
          className="visualizer"
          state={state}
          track={audioTrack}
          barCount={7}
          options={{ minHeight: 12, maxHeight: 100 }}
          aria-label={t('call.visualizer')}
          role="img"
        />
        <p className="agent-state" aria-live="polite" data-testid="agent-state">
          {agent ? t(stateKey) : t('call.waitingAgent')}
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
      <p className="room-name muted" data-testid="room-name" data-room={props.roomName}>
        {t('call.room', { room: props.roomName })}
      </p>
      <RoomAudioRenderer />
      <StartAudio label={t('call.startAudio')} className="primary start-audio" />
    </section>
  );
}
