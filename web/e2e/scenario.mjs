// The call-page scenario shared by the real-stack test and the fake-agent test: join, see both
// sides of the conversation, check the agent's audio is playing, take screenshots, then find the
// session on the analytics page.
import assert from 'node:assert/strict';
import { artifact, joinCall, OPERATOR, signInAtIssuer } from './lib.mjs';

// Runs in the page before any script: remember every RTCPeerConnection so getStats can be read.
export function recordPeerConnections() {
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

export async function inboundAudio(page) {
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

/** Peak RMS of what the page's <audio> elements play, measured with a WebAudio analyser for `ms`. */
export async function playedRms(page, ms) {
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
      await new Promise((r) => setTimeout(r, 30));
    }
    await ctx.close();
    return max;
  }, ms);
}

const spokenText = (speaker) =>
  [...document.querySelectorAll(`[data-speaker="${speaker}"] .text`)].map((e) => e.textContent.toLowerCase()).join(' ');

/**
 * Join and hold one turn. `words`: at least one must appear in the caller's transcript.
 * Returns the room (session id) and both sides' text. Leaves the call up; screenshots `${prefix}-en.png` / `-zh.png`.
 */
export async function callAndCheck(page, { url, language = 'en', words, turnTimeoutMs = 90_000, prefix = 'call' }) {
  await page.goto(url);
  await joinCall(page, { name: 'E2E Caller', language });
  await page.locator('[data-testid="room-name"]').waitFor({ timeout: 30_000 });
  const room = (await page.locator('[data-testid="room-name"]').getAttribute('data-room')) ?? '';
  assert.match(room, /\S/, 'room name shown');
  await page.waitForFunction(
    () => document.querySelector('[data-agent-state]')?.getAttribute('data-agent-state') !== 'none',
    null,
    { timeout: turnTimeoutMs },
  ).catch(async (err) => {
    await page.screenshot({ path: artifact(`${prefix}-failure.png`), fullPage: true });
    throw new Error(`no agent joined room ${room}: ${err}`);
  });

  // Record agent state changes (a short 'speaking' is easy to miss by polling).
  await page.evaluate(() => {
    window.__states = [];
    const el = document.querySelector('[data-agent-state]');
    const note = () => {
      const s = el.getAttribute('data-agent-state');
      if (window.__states.at(-1) !== s) window.__states.push(s);
    };
    note();
    new MutationObserver(note).observe(el, { attributes: true, attributeFilter: ['data-agent-state'] });
  });

  // A final caller line with one of the expected words (interim text has been replaced by then).
  await page.waitForFunction((words) => {
    const user = [...document.querySelectorAll('[data-speaker="user"][data-final="true"] .text')]
      .map((e) => e.textContent.toLowerCase())
      .join(' ');
    return words.some((w) => user.includes(w));
  }, words, { timeout: turnTimeoutMs, polling: 250 });
  // States from here on belong to the reply (the greeting's 'speaking' came earlier).
  const mark = await page.evaluate(() => window.__states.length - 1);
  // The fake microphone loops its file; mute now so the reply is not interrupted by the next loop.
  await page.getByRole('button', { name: /^(Mute microphone|麦克风静音)$/ }).click();
  await page.getByRole('button', { name: /^(Unmute microphone|取消麦克风静音)$/ }).waitFor({ timeout: 5000 });

  // Audio: inbound packets/energy grow while the agent speaks, and the <audio> output is not silent.
  const before = await inboundAudio(page);
  await page
    .waitForFunction((mark) => window.__states.slice(mark).includes('speaking'), mark, { timeout: turnTimeoutMs })
    .catch(async (err) => {
      await page.screenshot({ path: artifact(`${prefix}-failure.png`), fullPage: true });
      throw new Error(`agent never speaking; states ${JSON.stringify(await page.evaluate(() => window.__states))}: ${err}`);
    });
  // Under load the relay can lag behind the state attribute: keep measuring for a while.
  let rms = 0;
  let after = before;
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    rms = Math.max(rms, await playedRms(page, 1000));
    after = await inboundAudio(page);
    const energetic = after.energy - before.energy > 1e-4 || after.level > 0.01;
    if (energetic && rms > 0.005) break;
  }
  console.log('agent audio', JSON.stringify({ before, after, rms }));
  assert.ok(after.packets > before.packets, 'agent audio packets arrive');
  assert.ok(after.energy - before.energy > 1e-4 || after.level > 0.01, 'agent audio has energy (getStats)');
  assert.ok(rms > 0.005, `played audio RMS ${rms} above silence (WebAudio analyser)`);

  await page.waitForFunction(
    () => [...document.querySelectorAll('[data-speaker="agent"] .text')].some((e) => e.textContent.trim().length > 1),
    null,
    { timeout: turnTimeoutMs, polling: 250 },
  );
  // Caller line comes before the agent's reply.
  const order = await page.$$eval('[data-testid="transcript"] > li', (lis) => lis.map((li) => li.dataset.speaker));
  assert.ok(order.indexOf('user') !== -1 && order.indexOf('user') < order.lastIndexOf('agent'), `order ${order}`);

  // The turn's latency packet follows the reply; wait for it a little so the screenshot shows it.
  const latency = await page
    .getByTestId('last-latency')
    .waitFor({ timeout: 20_000 })
    .then(() => page.getByTestId('last-latency').innerText())
    .catch(() => 'no voicecall.metrics packet within 20 s');
  console.log('latency shown:', latency);
  await page.getByRole('group', { name: /Interface language|界面语言/ }).getByRole('button', { name: 'English' }).click();
  await page.screenshot({ path: artifact(`${prefix}-en.png`), fullPage: true });
  await page.getByRole('group', { name: /Interface language|界面语言/ }).getByRole('button', { name: '中文' }).click();
  await page.getByRole('button', { name: '挂断' }).waitFor();
  await page.screenshot({ path: artifact(`${prefix}-zh.png`), fullPage: true });
  await page.getByRole('group', { name: /界面语言/ }).getByRole('button', { name: 'English' }).click();
  return { room, userText: await page.evaluate(spokenText, 'user'), agentText: await page.evaluate(spokenText, 'agent') };
}

