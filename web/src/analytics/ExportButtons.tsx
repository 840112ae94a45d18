import { useState } from 'react';
import type { ApiClient, ExportFormat } from '../api';
import { useI18n } from '../i18n';

type ExportState = { status: 'idle' } | { status: 'running'; pages: number } | { status: 'error' };

const MIME: Record<ExportFormat, string> = { jsonl: 'application/x-ndjson', csv: 'text/csv;charset=utf-8' };

/** Downloads every session of the range with its transcript, page by page, as one file. */
export function ExportButtons({ api, from, to }: { api: ApiClient; from?: string; to?: string }) {
  const { t } = useI18n();
  const [state, setState] = useState<ExportState>({ status: 'idle' });

  const run = async (format: ExportFormat) => {
    setState({ status: 'running', pages: 0 });
    try {
      const text = await api.exportSessions({ from, to, format }, (pages) => setState({ status: 'running', pages }));
      // A BOM so spreadsheet programs read the CSV's Chinese as UTF-8.
      const blob = new Blob([format === 'csv' ? '\ufeff' + text : text], { type: MIME[format] });
      const url = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = `sessions-${from ?? 'recent'}-${to ?? 'today'}.${format}`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setState({ status: 'idle' });
    } catch {
      setState({ status: 'error' });
    }
  };

  const busy = state.status === 'running';
  return (
    <div className="export" data-testid="export">
      <button type="button" disabled={busy} onClick={() => void run('jsonl')}>
        {t('an.exportJsonl')}
      </button>
      <button type="button" disabled={busy} onClick={() => void run('csv')}>
        {t('an.exportCsv')}
      </button>
      <span role="status" className="muted">
        {state.status === 'running' && t('an.exporting', { pages: state.pages })}
        {state.status === 'error' && t('an.exportFailed')}
      </span>
    </div>
  );
}
