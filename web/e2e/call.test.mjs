// Full-stack browser test: a real call through the local stack (SFU, functions, agent worker).
//   STACK_WEB_URL  page served by the stack (required; the test is skipped without it)
//   STACK_API_URL  functions API, appended as ?api= (optional: otherwise the page's config.json/default)
//   STACK_WAV      what the fake microphone says (optional: made with espeak-ng from STACK_SAY)
//   STACK_SAY      the sentence to synthesise / expect (default below), STACK_LANG en|zh (default en)
// Run: node --test e2e/call.test.mjs
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { artifact, joinCall, launchBrowser } from './lib.mjs';

const WEB = process.env.STACK_WEB_URL;
const LANG = process.env.STACK_LANG === 'zh' ? 'zh' : 'en';
const SAY = process.env.STACK_SAY ?? (LANG === 'zh' ? '你好，今天天气怎么样？' : 'Hello there. What is the capital of France?');
const TURN_TIMEOUT_MS = Number(process.env.STACK_TURN_TIMEOUT_MS ?? 90_000);

/** espeak-ng -> 48 kHz mono 16-bit WAV with trailing silence, so the agent gets a turn before the file loops. */
function makeWav() {
  const raw = artifact('caller-raw.wav');
  const wav = artifact('caller.wav');
  execFileSync('espeak-ng', ['-v', LANG === 'zh' ? 'cmn' : 'en-us', '-s', '150', '-w', raw, SAY]);
  execFileSync('sox', [raw, '-r', '48000', '-c', '1', '-b', '16', wav, 'pad', '1', '8']);
  return wav;
}

/** Significant words of what the caller says: at least one must come back from STT. */
function expectedWords() {
  if (LANG === 'zh') return [...SAY.replace(/[，。？！、\s]/g, '')].filter((c) => c.trim());
  return SAY.toLowerCase().match(/[a-z']{4,}/g) ?? [];
}

// Runs in the page before any script: remember every RTCPeerConnection so getStats can be read.
function recordPeerConnections() {
  const Orig = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Orig(...args);
    window.__pcs.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Orig.prototype;
  Object.setPrototypeOf(window.RTCPeerConnection, Orig);
}

async function inboundAudio(page) {
  return page.evaluate(async () => {
    let energy = 0;
    let level = 0;
    let packets = 0;
    for (const pc of window.__pcs ?? []) {
      if (pc.connectionState === 'closed') continue;
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') {
          energy += s.totalAudioEnergy ?? 0;
          level = Math.max(level, s.audioLevel ?? 0);
          packets += s.packetsReceived ?? 0;
        }
      });
    }
    return { energy, level, packets };
  });
}

