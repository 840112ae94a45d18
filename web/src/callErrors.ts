// Maps everything that can stop a call to one user-facing message key (plus the server's words).

import { ApiError } from './api';
import type { MessageKey } from './i18n';

export interface CallProblem {
  key: MessageKey;
  params?: Record<string, string | number>;
  serverMessage?: string;
  /** show the access-code field */
  needsAccessCode?: boolean;
}

export class MicError extends Error {
  readonly reason: 'denied' | 'missing' | 'busy';
  constructor(reason: 'denied' | 'missing' | 'busy') {
    super(`microphone ${reason}`);
    this.reason = reason;
  }
}

/** getUserMedia / livekit MediaDeviceFailure -> our three cases. */
export function micErrorFrom(err: unknown): MicError {
  const name = err instanceof Error || (typeof err === 'object' && err !== null && 'name' in err)
    ? String((err as { name: unknown }).name)
    : '';
  const text = err instanceof Error ? err.message : String(err);
  if (name === 'NotAllowedError' || name === 'SecurityError' || /permission/i.test(text)) return new MicError('denied');
  if (name === 'NotFoundError' || name === 'OverconstrainedError' || /not ?found|no device/i.test(text)) {
    return new MicError('missing');
  }
  return new MicError('busy');
}

export function problemFrom(err: unknown): CallProblem {
  if (err instanceof MicError) {
    const key: MessageKey =
      err.reason === 'denied' ? 'error.micDenied' : err.reason === 'missing' ? 'error.micMissing' : 'error.micBusy';
    return { key };
  }
  if (err instanceof ApiError) {
    const serverMessage = err.serverMessage;
    switch (err.kind) {
      case 'unreachable':
        return { key: 'error.unreachable' };
      case 'access_code_required':
        return { key: 'error.accessCodeRequired', serverMessage, needsAccessCode: true };
      case 'access_code_invalid':
        return { key: 'error.accessCodeInvalid', serverMessage, needsAccessCode: true };
      case 'refused':
      case 'not_found':
        return { key: 'error.tokenRefused', serverMessage };
      case 'server':
        return { key: 'error.server', serverMessage };
      case 'bad_response':
        return { key: 'error.badResponse' };
    }
  }
  // livekit-client's own wording is technical; the key says what happened.
  return { key: 'error.roomConnect' };
}
