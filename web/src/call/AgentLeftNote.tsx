import { useI18n } from '../i18n';
import { leftReasonKey, type CallState } from './callState';

/** "The assistant has left the call: <reason>", from the room metadata the functions wrote. */
export function AgentLeftNote({ state }: { state: Extract<CallState, { agent: 'left' }> }) {
  const { t } = useI18n();
  const key = leftReasonKey(state.reason);
  const reason = key ? t(key) : state.reason;
  return (
    <p className="banner warn" role="status" data-testid="agent-left" data-reason={state.reason ?? ''}>
      {reason ? t('call.agentLeft', { reason }) : t('call.agentLeftNoReason')}
    </p>
  );
}
