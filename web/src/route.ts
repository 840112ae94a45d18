// Hash routes, so the static build needs no server-side rewrites.
import { ASSISTANT_ID } from './api';

export type Route =
  | { page: 'call'; assistant?: string }
  | { page: 'analytics' }
  | { page: 'session'; id: string }
  | { page: 'assistants' }
  /** `id` null: a new assistant. */
  | { page: 'assistant'; id: string | null };

export function parseRoute(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean);
  if (parts[0] === 'analytics') {
    if (parts[1] === 'session' && parts[2]) return { page: 'session', id: decodeURIComponent(parts[2]) };
    return { page: 'analytics' };
  }
  if (parts[0] === 'assistants') {
    if (parts[1] === 'new') return { page: 'assistant', id: null };
    if (parts[1] && ASSISTANT_ID.test(parts[1])) return { page: 'assistant', id: parts[1] };
    return { page: 'assistants' };
  }
  // A call with a chosen assistant: #/?assistant=asst-… (an operator's link to try it).
  const assistant = new URLSearchParams(query).get('assistant');
  return assistant && ASSISTANT_ID.test(assistant) ? { page: 'call', assistant } : { page: 'call' };
}

export function hrefOf(route: Route): string {
  switch (route.page) {
    case 'call':
      return route.assistant ? `#/?assistant=${encodeURIComponent(route.assistant)}` : '#/';
    case 'analytics':
      return '#/analytics';
    case 'session':
      return `#/analytics/session/${encodeURIComponent(route.id)}`;
    case 'assistants':
      return '#/assistants';
    case 'assistant':
      return `#/assistants/${route.id === null ? 'new' : encodeURIComponent(route.id)}`;
  }
}
