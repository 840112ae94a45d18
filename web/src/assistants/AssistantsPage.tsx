import { useCallback, useEffect, useState } from 'react';
import type { ApiClient, Assistant } from '../api';
import { LoadError } from '../analytics/AnalyticsPage';
import { formatDateTime } from '../format';
import { localeOf, useI18n } from '../i18n';
import { hrefOf } from '../route';

type Load<T> = { status: 'loading' } | { status: 'ok'; data: T } | { status: 'error'; error: unknown };

/** Every assistant (latest version each): edit, try in a call, archive or restore. */
export function AssistantsPage({ api }: { api: ApiClient }) {
  const { t, lang } = useI18n();
  const [archived, setArchived] = useState(false);
  const [list, setList] = useState<Load<Assistant[]>>({ status: 'loading' });
  const [busy, setBusy] = useState<string | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);

  const load = useCallback(() => {
    let live = true;
    setList({ status: 'loading' });
    api.listAssistants(archived).then(
      (data) => live && setList({ status: 'ok', data }),
      (error: unknown) => live && setList({ status: 'error', error }),
    );
    return () => {
      live = false;
    };
  }, [api, archived]);
  useEffect(load, [load]);

  const toggle = async (a: Assistant) => {
    setBusy(a.assistant_id);
    setActionError(null);
    try {
      const changed = a.archived ? await api.restoreAssistant(a.assistant_id) : await api.archiveAssistant(a.assistant_id);
      setList((prev) =>
        prev.status !== 'ok'
          ? prev
          : {
              status: 'ok',
              // archived ones leave the list unless archived ones are shown
              data: prev.data
                .map((x) => (x.assistant_id === changed.assistant_id ? changed : x))
                .filter((x) => archived || !x.archived),
            },
      );
    } catch (err) {
      setActionError(err);
    } finally {
      setBusy(null);
    }
  };

  return (
    <div className="analytics assistants">
      <h1>{t('as.title')}</h1>
      <div className="toolbar">
        <a className="button primary" href={hrefOf({ page: 'assistant', id: null })}>
          {t('as.new')}
        </a>
        <label className="inline">
          <input type="checkbox" checked={archived} onChange={(e) => setArchived(e.target.checked)} />{' '}
          {t('as.showArchived')}
        </label>
      </div>
      {actionError !== null && <LoadError error={actionError} />}
      <section data-testid="assistant-list" data-state={list.status}>
        {list.status === 'loading' && <p className="muted">{t('an.loading')}</p>}
        {list.status === 'error' && <LoadError error={list.error} />}
        {list.status === 'ok' &&
          (list.data.length === 0 ? (
            <p className="muted">{t('as.none')}</p>
          ) : (
            <div className="table-wrap">
              <table className="sessions">
                <thead>
                  <tr>
                    <th scope="col">{t('as.name')}</th>
                    <th scope="col">{t('as.id')}</th>
                    <th scope="col">{t('as.version')}</th>
                    <th scope="col">{t('as.languages')}</th>
                    <th scope="col">{t('an.started')}</th>
                    <th scope="col" />
                  </tr>
                </thead>
                <tbody>
                  {list.data.map((a) => (
                    <tr key={a.assistant_id} data-assistant-id={a.assistant_id} data-archived={a.archived}>
                      <td>
                        <a href={hrefOf({ page: 'assistant', id: a.assistant_id })}>{a.name}</a>
                        {a.archived && <span className="badge">{t('as.archivedBadge')}</span>}
                      </td>
                      <td>
                        <code>{a.assistant_id}</code>
                      </td>
                      <td>{a.version}</td>
                      <td>{a.languages.map((l) => t(l === 'zh' ? 'lang.zh' : 'lang.en')).join(' · ')}</td>
                      <td>{formatDateTime(a.updated_at, localeOf(lang))}</td>
                      <td className="actions">
                        {!a.archived && (
                          <a className="chip" href={hrefOf({ page: 'call', assistant: a.assistant_id })}>
                            {t('as.tryCall')}
                          </a>
                        )}
                        {a.assistant_id !== 'default' && (
                          <button type="button" className="chip" disabled={busy !== null} onClick={() => void toggle(a)}>
                            {a.archived ? t('as.restore') : t('as.archive')}
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ))}
      </section>
    </div>
  );
}
