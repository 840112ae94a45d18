import { useCallback, useEffect, useRef, useState } from 'react';
import { RoomContext } from '@livekit/components-react';
import {
  createLocalAudioTrack,
  DisconnectReason,
  Room,
  RoomEvent,
  Track,
  type LocalAudioTrack,
} from 'livekit-client';
import type { ApiClient, Language } from '../api';
import { MicError, micErrorFrom, problemFrom, type CallProblem } from '../callErrors';
import { isConfiguredLiveKit } from '../csp';
import { useI18n } from '../i18n';
import { AgentLeftNote } from './AgentLeftNote';
import { parseCallState, type CallState } from './callState';
import { JoinForm, type JoinValues } from './JoinForm';
import { InCall } from './InCall';
import { OwnTranscript } from './OwnTranscript';
import { ProblemBox } from './ProblemBox';

type Phase = 'form' | 'mic' | 'connecting' | 'in-call' | 'ended';

async function openMicrophone(): Promise<LocalAudioTrack> {
  if (!navigator.mediaDevices?.getUserMedia) throw new MicError('missing');
  try {
    return await createLocalAudioTrack({ echoCancellation: true, noiseSuppression: true, autoGainControl: true });
  } catch (err) {
    throw micErrorFrom(err);
  }
}

/** A token naming a LiveKit server other than the configured one (the CSP would block it too). */
class ForeignServerError extends Error {}

export function CallPage({
  api,
  livekitUrl,
  agentJoinTimeoutMs,
  assistantId,
}: {
  api: ApiClient;
  livekitUrl: string;
  agentJoinTimeoutMs: number;
  /** From the page link (#/?assistant=…); none = the default assistant. */
  assistantId?: string;
}) {
  const { t, lang } = useI18n();
  const [phase, setPhase] = useState<Phase>('form');
  const [problem, setProblem] = useState<CallProblem | null>(null);
  const [needsCode, setNeedsCode] = useState(false);
  const [room, setRoom] = useState<Room | null>(null);
  const [roomName, setRoomName] = useState('');
  // The call's key (returned once by its first token): held in memory only, for reading this call back.
  const [callKey, setCallKey] = useState<string | null>(null);
  const [endedByAgent, setEndedByAgent] = useState(false);
  // What the functions say about the call in the room metadata (the agent reconnecting, or gone and why).
  const [callState, setCallState] = useState<CallState | null>(null);
  const [callLanguage, setCallLanguage] = useState<Language>(lang);
  const [recorded, setRecorded] = useState(false);
  const hangingUp = useRef(false);
  const roomRef = useRef<Room | null>(null);

  // Leaving the page (or navigating to analytics) ends the call.
  useEffect(
    () => () => {
      hangingUp.current = true;
      void roomRef.current?.disconnect();
    },
    [],
  );

  const join = useCallback(
    async (values: JoinValues) => {
      setProblem(null);
      setCallLanguage(values.language);
      let mic: LocalAudioTrack | null = null;
      let next: Room | null = null;
      try {
        // Ask for the microphone first: a denied permission should not cost a token.
        setPhase('mic');
        mic = await openMicrophone();
        setPhase('connecting');
        const grant = await api.requestToken({
          name: values.name,
          language: values.language,
          access_code: values.accessCode || undefined,
          assistant_id: assistantId,
        });
        if (!isConfiguredLiveKit({ livekitUrl }, grant.url)) throw new ForeignServerError(grant.url);
        next = new Room({ adaptiveStream: true, dynacast: true });
        hangingUp.current = false;
        setEndedByAgent(false);
        setCallState(null);
        next.on(RoomEvent.RoomMetadataChanged, (metadata: string) => setCallState(parseCallState(metadata)));
        next.on(RoomEvent.Disconnected, (reason?: DisconnectReason) => {
          // The agent ends a call by deleting its room (the caller went quiet, the time limit): no error.
          if (reason === DisconnectReason.ROOM_DELETED) setEndedByAgent(true);
          else if (!hangingUp.current) setProblem({ key: 'error.disconnected' });
          setPhase('ended');
          setRoom(null);
        });
        await next.connect(grant.url, grant.token);
        setCallState(parseCallState(next.metadata));
        await next.localParticipant.publishTrack(mic, { source: Track.Source.Microphone });
        roomRef.current = next;
        setRoomName(grant.room || next.name);
        setCallKey(grant.call_key ?? null);
        setRecorded(grant.recording);
        setRoom(next);
        setNeedsCode(false);
        setPhase('in-call');
      } catch (err) {
        mic?.stop();
        if (next) {
          next.removeAllListeners();
          void next.disconnect();
        }
        const p: CallProblem = err instanceof ForeignServerError ? { key: 'error.foreignServer' } : problemFrom(err);
        if (p.needsAccessCode) setNeedsCode(true);
        setProblem(p);
        setPhase('form');
      }
    },
    [api, livekitUrl, assistantId],
  );

  const hangUp = useCallback(() => {
    hangingUp.current = true;
    const current = roomRef.current;
    roomRef.current = null;
    void current?.disconnect();
    setRoom(null);
    setPhase('ended');
  }, []);

  if (phase === 'in-call' && room) {
    return (
      <RoomContext.Provider value={room}>
        <InCall
          roomName={roomName}
          callLanguage={callLanguage}
          agentJoinTimeoutMs={agentJoinTimeoutMs}
          callState={callState}
          recorded={recorded}
          onHangUp={hangUp}
        />
      </RoomContext.Provider>
    );
  }

  if (phase === 'ended') {
    return (
      <section className="card" aria-labelledby="ended-title">
        <h1 id="ended-title">{t('call.ended')}</h1>
        {callState?.agent === 'left' ? (
          <AgentLeftNote state={callState} />
        ) : (
          endedByAgent && (
            <p className="muted" data-testid="ended-by-agent">
              {t('call.endedByAgent')}
            </p>
          )
        )}
        {problem && <ProblemBox problem={problem} />}
        <button
          type="button"
          className="primary"
          autoFocus
          onClick={() => {
            setProblem(null);
            setCallKey(null);
            setPhase('form');
          }}
        >
          {t('call.newCall')}
        </button>
        {callKey && roomName && (
          <OwnTranscript api={api} sessionId={roomName} callKey={callKey} language={callLanguage} />
        )}
      </section>
    );
  }

  return (
    <JoinForm
      busy={phase === 'mic' || phase === 'connecting'}
      busyLabel={phase === 'mic' ? t('join.checkingMic') : t('join.connecting')}
      needsAccessCode={needsCode}
      problem={problem}
      onSubmit={join}
    />
  );
}
