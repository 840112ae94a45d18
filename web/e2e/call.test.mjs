// Full-stack browser test: a real call through the local stack (SFU, functions, agent worker).
//   STACK_WEB_URL  page served by the stack, e.g. http://127.0.0.1:5173/ (required; skipped without it)
//   STACK_OPERATOR_USERNAME / STACK_OPERATOR_PASSWORD  the stack's operator (the analytics page signs in)
//   STACK_WAV      what the fake microphone says (required for zh: a neural-voice WAV, since espeak-ng's
//                  Mandarin is barely intelligible; for en made with espeak-ng from STACK_SAY if absent)
//   STACK_SAY      sentence to synthesise and expect back from STT; STACK_LANG en|zh (default en):
//                  with zh both sides of the transcript must show Chinese text
// Run: node --test e2e/call.test.mjs
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { artifact, launchBrowser } from './lib.mjs';
import { callAndCheck, hangUpAndFindSession, recordPeerConnections } from './scenario.mjs';

const WEB = process.env.STACK_WEB_URL;
const LANG = process.env.STACK_LANG === 'zh' ? 'zh' : 'en';
const SAY = process.env.STACK_SAY ?? (LANG === 'zh' ? '请给我一杯咖啡。' : 'Hello there. What is the capital of France?');
const HAN = /\p{Script=Han}/u;

/** espeak-ng -> 48 kHz mono 16-bit WAV with trailing silence, so the agent gets its turn before the file loops. */
function makeWav() {
  if (LANG === 'zh') throw new Error('STACK_WAV is required for a Mandarin caller (a neural voice; see tests/web/test_web.py)');
  const raw = artifact(`caller-${LANG}-raw.wav`);
  const wav = artifact(`caller-${LANG}.wav`);
  execFileSync('espeak-ng', ['-v', 'en-us', '-s', '150', '-w', raw, SAY]);
  execFileSync('sox', [raw, '-r', '48000', '-c', '1', '-b', '16', wav, 'pad', '1', '10']);
  return wav;
}

/** Significant words of what the caller says: at least one must come back from STT. */
function expectedWords() {
  if (LANG === 'zh') return [...SAY.replace(/[，。？！、\s]/g, '')];
  return SAY.toLowerCase().match(/[a-z']{4,}/g) ?? [];
}

describe('a real call through the local stack', { skip: WEB ? false : 'STACK_WEB_URL not set' }, () => {
  let browser;
  let page;
  let room = '';

  before(async () => {
    browser = await launchBrowser({ wav: process.env.STACK_WAV ?? makeWav() });
    page = await browser.newPage({ viewport: { width: 412, height: 915 } });
    await page.addInitScript(recordPeerConnections);
    page.on('console', (m) => m.type() === 'error' && console.error('[page]', m.text()));
  });
  after(async () => browser?.close());

  it('joins, shows both sides of the conversation and plays the agent', async () => {
    const url = new URL(WEB);
    url.searchParams.set('lang', 'en');
    const turnTimeoutMs = Number(process.env.STACK_TURN_TIMEOUT_MS ?? 90_000);
    const prefix = LANG === 'zh' ? 'call-speaking-zh' : 'call';
    let texts;
    ({ room, ...texts } = await callAndCheck(page, { url: url.toString(), language: LANG, words: expectedWords(), turnTimeoutMs, prefix }));
    console.log('transcript', JSON.stringify(texts));
    if (LANG === 'zh') {
      assert.match(texts.userText, HAN, 'the caller line is Chinese text');
      // The reply to the Chinese caller line (not just the greeting) must be Chinese too.
      const reply = await page
        .waitForFunction(
          (han) => {
            const isHan = (li) => new RegExp(han, 'u').test(li.querySelector('.text')?.textContent ?? '');
            const lis = [...document.querySelectorAll('[data-testid="transcript"] > li')];
            const said = lis.findIndex((li) => li.dataset.speaker === 'user' && isHan(li));
            const answer = lis.slice(said + 1).find((li) => li.dataset.speaker === 'agent' && isHan(li));
            return said !== -1 && answer ? answer.querySelector('.text').textContent : false;
          },
          HAN.source,
          { timeout: 30_000, polling: 250 },
        )
        .then((h) => h.jsonValue())
        .catch(() => assert.fail(`no Chinese agent reply after the caller's line: ${JSON.stringify(texts)}`));
      console.log('agent reply:', reply);
    }
  });

  it('the session then appears on the analytics page', async () => {
    assert.ok(room, 'a room from the call test');
    // The analytics page is for operators: sign in as the stack's seeded operator.
    const operator = process.env.STACK_OPERATOR_PASSWORD
      ? { username: process.env.STACK_OPERATOR_USERNAME, password: process.env.STACK_OPERATOR_PASSWORD }
      : undefined;
    await hangUpAndFindSession(page, room, { prefix: LANG === 'zh' ? 'analytics-speaking-zh' : 'analytics', operator });
  });
});
