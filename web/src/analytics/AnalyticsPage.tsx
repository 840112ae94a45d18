import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import {
  ApiError,
  OUTCOMES,
  SENTIMENTS,
  TAG_KINDS,
  type AnalyticsQuery,
  type AnalyticsReport,
  type ApiClient,
  type CallSummary,
  type Outcome,
  type Sentiment,
  type SessionPage,
  type TagKind,
} from '../api';
import { formatDateTime, formatDuration } from '../format';
import { localeOf, useI18n, type MessageKey } from '../i18n';
import { hrefOf } from '../route';
import { ProblemBox } from '../call/ProblemBox';
import { LatencyChart, PerDayChart } from './Charts';
import { ExportButtons } from './ExportButtons';

type Load<T> = { status: 'loading' } | { status: 'ok'; data: T } | { status: 'error'; error: unknown };

export function AnalyticsPage({ api }: { api: ApiClient }) {
  const { t, lang } = useI18n();
  const id = useId();
  const [draft, setDraft] = useState<AnalyticsQuery>({});
  const [query, setQuery] = useState<AnalyticsQuery>({});
  const [report, setReport] = useState<Load<AnalyticsReport>>({ status: 'loading' });
  // Cursor-paged list: cursors[i] is the cursor that loads page i (page 0 has none).
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [pageIndex, setPageIndex] = useState(0);
  const [page, setPage] = useState<Load<SessionPage>>({ status: 'loading' });

  useEffect(() => {
    let live = true;
    setReport({ status: 'loading' });
    api.getAnalytics(query).then(
      (data) => live && setReport({ status: 'ok', data }),
      (error: unknown) => live && setReport({ status: 'error', error }),
    );
    return () => {
      live = false;
    };
  }, [api, query]);

  const cursor = cursors[pageIndex] ?? null;
  useEffect(() => {
    let live = true;
    setPage({ status: 'loading' });
    // The list takes the same filters as the report, but not the provider (a report-only filter).
    const { provider: _provider, ...filter } = query;
    api.listSessions({ ...filter, cursor }).then(
      (data) => {
        if (!live) return;
        setPage({ status: 'ok', data });
        setCursors((prev) => {
          const copy = prev.slice(0, pageIndex + 1);
          copy[pageIndex + 1] = data.next_cursor;
          return copy;
        });
      },
      (error: unknown) => live && setPage({ status: 'error', error }),
    );
    return () => {
      live = false;
    };
  }, [api, query, cursor, pageIndex]);

  const apply = useCallback(
    (e: FormEvent) => {
      e.preventDefault();
      setQuery({ ...draft });
      setCursors([null]);
      setPageIndex(0);
    },
    [draft],
  );

  const nextCursor = cursors[pageIndex + 1];
  // The list endpoint may not count turns; show the column only when it does.
  const showTurns = page.status === 'ok' && page.data.items.some((s) => s.turns !== null);
  const statusLabel = (status: string) =>
    status === 'created' || status === 'active' || status === 'finished' ? t(`an.status.${status}`) : status;
  const locale = localeOf(lang);

  return (
    <div className="analytics">
      <h1>{t('an.title')}</h1>
      <form className="filters" onSubmit={apply}>
        <label htmlFor={`${id}-from`}>{t('an.from')}</label>
        <input
          id={`${id}-from`}
          type="date"
          value={draft.from ?? ''}
          onChange={(e) => setDraft({ ...draft, from: e.target.value || undefined })}
        />
        <label htmlFor={`${id}-to`}>{t('an.to')}</label>
        <input
          id={`${id}-to`}
          type="date"
          value={draft.to ?? ''}
          onChange={(e) => setDraft({ ...draft, to: e.target.value || undefined })}
        />
        <label htmlFor={`${id}-lang`}>{t('an.langFilter')}</label>
        <select
          id={`${id}-lang`}
          value={draft.lang ?? ''}
          onChange={(e) => setDraft({ ...draft, lang: e.target.value || undefined })}
        >
          <option value="">{t('an.all')}</option>
          <option value="zh">{t('lang.zh')}</option>
          <option value="en">{t('lang.en')}</option>
        </select>
        <label htmlFor={`${id}-provider`}>{t('an.provider')}</label>
        <input
          id={`${id}-provider`}
          value={draft.provider ?? ''}
          placeholder={t('an.all')}
          onChange={(e) => setDraft({ ...draft, provider: e.target.value || undefined })}
        />
        <label htmlFor={`${id}-assistant`}>{t('an.assistant')}</label>
        <input
          id={`${id}-assistant`}
          value={draft.assistant ?? ''}
          placeholder={t('an.all')}
          pattern="default|asst-[0-9a-f]{12}"
          onChange={(e) => setDraft({ ...draft, assistant: e.target.value.trim() || undefined })}
        />
        <label htmlFor={`${id}-topic`}>{t('an.topic')}</label>
        <input
          id={`${id}-topic`}
          value={draft.topic ?? ''}
          placeholder={t('an.all')}
          maxLength={40}
          onChange={(e) => setDraft({ ...draft, topic: e.target.value.trim() || undefined })}
        />
        <label htmlFor={`${id}-outcome`}>{t('an.outcome')}</label>
        <select
          id={`${id}-outcome`}
          value={draft.outcome ?? ''}
          onChange={(e) => setDraft({ ...draft, outcome: OUTCOMES.find((o) => o === e.target.value) })}
        >
          <option value="">{t('an.all')}</option>
          {OUTCOMES.map((o) => (
            <option key={o} value={o}>
              {t(`an.outcome.${o}`)}
            </option>
          ))}
        </select>
        <label htmlFor={`${id}-sentiment`}>{t('an.sentiment')}</label>
        <select
          id={`${id}-sentiment`}
          value={draft.sentiment ?? ''}
          onChange={(e) => setDraft({ ...draft, sentiment: SENTIMENTS.find((o) => o === e.target.value) })}
        >
          <option value="">{t('an.all')}</option>
          {SENTIMENTS.map((o) => (
            <option key={o} value={o}>
              {t(`an.sentiment.${o}`)}
            </option>
          ))}
        </select>
        <button type="submit" className="primary">
          {t('an.apply')}
        </button>
      </form>

      {report.status === 'loading' && <p className="muted">{t('an.loading')}</p>}
      {report.status === 'error' && <LoadError error={report.error} />}
      {report.status === 'ok' && (
        <>
          <section aria-labelledby={`${id}-totals`}>
            <h2 id={`${id}-totals`}>{t('an.totals')}</h2>
            <dl className="totals" data-testid="totals">
              <Stat label={t('an.sessions')} value={String(report.data.totals.sessions)} />
              <Stat label={t('an.turns')} value={String(report.data.totals.turns)} />
              <Stat label={t('an.interruptions')} value={String(report.data.totals.interruptions)} />
              <Stat label={t('an.errors')} value={String(report.data.totals.errors)} />
              <Stat label={t('an.avgDuration')} value={formatDuration(report.data.totals.avg_duration_s)} />
            </dl>
          </section>
          <div className="charts">
            <section aria-labelledby={`${id}-lat`}>
              <h2 id={`${id}-lat`}>{t('an.latencyChart')}</h2>
              <LatencyChart report={report.data} />
            </section>
            <section aria-labelledby={`${id}-day`}>
              <h2 id={`${id}-day`}>{t('an.perDayChart')}</h2>
              <PerDayChart days={report.data.per_day} />
            </section>
          </div>
          <section aria-labelledby={`${id}-tags`}>
            <h2 id={`${id}-tags`}>{t('an.tags')}</h2>
            <div className="tags" data-testid="tag-counts">
              {TAG_KINDS.map((kind) => (
                <TagTable key={kind} kind={kind} counts={report.data.tags[kind]} />
              ))}
            </div>
          </section>
        </>
      )}

      {/* data-state lets tests (and scripts) wait for the list itself, not for any "Loading…" line. */}
      <section aria-labelledby={`${id}-list`} data-testid="session-list" data-state={page.status}>
        <h2 id={`${id}-list`}>{t('an.sessionList')}</h2>
        <ExportButtons api={api} from={query.from} to={query.to} />
        {page.status === 'loading' && <p className="muted">{t('an.loading')}</p>}
        {page.status === 'error' && <LoadError error={page.error} />}
        {page.status === 'ok' &&
          (page.data.items.length === 0 ? (
            <p className="muted">{t('an.noSessions')}</p>
          ) : (
            <div className="table-wrap">
              <table className="sessions" data-testid="sessions">
                <thead>
                  <tr>
                    <th scope="col">{t('an.session')}</th>
                    <th scope="col">{t('an.started')}</th>
                    <th scope="col">{t('an.status')}</th>
                    <th scope="col">{t('an.language')}</th>
                    {showTurns && <th scope="col">{t('an.turns')}</th>}
                    <th scope="col">{t('an.duration')}</th>
                    <th scope="col">{t('an.assistant')}</th>
                    <th scope="col">{t('an.summary')}</th>
                  </tr>
                </thead>
                <tbody>
                  {page.data.items.map((s) => (
                    <tr key={s.session_id} data-session-id={s.session_id}>
                      <td>
                        <a href={hrefOf({ page: 'session', id: s.session_id })}>{s.session_id}</a>
                      </td>
                      <td>{formatDateTime(s.started_at, locale)}</td>
                      <td>{s.status ? statusLabel(s.status) : '—'}</td>
                      <td>{s.language ?? '—'}</td>
                      {showTurns && <td>{s.turns ?? '—'}</td>}
                      <td>{formatDuration(s.duration_s)}</td>
                      <td>
                        {s.assistant_id ?? '—'}
                        {s.assistant_version !== null && ` v${s.assistant_version}`}
                      </td>
                      <td className="summary-cell">{s.summary ? <SummaryTags summary={s.summary} /> : '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ))}
        <nav className="pager" aria-label={t('an.sessionList')}>
          <button type="button" disabled={pageIndex === 0} onClick={() => setPageIndex((i) => i - 1)}>
            ‹ {t('an.prev')}
          </button>
          <span aria-current="page">{pageIndex + 1}</span>
          <button
            type="button"
            disabled={!nextCursor || page.status !== 'ok'}
            onClick={() => setPageIndex((i) => i + 1)}
          >
            {t('an.more')} ›
          </button>
        </nav>
      </section>
    </div>
  );
}

export function tagLabel(t: ReturnType<typeof useI18n>['t'], kind: TagKind, tag: string): string {
  if (tag === 'none') return t('an.tagNone');
  if (kind === 'outcome' && OUTCOMES.includes(tag as Outcome)) return t(`an.outcome.${tag as Outcome}`);
  if (kind === 'sentiment' && SENTIMENTS.includes(tag as Sentiment)) return t(`an.sentiment.${tag as Sentiment}`);
  return tag;
}

/** The post-call summary in a list row: its tags, with the two sentences on hover and for screen readers. */
export function SummaryTags({ summary }: { summary: CallSummary }) {
  const { t } = useI18n();
  return (
    <span title={summary.summary} data-outcome={summary.outcome}>
      <span className="tag">{summary.topic}</span>
      <span className="tag">{tagLabel(t, 'outcome', summary.outcome)}</span>
      <span className="tag">{tagLabel(t, 'sentiment', summary.sentiment)}</span>
      <span className="sr-only">{summary.summary}</span>
    </span>
  );
}

function TagTable({ kind, counts }: { kind: TagKind; counts: [string, number][] }) {
  const { t } = useI18n();
  const heading = { assistant: 'an.assistant', topic: 'an.topic', outcome: 'an.outcome', sentiment: 'an.sentiment' } as const;
  return (
    <table className="sessions" data-tag-kind={kind}>
      <thead>
        <tr>
          <th scope="col">{t(heading[kind])}</th>
          <th scope="col">{t('an.sessions')}</th>
        </tr>
      </thead>
      <tbody>
        {counts.length === 0 ? (
          <tr>
            <td colSpan={2} className="muted">
              {t('an.noData')}
            </td>
          </tr>
        ) : (
          counts.map(([tag, n]) => (
            <tr key={tag} data-tag={tag}>
              <td>{tagLabel(t, kind, tag)}</td>
              <td>{n}</td>
            </tr>
          ))
        )}
      </tbody>
    </table>
  );
}

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <div className="stat">
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}

export function LoadError({ error }: { error: unknown }) {
  const { t } = useI18n();
  const kind = error instanceof ApiError ? error.kind : 'bad_response';
  const keys: Partial<Record<typeof kind, MessageKey>> = {
    unreachable: 'error.unreachable',
    server: 'error.server',
    signed_out: 'auth.expired',
    forbidden: 'auth.forbidden',
  };
  const key = keys[kind] ?? 'an.loadError';
  const serverMessage = error instanceof ApiError ? error.serverMessage : undefined;
  return <ProblemBox problem={{ key, serverMessage }} title={t('an.loadError')} />;
}
