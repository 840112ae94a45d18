import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { createApiClient, type Language } from './api';
import type { Operator, OperatorAuth } from './auth';
import type { AppConfig } from './config';
import { I18nContext, initialLanguage, translate, type I18n } from './i18n';
import { hrefOf, parseRoute, type Route } from './route';
import { CallPage } from './call/CallPage';

// Analytics (and its charting library) loads only when visited, keeping the call page light.
const AnalyticsPage = lazy(() => import('./analytics/AnalyticsPage').then((m) => ({ default: m.AnalyticsPage })));
const SessionDetailPage = lazy(() =>
  import('./analytics/SessionDetailPage').then((m) => ({ default: m.SessionDetailPage })),
);
const AssistantsPage = lazy(() => import('./assistants/AssistantsPage').then((m) => ({ default: m.AssistantsPage })));
const AssistantEditor = lazy(() => import('./assistants/AssistantEditor').then((m) => ({ default: m.AssistantEditor })));

const LANG_KEY = 'voicecall.lang';

function savedLanguage(): string | null {
  try {
    return localStorage.getItem(LANG_KEY);
  } catch {
    return null;
  }
}

/** How the page was reached: a sign-in callback carries its outcome. */
export interface InitialAuth {
  operator: Operator | null;
  error: string | null;
}

type AuthNotice = { key: 'auth.expired' } | { key: 'auth.callbackError'; message: string } | null;

