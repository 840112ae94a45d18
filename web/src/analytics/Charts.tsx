import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { LATENCY_STAGES, type AnalyticsReport, type DayStats } from '../api';
import { useI18n, type MessageKey } from '../i18n';

export function stageRows(report: AnalyticsReport, label: (stage: string) => string) {
  return LATENCY_STAGES.filter((s) => report.stages[s]).map((s) => ({
    stage: label(s),
    p50: msOrNull(report.stages[s]?.p50),
    p95: msOrNull(report.stages[s]?.p95),
  }));
}

function msOrNull(seconds: number | null | undefined): number | null {
  return seconds === null || seconds === undefined ? null : Math.round(seconds * 1000);
}

export function LatencyChart({ report }: { report: AnalyticsReport }) {
  const { t } = useI18n();
  const rows = stageRows(report, (s) => t(`stage.${s}` as MessageKey));
  if (rows.length === 0) return <p className="muted">{t('an.noData')}</p>;
  return (
    <figure className="chart" aria-label={t('an.latencyChart')}>
      <ResponsiveContainer width="100%" height={260}>
        <BarChart data={rows} layout="vertical" margin={{ left: 8, right: 16 }}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis type="number" unit=" ms" />
          <YAxis type="category" dataKey="stage" width={120} />
          <Tooltip formatter={(v) => `${String(v)} ms`} />
          <Legend />
          <Bar dataKey="p50" name="p50" fill="#3b82f6" isAnimationActive={false} />
          <Bar dataKey="p95" name="p95" fill="#f59e0b" isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
      {/* The same numbers as a table, for screen readers and copy-paste. */}
      <table className="sr-only">
        <caption>{t('an.latencyChart')}</caption>
        <tbody>
          {rows.map((r) => (
            <tr key={r.stage}>
              <th scope="row">{r.stage}</th>
              <td>{r.p50 ?? '—'} ms</td>
              <td>{r.p95 ?? '—'} ms</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

export function PerDayChart({ days }: { days: DayStats[] }) {
  const { t } = useI18n();
  if (days.length === 0) return <p className="muted">{t('an.noData')}</p>;
  return (
    <figure className="chart" aria-label={t('an.perDayChart')}>
      <ResponsiveContainer width="100%" height={220}>
        <BarChart data={days} margin={{ left: 0, right: 16 }}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="date" />
          <YAxis allowDecimals={false} />
          <Tooltip />
          <Bar dataKey="sessions" name={t('an.sessions')} fill="#10b981" isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
      <table className="sr-only">
        <caption>{t('an.perDayChart')}</caption>
        <tbody>
          {days.map((d) => (
            <tr key={d.date}>
              <th scope="row">{d.date}</th>
              <td>{d.sessions}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
