// Hash routes, so the static build needs no server-side rewrites.
export type Route = { page: 'call' } | { page: 'analytics' } | { page: 'session'; id: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '').split('?')[0] ?? '';
  const parts = path.split('/').filter(Boolean);
  if (parts[0] === 'analytics') {
    if (parts[1] === 'session' && parts[2]) return { page: 'session', id: decodeURIComponent(parts[2]) };
    return { page: 'analytics' };
  }
  return { page: 'call' };
}

export function hrefOf(route: Route): string {
  switch (route.page) {
    case 'call':
      return '#/';
    case 'analytics':
      return '#/analytics';
    case 'session':
      return `#/analytics/session/${encodeURIComponent(route.id)}`;
  }
}
