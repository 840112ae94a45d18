import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import type { Language } from '../api';
import type { CallProblem } from '../callErrors';
import { useI18n } from '../i18n';
import { ProblemBox } from './ProblemBox';

export interface JoinValues {
  name: string;
  language: Language;
  accessCode: string;
}

const NAME_KEY = 'voicecall.name';

export function JoinForm(props: {
  busy: boolean;
  busyLabel: string;
  needsAccessCode: boolean;
  problem: CallProblem | null;
  onSubmit: (values: JoinValues) => void;
}) {
  const { t, lang, setLang } = useI18n();
  const id = useId();
  const [name, setName] = useState(() => localStorage.getItem(NAME_KEY) ?? '');
  const [accessCode, setAccessCode] = useState('');
  const codeRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (props.needsAccessCode) codeRef.current?.focus();
  }, [props.needsAccessCode, props.problem]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const trimmed = name.trim();
    if (!trimmed || props.busy) return;
    localStorage.setItem(NAME_KEY, trimmed);
    props.onSubmit({ name: trimmed, language: lang, accessCode: accessCode.trim() });
  };

  return (
    <section className="card join" aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`}>{t('app.title')}</h1>
      <p className="muted">{t('app.tagline')}</p>
      <form onSubmit={submit} aria-busy={props.busy}>
        <label htmlFor={`${id}-name`}>{t('join.name')}</label>
        <input
          id={`${id}-name`}
          name="name"
          autoComplete="nickname"
          required
          maxLength={64}
          placeholder={t('join.namePlaceholder')}
          value={name}
          onChange={(e) => setName(e.target.value)}
          disabled={props.busy}
        />

        <fieldset disabled={props.busy}>
          <legend>{t('join.language')}</legend>
          <div className="segmented">
            {(['zh', 'en'] as const).map((l) => (
              <label key={l} className="segment" lang={l === 'zh' ? 'zh-CN' : 'en'}>
                <input
                  type="radio"
                  name="language"
                  value={l}
                  checked={lang === l}
                  onChange={() => setLang(l)}
                />
                <span>{t(l === 'zh' ? 'lang.zh' : 'lang.en')}</span>
              </label>
            ))}
          </div>
        </fieldset>

        {props.needsAccessCode && (
          <>
            <label htmlFor={`${id}-code`}>{t('join.accessCode')}</label>
            <input
              id={`${id}-code`}
              ref={codeRef}
              name="access_code"
              type="password"
              autoComplete="off"
              required
              value={accessCode}
              aria-describedby={`${id}-code-hint`}
              onChange={(e) => setAccessCode(e.target.value)}
              disabled={props.busy}
            />
            <p id={`${id}-code-hint`} className="hint">
              {t('join.accessCodeHint')}
            </p>
          </>
        )}

        {props.problem && <ProblemBox problem={props.problem} title={t('error.title')} />}

        <button type="submit" className="primary" disabled={props.busy || !name.trim()}>
          {props.busy ? props.busyLabel : t('join.submit')}
        </button>
        <p className="sr-only" aria-live="polite">
          {props.busy ? props.busyLabel : ''}
        </p>
      </form>
    </section>
  );
}
