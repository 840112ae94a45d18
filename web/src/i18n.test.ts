import { describe, expect, it } from 'vitest';
import { initialLanguage, messages, translate } from './i18n';

describe('i18n', () => {
  it('has every key in both languages, none empty, and zh actually translated', () => {
    const enKeys = Object.keys(messages.en).sort();
    expect(Object.keys(messages.zh).sort()).toEqual(enKeys);
    for (const k of enKeys) {
      expect(messages.en[k as keyof typeof messages.en].trim()).not.toBe('');
      expect(messages.zh[k as keyof typeof messages.zh].trim()).not.toBe('');
    }
    const same = enKeys.filter(
      (k) => messages.en[k as keyof typeof messages.en] === messages.zh[k as keyof typeof messages.zh],
    );
    // Only language names are allowed to be identical.
    expect(same.sort()).toEqual(['lang.en', 'lang.zh']);
  });
  it('keeps placeholders consistent across languages', () => {
    const ph = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort();
    for (const k of Object.keys(messages.en) as (keyof typeof messages.en)[]) {
      expect(ph(messages.zh[k]), k).toEqual(ph(messages.en[k]));
    }
  });
  it('interpolates parameters and leaves unknown ones', () => {
    expect(translate('en', 'error.agentTimeout', { seconds: 20 })).toBe('The assistant did not join within 20 seconds.');
    expect(translate('zh', 'error.agentTimeout', { seconds: 20 })).toBe('助手未在 20 秒内加入。');
    expect(translate('en', 'call.room', {})).toBe('Room {room}');
  });
  it('chooses the initial language', () => {
    expect(initialLanguage('?lang=zh', 'en', ['en-US'])).toBe('zh');
    expect(initialLanguage('?lang=fr', 'en', ['zh-CN'])).toBe('en');
    expect(initialLanguage('', null, ['zh-TW', 'en'])).toBe('zh');
    expect(initialLanguage('', null, ['de-DE'])).toBe('en');
  });
});