export function App({ config, auth, initialAuth }: { config: AppConfig; auth: OperatorAuth; initialAuth: InitialAuth }) {
  const [lang, setLangState] = useState<Language>(() =>
    initialLanguage(window.location.search, savedLanguage(), navigator.languages ?? [navigator.language]),
  );
  const [route, setRoute] = useState<Route>(() => parseRoute(window.location.hash));
  const [operator, setOperator] = useState<Operator | null>(initialAuth.operator);
  const [notice, setNotice] = useState<AuthNotice>(() =>
    initialAuth.error ? { key: 'auth.callbackError', message: initialAuth.error } : null,
  );
  // The API client reads the token at call time; a refused token signs the operator out here.
  const operatorRef = useRef(operator);
  operatorRef.current = operator;
  // The call page's client never holds the operator's token; operator pages use their own client, bound
  // to the configured API only.
  const api = useMemo(() => createApiClient(config.apiUrl), [config.apiUrl]);
  const operatorApi = useMemo(
    () =>
      createApiClient(config.apiUrl, fetch.bind(globalThis), {
        accessToken: () => operatorRef.current?.accessToken ?? null,
        refused: () => {
          void auth.forget();
          setOperator(null);
          setNotice({ key: 'auth.expired' });
        },
      }),
    [config.apiUrl, auth],
  );
  const [signingOut, setSigningOut] = useState(false);
  const operatorPage = route.page !== 'call';
  // Signed-out visits to operator pages go to the issuer's sign-in, unless the last attempt just
  // failed or the API refused the token (then the operator chooses to sign in again: no loops).
  const redirecting = operatorPage && !operator && !notice && !signingOut;
  const redirectStarted = useRef(false);
  useEffect(() => {
    if (!redirecting || redirectStarted.current) return;
    redirectStarted.current = true;
    auth.signIn(`${window.location.search}${window.location.hash}`).catch((err: unknown) => {
      redirectStarted.current = false;
      setNotice({ key: 'auth.callbackError', message: err instanceof Error ? err.message : String(err) });
    });
  }, [redirecting, auth]);
  // An access token that expires while a page is open counts as signed out.
  useEffect(() => {
    if (!operator?.expiresAt) return;
    const ms = operator.expiresAt * 1000 - Date.now();
    const timer = window.setTimeout(() => {
      setOperator(null);
      setNotice({ key: 'auth.expired' });
    }, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    return () => window.clearTimeout(timer);
  }, [operator]);

  useEffect(() => {
    const onHash = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  const setLang = useCallback((next: Language) => {
    setLangState(next);
    try {
      localStorage.setItem(LANG_KEY, next);
    } catch {
      // Private mode: the choice just isn't remembered.
    }
  }, []);

  useEffect(() => {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.title = translate(lang, 'app.title');
  }, [lang]);

  const i18n: I18n = useMemo(
    () => ({ lang, setLang, t: (key, params) => translate(lang, key, params) }),
    [lang, setLang],
  );
  const t = i18n.t;

  return (
    <I18nContext.Provider value={i18n}>
      <button
        type="button"
        className="skip-link"
        onClick={() => document.getElementById('main')?.focus()}
      >
        {t('app.skip')}
      </button>
      <header className="topbar">
        <nav aria-label={t('app.title')} className="nav">
          <a href={hrefOf({ page: 'call' })} aria-current={route.page === 'call' ? 'page' : undefined}>
            {t('nav.call')}
          </a>
          <a
            href={hrefOf({ page: 'analytics' })}
            aria-current={route.page === 'analytics' || route.page === 'session' ? 'page' : undefined}
          >
            {t('nav.analytics')}
          </a>
          <a
            href={hrefOf({ page: 'assistants' })}
            aria-current={route.page === 'assistants' || route.page === 'assistant' ? 'page' : undefined}
          >
            {t('nav.assistants')}
          </a>
        </nav>
        {operator && (
          <div className="operator" data-testid="operator">
            <span className="small">{t('auth.signedInAs', { name: operator.name })}</span>
            <button
              type="button"
              className="chip"
              onClick={() => {
                setSigningOut(true);
                setOperator(null);
                void auth.signOut();
              }}
            >
              {t('auth.signOut')}
            </button>
          </div>
        )}
        <div className="lang-switch" role="group" aria-label={t('nav.language')}>
          {(['zh', 'en'] as const).map((l) => (
            <button
              key={l}
              type="button"
              className="chip"
              aria-pressed={lang === l}
              lang={l === 'zh' ? 'zh-CN' : 'en'}
              onClick={() => setLang(l)}
            >
              {t(l === 'zh' ? 'lang.zh' : 'lang.en')}
            </button>
          ))}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {route.page === 'call' && (
          <CallPage
            api={api}
            livekitUrl={config.livekitUrl}
            agentJoinTimeoutMs={config.agentJoinTimeoutMs}
            assistantId={route.assistant}
          />
        )}
        {operatorPage && !operator && (
          <div className="sign-in" data-testid="sign-in-required" data-state={redirecting ? 'redirecting' : 'signed-out'}>
            <h1>{t(route.page === 'assistants' || route.page === 'assistant' ? 'nav.assistants' : 'nav.analytics')}</h1>
            {redirecting ? (
              <p className="muted">{t('auth.redirecting')}</p>
            ) : (
              <>
                <p role="alert">
                  {notice?.key === 'auth.callbackError'
                    ? t('auth.callbackError', { message: notice.message })
                    : t(notice?.key ?? 'auth.required')}
                </p>
                <button
                  type="button"
                  className="primary"
                  onClick={() => {
                    redirectStarted.current = false;
                    setNotice(null);
                  }}
                >
                  {t('auth.signIn')}
                </button>
              </>
            )}
          </div>
        )}
        {operatorPage && operator && (
          <Suspense fallback={<p className="muted">{t('an.loading')}</p>}>
            {route.page === 'analytics' && <AnalyticsPage api={operatorApi} />}
            {route.page === 'session' && <SessionDetailPage api={operatorApi} id={route.id} />}
            {route.page === 'assistants' && <AssistantsPage api={operatorApi} />}
            {/* keyed: another assistant (or a new one) is a new editor, not this one's state */}
            {route.page === 'assistant' && <AssistantEditor key={route.id ?? 'new'} api={operatorApi} id={route.id} />}
          </Suspense>
        )}
      </main>
    </I18nContext.Provider>
  );
}