/** RMS of what the page's <audio> elements play, measured with a WebAudio analyser over `ms`. */
async function playedRms(page, ms) {
  return page.evaluate(async (ms) => {
    const els = [...document.querySelectorAll('audio')].filter((a) => a.srcObject);
    if (els.length === 0) return 0;
    const ctx = new AudioContext();
    await ctx.resume();
    const analysers = els.map((a) => {
      const an = ctx.createAnalyser();
      an.fftSize = 2048;
      ctx.createMediaStreamSource(a.srcObject).connect(an);
      return an;
    });
    const buf = new Float32Array(2048);
    let max = 0;
    const end = performance.now() + ms;
    while (performance.now() < end) {
      for (const an of analysers) {
        an.getFloatTimeDomainData(buf);
        let sum = 0;
        for (const v of buf) sum += v * v;
        max = Math.max(max, Math.sqrt(sum / buf.length));
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await ctx.close();
    return max;
  }, ms);
}

describe('a real call through the local stack', { skip: WEB ? false : 'STACK_WEB_URL not set' }, () => {
  let browser;
  let page;
  let room = '';

  before(async () => {
    browser = await launchBrowser({ wav: process.env.STACK_WAV ?? makeWav() });
    page = await browser.newPage({ viewport: { width: 412, height: 915 } });
    await page.addInitScript(recordPeerConnections);
    page.on('console', (m) => {
      if (m.type() === 'error') console.error('[page]', m.text());
    });
  });
  after(async () => {
    await browser?.close();
  });

  it('joins, shows both sides of the conversation and plays the agent', async () => {
    const url = new URL(WEB);
    url.searchParams.set('lang', 'en'); // UI language for the first screenshot; call language below
    if (process.env.STACK_API_URL) url.searchParams.set('api', process.env.STACK_API_URL);
    await page.goto(url.toString());
    await joinCall(page, { name: 'E2E Caller', language: LANG });
    await page.locator('[data-testid="room-name"]').waitFor({ timeout: 30_000 });
    room = (await page.locator('[data-testid="room-name"]').getAttribute('data-room')) ?? '';
    assert.match(room, /\S/);
    // The agent joins (its state attribute shows up).
    await page.waitForFunction(() => document.querySelector('[data-agent-state]')?.getAttribute('data-agent-state') !== 'none', null, { timeout: 30_000 });

    // The caller's words come back from STT, then the agent answers.
    const words = expectedWords();
    await page.waitForFunction(
      (words) => {
        const user = [...document.querySelectorAll('[data-speaker="user"] .text')].map((e) => e.textContent.toLowerCase()).join(' ');
        return words.some((w) => user.includes(w));
      },
      words,
      { timeout: TURN_TIMEOUT_MS, polling: 250 },
    );
    await page.waitForFunction(
      () => [...document.querySelectorAll('[data-speaker="agent"] .text')].some((e) => e.textContent.trim().length > 1),
      null,
      { timeout: TURN_TIMEOUT_MS, polling: 250 },
    );

    // The agent's audio is really arriving and playing: inbound energy grows while it speaks.
    const before = await inboundAudio(page);
    await page.waitForFunction(() => document.querySelector('[data-agent-state="speaking"]'), null, { timeout: TURN_TIMEOUT_MS }).catch(() => undefined);
    const rms = await playedRms(page, 3000);
    const afterStats = await inboundAudio(page);
    console.log('agent audio', { before, after: afterStats, rms });
    assert.ok(afterStats.packets > before.packets, 'agent audio packets arrive');
    assert.ok(afterStats.energy - before.energy > 1e-4 || afterStats.level > 0.01, 'agent audio has energy');
    assert.ok(rms > 0.005, `played audio RMS ${rms} above silence`);

    await page.screenshot({ path: artifact('call-en.png'), fullPage: true });
    await page.getByRole('group', { name: /Interface language|界面语言/ }).getByRole('button', { name: '中文' }).click();
    await page.getByRole('button', { name: '挂断' }).waitFor();
    await page.screenshot({ path: artifact('call-zh.png'), fullPage: true });
  });

  it('the session then appears on the analytics page', async () => {
    assert.ok(room, 'a room from the call test');
    await page.getByRole('button', { name: /挂断|Hang up/ }).click();
    await page.getByRole('button', { name: /新通话|New call/ }).waitFor();
    await page.getByRole('button', { name: 'English' }).first().click();
    await page.evaluate(() => (window.location.hash = '#/analytics'));
    const row = page.locator(`[data-session-id="${room}"]`);
    const deadline = Date.now() + 60_000;
    while (!(await row.count())) {
      assert.ok(Date.now() < deadline, `session ${room} not listed on the analytics page`);
      await page.waitForTimeout(2000);
      await page.reload();
      await page.getByTestId('sessions').or(page.getByText('No sessions yet.')).first().waitFor({ timeout: 15_000 });
    }
    await page.setViewportSize({ width: 1100, height: 1300 });
    await page.screenshot({ path: artifact('analytics.png'), fullPage: true });
    await row.locator('a').click();
    await page.getByTestId('detail-transcript').waitFor({ timeout: 15_000 });
    assert.ok((await page.locator('[data-testid="detail-transcript"] li').count()) >= 2);
    await page.screenshot({ path: artifact('analytics-session.png'), fullPage: true });
  });
});
