// Operator sign-in with oidc-client-ts: authorization code flow with PKCE against the configured issuer
// (Cognito's hosted UI in production, infra/local_oidc locally). Tokens live in sessionStorage (this tab
// only, gone when it closes), never in localStorage and never in a URL: the callback's one-time code is
// removed from the address bar as soon as it has been exchanged.
import { UserManager, WebStorageStateStore, type User } from 'oidc-client-ts';
import type { OperatorAuthConfig } from './config';

export interface Operator {
  /** Who is signed in, for display: name, email or subject. */
  name: string;
  accessToken: string;
  /** Unix seconds, if the issuer said. */
  expiresAt: number | null;
}

export interface OperatorAuth {
  /** The signed-in operator with a token that has not expired, if any. */
  current(): Promise<Operator | null>;
  /** Leave for the issuer's sign-in page; come back to `returnTo` (search + hash of this page). */
  signIn(returnTo: string): Promise<void>;
  /** Forget the tokens here, then end the issuer's session when it offers an end-session endpoint. */
  signOut(): Promise<void>;
  /** Forget the tokens here only (e.g. after the API refused them). */
  forget(): Promise<void>;
}

export interface CallbackResult {
  operator: Operator | null;
  /** Where to go now (search + hash) once the callback parameters are gone. */
  returnTo: string | null;
  error: string | null;
}

const OIDC_PARAMS = ['code', 'state', 'session_state', 'iss', 'error', 'error_description', 'error_uri'];

export function operatorOf(user: User | null): Operator | null {
  if (!user || user.expired || !user.access_token) return null;
  const p = user.profile;
  const name =
    (typeof p.name === 'string' && p.name) ||
    (typeof p.email === 'string' && p.email) ||
    (typeof p.preferred_username === 'string' && p.preferred_username) ||
    p.sub;
  return { name, accessToken: user.access_token, expiresAt: user.expires_at ?? null };
}

/** True when this URL is the issuer sending the browser back (sign-in or sign-out): the app itself
 * never puts `state` in its URLs. */
export function isCallbackUrl(search: string): boolean {
  return new URLSearchParams(search).has('state');
}

/** The page's search string without the callback parameters. */
export function withoutOidcParams(search: string): string {
  const q = new URLSearchParams(search);
  for (const name of OIDC_PARAMS) q.delete(name);
  const rest = q.toString();
  return rest ? `?${rest}` : '';
}

export function createOperatorAuth(config: OperatorAuthConfig, loc: Location = window.location): OperatorAuth & {
  completeCallback(): Promise<CallbackResult>;
} {
  // The registered redirect URI is the page itself (hash routes need no server rewrites).
  const redirectUri = `${loc.origin}${loc.pathname}`;
  const store = new WebStorageStateStore({ store: window.sessionStorage });
  const manager = new UserManager({
    authority: config.issuer,
    client_id: config.clientId,
    redirect_uri: redirectUri,
    post_logout_redirect_uri: redirectUri,
    response_type: 'code',
    scope: config.scope,
    userStore: store,
    stateStore: new WebStorageStateStore({ store: window.sessionStorage }),
    loadUserInfo: false,
    automaticSilentRenew: false,
    monitorSession: false,
  });

  return {
    async current() {
      return operatorOf(await manager.getUser());
    },
    async signIn(returnTo) {
      await manager.signinRedirect({ state: { returnTo } });
    },
    async forget() {
      await manager.removeUser();
    },
    async signOut() {
      // Forget the tokens first: the end-session request then names the client, not the ID token
      // (no token in a URL).
      await manager.removeUser();
      let endSession: string | undefined;
      try {
        endSession = await manager.metadataService.getEndSessionEndpoint();
      } catch {
        endSession = undefined;
      }
      if (endSession) {
        await manager.signoutRedirect();
      } else {
        // No end-session endpoint (e.g. Cognito without one configured): signed out of this app.
        loc.replace(`${redirectUri}#/`);
      }
    },
    async completeCallback() {
      const q = new URLSearchParams(loc.search);
      const clean = withoutOidcParams(loc.search);
      let result: CallbackResult;
      try {
        if (q.has('code') || q.has('error')) {
          const user = await manager.signinCallback(loc.href);
          const state = (user?.state ?? null) as { returnTo?: unknown } | null;
          const returnTo = typeof state?.returnTo === 'string' ? state.returnTo : `${clean}#/analytics`;
          result = { operator: operatorOf(user ?? null), returnTo, error: null };
        } else {
          await manager.signoutCallback(loc.href);
          result = { operator: null, returnTo: `${clean}#/`, error: null };
        }
      } catch (err) {
        result = { operator: null, returnTo: clean, error: err instanceof Error ? err.message : String(err) };
      }
      // The one-time code (or error) leaves the address bar and the history.
      window.history.replaceState(null, '', `${redirectUri}${result.returnTo ?? clean}`);
      return result;
    },
  };
}
