import type { CallProblem } from '../callErrors';
import { useI18n } from '../i18n';

export function ProblemBox({ problem, title }: { problem: CallProblem; title?: string }) {
  const { t } = useI18n();
  return (
    <div className="problem" role="alert" data-testid="call-error" data-error-key={problem.key}>
      {title && <strong>{title}</strong>}
      <p>{t(problem.key, problem.params)}</p>
      {problem.serverMessage && (
        <p className="server-message" data-testid="server-message">
          {t('error.serverSaid', { message: problem.serverMessage })}
        </p>
      )}
    </div>
  );
}