/** The analytics list once it has settled (not "loading"): fails at once on an error state. */
async function settledSessionList(page, timeout) {
  const list = page.locator('[data-testid="session-list"]:not([data-state="loading"])');
  await list.waitFor({ timeout });
  if ((await list.getAttribute('data-state')) === 'error') {
    throw new Error(`analytics list shows an error: ${await list.innerText()}`);
  }
}

/**
 * Hang up, then find the session on the analytics page (reloading while the API catches up). The
 * analytics page is for operators: the app sends the browser to the issuer, where `operator` signs in.
 */
export async function hangUpAndFindSession(page, room, { prefix = 'analytics', waitMs = 60_000, operator = OPERATOR } = {}) {
  await page.getByRole('button', { name: 'Hang up' }).click();
  await page.getByRole('button', { name: 'New call' }).waitFor();
  const appUrl = page.url().split('#')[0].split('?')[0];
  await page.evaluate(() => (window.location.hash = '#/analytics'));
  const signedIn = page.getByTestId('operator');
  const login = page.locator('input[name="password"]');
  await Promise.race([signedIn.waitFor({ timeout: 20_000 }), login.waitFor({ timeout: 20_000 })]);
  if (await login.count()) await signInAtIssuer(page, operator, appUrl);
  await signedIn.waitFor({ timeout: 20_000 });
  const row = page.locator(`[data-session-id="${room}"]`);
  const deadline = Date.now() + waitMs;
  try {
    for (;;) {
      // Wait for the list's own answer: "Loading…" lines are on the page before it arrives.
      await settledSessionList(page, 20_000);
      if (await row.count()) break;
      assert.ok(Date.now() < deadline, `session ${room} not listed on the analytics page`);
      await page.waitForTimeout(2000);
      await page.reload();
    }
  } catch (err) {
    await page.screenshot({ path: artifact(`${prefix}-failure.png`), fullPage: true });
    const text = await page.locator('body').innerText().catch(() => '');
    throw new Error(`${err instanceof Error ? err.message : err}\npage text:\n${text.slice(0, 2000)}`);
  }
  await page.setViewportSize({ width: 1100, height: 1300 });
  await page.screenshot({ path: artifact(`${prefix}.png`), fullPage: true });
  await row.locator('a').click();
  await page.getByRole('heading', { level: 1, name: new RegExp(room) }).waitFor({ timeout: 15_000 });
  const detail = page.locator('[data-testid="session-detail"]:not([data-state="loading"])');
  await detail.waitFor({ timeout: 15_000 });
  assert.equal(await detail.getAttribute('data-state'), 'ok', `session page: ${await detail.innerText()}`);
  await page.screenshot({ path: artifact(`${prefix}-session.png`), fullPage: true });
}
