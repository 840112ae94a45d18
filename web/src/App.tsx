import { lazy, Suspense, useCallback, useEffect, useMemo, useState } from 'react';
import { createApiClient, type Language } from './api';
import type { AppConfig } from './config';
import { I18nContext, initialLanguage, translate, type I18n } from './i18n';
import { hrefOf, parseRoute, type Route } from './route';
import { CallPage } from './call/CallPage';

// Analytics (and its charting library) loads only when visited, keeping the call page light.
const AnalyticsPage = lazy(() => import('./analytics/AnalyticsPage').then((m) => ({ default: m.AnalyticsPage })));
const SessionDetailPage = lazy(() =>
  import('./analytics/SessionDetailPage').then((m) => ({ default: m.SessionDetailPage })),
);

const LANG_KEY = 'voicecall.lang';

function savedLanguage(): string | null {
  try {
    return localStorage.getItem(LANG_KEY);
  } catch {
    return null;
  }
}

export function App({ config }: { config: AppConfig }) {
  const [lang, setLangState] = useState<Language>(() =>
    initialLanguage(window.location.search, savedLanguage(), navigator.languages ?? [navigator.language]),
  );
  const [route, setRoute] = useState<Route>(() => parseRoute(window.location.hash));
  const api = useMemo(() => createApiClient(config.apiUrl), [config.apiUrl]);

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
          <a href={hrefOf({ page: 'analytics' })} aria-current={route.page !== 'call' ? 'page' : undefined}>
            {t('nav.analytics')}
          </a>
        </nav>
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
        {route.page === 'call' && <CallPage api={api} agentJoinTimeoutMs={config.agentJoinTimeoutMs} />}
        <Suspense fallback={<p className="muted">{t('an.loading')}</p>}>
          {route.page === 'analytics' && <AnalyticsPage api={api} />}
          {route.page === 'session' && <SessionDetailPage api={api} id={route.id} />}
        </Suspense>
      </main>
    </I18nContext.Provider>
  );
}
