// The call page against the project's dev SFU (infra/dev_sfu) and a scripted agent (fake_agent.py),
// with a stand-in token/analytics API: real WebRTC audio both ways, real LiveKit text streams, data
// packets and attributes, without needing the agent worker's models.
// The third suite adds an intruder (intruder.py) that injects transcripts and metrics: the page must show
// only the agent's, list everyone in the room, and read the caller's own call back with its call key.
// Needs /work/main/.venv (livekit rtc + api) and infra/dev_sfu. Run: node --test e2e/fake-agent.test.mjs
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  artifact, close, closedPort, joinCall, launchBrowser, repoDir, serveDist, serveDistWithIssuer, startMockApi, webDir,
} from './lib.mjs';
import { callAndCheck, hangUpAndFindSession, recordPeerConnections } from './scenario.mjs';

const PYTHON = process.env.PYTHON ?? join(repoDir, '.venv', 'bin', 'python');
const KEY = 'devkey';
const SECRET = 'secret';
const HEARD = 'hello there what is the capital of France';
const REPLY = 'Hi! Paris is the capital of France.';

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
function livekitToken(identity, name, room) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64url({ alg: 'HS256', typ: 'JWT' });
  const body = b64url({
    iss: KEY, sub: identity, name, nbf: now - 5, exp: now + 600,
    video: { roomJoin: true, room, canPublish: true, canSubscribe: true, canPublishData: true },
  });
  const sig = createHmac('sha256', SECRET).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

function wavOf(text, file, voice = 'en-us') {
  const raw = artifact(`${file}-raw.wav`);
  const out = artifact(`${file}.wav`);
  execFileSync('espeak-ng', ['-v', voice, '-s', '160', '-w', raw, text]);
  execFileSync('sox', [raw, '-r', '48000', '-c', '1', '-b', '16', out, 'pad', '0.5', '4']);
  return out;
}

function startProcess(cmd, args, readyPattern, timeoutMs = 30_000) {
  const proc = spawn(cmd, args, { cwd: repoDir, env: { ...process.env, PYTHONPATH: repoDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const ready = new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${args.join(' ')} not ready:\n${lines.join('')}`)), timeoutMs);
    const onData = (d) => {
      lines.push(d.toString());
      if (readyPattern.test(lines.join(''))) {
        clearTimeout(timer);
        ok();
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`${args.join(' ')} exited ${code}:\n${lines.join('')}`));
    });
  });
  ready.catch(() => undefined);
  return { proc, ready, lines };
}

async function waitHttp(url, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fetch(url);
      return;
    } catch {
      if (Date.now() > end) throw new Error(`${url} did not answer`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function startSfu() {
  const port = await closedPort();
  const sfu = startProcess(PYTHON, ['-m', 'infra.dev_sfu', '--host', '127.0.0.1', '--port', String(port),
    '--api-key', KEY, '--api-secret', SECRET, '--webhook-url', ''], /./, 30_000);
  await waitHttp(`http://127.0.0.1:${port}/`);
  return { ...sfu, url: `ws://127.0.0.1:${port}` };
}

const usable = existsSync(PYTHON) && existsSync(join(repoDir, 'infra', 'dev_sfu', '__main__.py'));

describe('call page with dev SFU and a scripted agent', { skip: usable ? false : 'needs .venv and infra/dev_sfu' }, () => {
  let sfu, agent, api, site, web, browser, page;
  const room = `call-${randomBytes(6).toString('hex')}`;
  const calls = [];

  before(async () => {
    sfu = await startSfu();
    const lkUrl = sfu.url;

    api = await startMockApi({
      'POST /token': (_req, body) => {
        const { name, language } = JSON.parse(body);
        const identity = `web-e2e-${randomBytes(4).toString('hex')}`;
        calls.push({ room, language, started_at: new Date().toISOString() });
        // an assistant that records its calls: the page must say so
        return [200, { url: lkUrl, token: livekitToken(identity, name, room), room, identity, recording: true }];
      },
      'GET /sessions': () => [200, {
        items: calls.map((c) => ({ session_id: c.room, status: 'active', created_at: c.started_at, started_at: c.started_at, language: c.language })),
        next_cursor: null,
      }],
      'GET /sessions/*': () => [200, {
        session_id: room, status: 'finished', started_at: calls[0]?.started_at, language: 'en',
        transcript: [{ role: 'user', text: HEARD, ts: calls[0]?.started_at }, { role: 'agent', text: REPLY }],
        turns: [{ turn: 1, voice_to_voice: 0.9, llm_ttft: 0.2 }],
      }],
      'GET /analytics': () => [200, { overall: { sessions: calls.length, turns: 1 }, days: [] }],
    });
    site = await serveDistWithIssuer(api.url, { livekitUrl: lkUrl });
    web = site.web;

    agent = startProcess(PYTHON, [join(webDir, 'e2e', 'fake_agent.py'), '--url', lkUrl, '--room', room,
      '--api-key', KEY, '--api-secret', SECRET, '--reply-wav', wavOf(REPLY, 'agent-reply'),
      '--heard', HEARD, '--reply', REPLY], /waiting for room/, 30_000);
    await agent.ready;

    browser = await launchBrowser({ wav: wavOf('Hello there. What is the capital of France?', 'caller') });
    page = await browser.newPage({ viewport: { width: 412, height: 915 } });
    await page.addInitScript(recordPeerConnections);
    page.on('console', (m) => m.type() === 'error' && console.error('[page]', m.text()));
  });

  after(async () => {
    await browser?.close();
    for (const p of [agent?.proc, sfu?.proc]) if (p && p.exitCode === null) p.kill('SIGTERM');
    await site?.close();
    if (api) await close(api.server);
    // Shown by pytest only when a test failed: what the agent and the SFU said.
    if (agent) console.log(`--- scripted agent ---\n${agent.lines.join('').split('\n').slice(-60).join('\n')}`);
    if (sfu) console.log(`--- dev SFU ---\n${sfu.lines.join('').split('\n').slice(-60).join('\n')}`);
  });

  it('joins, hears the caller, shows both sides, plays the agent and its latency', async () => {
    const result = await callAndCheck(page, {
      url: `${web.url}?lang=en`, language: 'en', words: ['capital'], turnTimeoutMs: 60_000, prefix: 'fake-agent-call',
    });
    assert.equal(result.room, room);
    // Interim words were replaced by the final transcript: one caller line, complete.
    assert.equal(await page.locator('[data-speaker="user"]').count(), 1);
    assert.equal(result.userText, HEARD.toLowerCase());
    await page.waitForSelector('[data-agent-state="listening"]', { timeout: 30_000 });
    assert.match(await page.locator('[data-speaker="agent"] .text').innerText(), /Paris is the capital of France/);
    assert.match(await page.getByTestId('last-latency').innerText(), /Last reply after \d/);
    assert.match(agent.lines.join(''), /heard the caller \(rms/);
    assert.match(await page.getByTestId('recorded').innerText(), /This call is recorded\./);
  });

  it('the session appears on the analytics page', async () => {
    await hangUpAndFindSession(page, room, { prefix: 'fake-agent-analytics', waitMs: 5000 });
    // The operator's bearer token went to the operator routes only.
    const operatorCalls = api.requests.filter((r) => r.path.startsWith('/sessions') || r.path === '/analytics');
    assert.ok(operatorCalls.length > 0 && operatorCalls.every((r) => r.authorization?.startsWith('Bearer ')));
    assert.ok(api.requests.filter((r) => r.path === '/token').every((r) => !r.authorization));
  });
});

describe('call page without an agent, then losing the SFU', { skip: usable ? false : 'needs .venv and infra/dev_sfu' }, () => {
  let sfu, api, web, browser;
  before(async () => {
    sfu = await startSfu();
    api = await startMockApi({
      'POST /token': (_req, body) => {
        const identity = `web-e2e-${randomBytes(4).toString('hex')}`;
        const room = `call-${randomBytes(6).toString('hex')}`;
        return [200, { url: sfu.url, token: livekitToken(identity, JSON.parse(body).name, room), room, identity }];
      },
    });
    web = await serveDist(api.url, { livekitUrl: sfu.url });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    if (sfu?.proc.exitCode === null) sfu.proc.kill('SIGTERM');
    if (web) await close(web.server);
    if (api) await close(api.server);
  });

  it('reports an agent that does not join in time, and shows a banner while reconnecting', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 800 } });
    await page.goto(`${web.url}?lang=en&agentTimeout=3`);
    await joinCall(page, { name: 'Lonely' });
    await page.getByTestId('room-name').waitFor({ timeout: 30_000 });
    assert.match(await page.getByTestId('agent-state').innerText(), /Waiting for the assistant/);
    const box = page.locator('[data-error-key="error.agentTimeout"]');
    await box.waitFor({ timeout: 10_000 });
    assert.match(await box.innerText(), /did not join within 3 seconds/);
    await page.screenshot({ path: artifact('call-agent-timeout-en.png'), fullPage: true });

    sfu.proc.kill('SIGKILL'); // the connection drops: livekit-client starts reconnecting
    await page.getByTestId('reconnecting').waitFor({ timeout: 20_000 });
    assert.match(await page.getByTestId('reconnecting').innerText(), /reconnecting/);
    await page.screenshot({ path: artifact('call-reconnecting-en.png'), fullPage: true });
  });
});

describe('call page trusts the agent only and shows who is in the call', { skip: usable ? false : 'needs .venv and infra/dev_sfu' }, () => {
  let sfu, agent, intruder, api, web, browser, page;
  const room = `call-${randomBytes(6).toString('hex')}`;
  const callKey = randomBytes(32).toString('base64url');
  const AGENT = 'agent-fake';

  before(async () => {
    sfu = await startSfu();
    api = await startMockApi({
      'POST /token': (_req, body) => {
        const identity = `web-e2e-${randomBytes(4).toString('hex')}`;
        return [200, { url: sfu.url, token: livekitToken(identity, JSON.parse(body).name, room), room, identity, call_key: callKey }];
      },
      'GET /calls/*': (req, _body, url) =>
        req.headers['x-call-key'] === callKey && url.pathname === `/calls/${room}/transcript`
          ? [200, {
            session_id: room, status: 'finished', ended_at: new Date().toISOString(), end_reason: 'caller left',
            transcript: [{ role: 'user', text: HEARD }, { role: 'agent', text: REPLY }],
          }]
          : [403, { error: 'call_key_invalid', detail: 'this call key does not open this call' }],
    });
    web = await serveDist(api.url, { livekitUrl: sfu.url });
    agent = startProcess(PYTHON, [join(webDir, 'e2e', 'fake_agent.py'), '--url', sfu.url, '--room', room,
      '--api-key', KEY, '--api-secret', SECRET, '--identity', AGENT, '--reply-wav', wavOf(REPLY, 'agent-reply'),
      '--heard', HEARD, '--reply', REPLY], /waiting for room/, 30_000);
    await agent.ready;
    intruder = startProcess(PYTHON, [join(webDir, 'e2e', 'intruder.py'), '--url', sfu.url, '--room', room,
      '--api-key', KEY, '--api-secret', SECRET, '--agent', AGENT, '--caller-prefix', 'web-e2e-'], /waiting for room/, 30_000);
    await intruder.ready;
    browser = await launchBrowser({ wav: wavOf('Hello there. What is the capital of France?', 'caller') });
    page = await browser.newPage({ viewport: { width: 412, height: 915 } });
    await page.addInitScript(recordPeerConnections);
  });

  after(async () => {
    await browser?.close();
    for (const p of [intruder?.proc, agent?.proc, sfu?.proc]) if (p && p.exitCode === null) p.kill('SIGTERM');
    if (web) await close(web.server);
    if (api) await close(api.server);
    if (intruder) console.log(intruder.lines.join('').split('\n').filter((l) => l.startsWith('intruder')).join('\n'));
  });

  it('ignores an injected text stream and metrics packet from a non-agent participant', async () => {
    await callAndCheck(page, {
      url: `${web.url}?lang=en`, language: 'en', words: ['capital'], turnTimeoutMs: 60_000, prefix: 'call-intruder',
    });
    await page.waitForSelector('[data-agent-state="listening"]', { timeout: 30_000 });
    // The real turn arrived (the filter is no blanket): the agent's reply and its turn-1 latency.
    assert.match(await page.locator('[data-speaker="agent"] .text').innerText(), /Paris is the capital of France/);
    await page.getByTestId('last-latency').waitFor({ timeout: 20_000 });
    // The intruder kept injecting all along; none of it reached the page.
    assert.match(intruder.lines.join(''), /injected \d+ rounds/);
    await page.waitForTimeout(2000);
    const text = await page.locator('body').innerText();
    assert.doesNotMatch(text, /INJECTED/);
    assert.equal(await page.locator('[data-speaker="user"]').count(), 1);
    assert.equal(await page.locator('[data-speaker="agent"]').count(), 1);
    const turns = await page.$$eval('[data-testid="turn-latencies"] li', (lis) => lis.map((li) => li.textContent));
    assert.deepEqual(turns.map((t) => t.replace(/:.*/, '')), ['Turn 1'], `turns shown: ${turns}`);
  });

  it('shows everyone in the call, the stranger marked', async () => {
    const people = await page.$$eval('[data-testid="participants"] li', (lis) =>
      lis.map((li) => ({ identity: li.dataset.identity, role: li.dataset.role, text: li.textContent })));
    assert.deepEqual(people.map((p) => p.role), ['you', 'assistant', 'other'], JSON.stringify(people));
    assert.equal(people[1].identity, AGENT);
    assert.equal(people[2].identity, 'web-mallory-1');
    assert.match(people[2].text, /Someone else: Voicecall Agent/);
    assert.match(await page.getByTestId('stranger-warning').innerText(), /Someone other than you and the assistant/);
    await page.screenshot({ path: artifact('call-stranger-en.png'), fullPage: true });
  });

  it('reads the own call back with the call key after hanging up', async () => {
    await page.getByRole('button', { name: 'Hang up' }).click();
    await page.getByRole('button', { name: 'Show the transcript of this call' }).click();
    const own = page.locator('[data-testid="own-transcript"][data-state="ok"]');
    await own.waitFor({ timeout: 10_000 });
    assert.match(await own.innerText(), /Paris is the capital of France/);
    assert.match(await own.getByTestId('end-reason').innerText(), /Ended: you hung up/);
    const reads = api.requests.filter((r) => r.path.startsWith('/calls/'));
    assert.equal(reads.length, 1);
    assert.equal(reads[0].callKey, callKey, 'the key travels in X-Call-Key');
    assert.equal(reads[0].authorization, undefined);
    assert.ok(!reads[0].path.includes(callKey) && !reads[0].search.includes(callKey), 'never in the URL');
    await page.screenshot({ path: artifact('call-own-transcript-en.png'), fullPage: true });
  });
});

describe('call page shows the call state the functions put in the room metadata', { skip: usable ? false : 'needs .venv and infra/dev_sfu' }, () => {
  let sfu, agent, second, api, web, browser, page;
  const room = `call-${randomBytes(6).toString('hex')}`;

  const fakeAgent = (identity) =>
    startProcess(PYTHON, [join(webDir, 'e2e', 'fake_agent.py'), '--url', sfu.url, '--room', room,
      '--api-key', KEY, '--api-secret', SECRET, '--identity', identity, '--reply-wav', wavOf(REPLY, 'agent-reply'),
      '--heard', HEARD, '--reply', REPLY], /waiting for room/, 30_000);
  // livekit-api's RoomService from Python, as functions/livekit_rooms.py calls it
  const roomState = (...args) =>
    execFileSync(PYTHON, [join(webDir, 'e2e', 'room_state.py'), '--url', sfu.url, '--room', room,
      '--api-key', KEY, '--api-secret', SECRET, ...args], { cwd: repoDir, encoding: 'utf8' });
  const presence = (value) => page.waitForSelector(`[data-agent-presence="${value}"]`, { timeout: 20_000 });

  before(async () => {
    sfu = await startSfu();
    api = await startMockApi({
      'POST /token': (_req, body) => {
        const identity = `web-e2e-${randomBytes(4).toString('hex')}`;
        return [200, { url: sfu.url, token: livekitToken(identity, JSON.parse(body).name, room), room, identity }];
      },
    });
    web = await serveDist(api.url, { livekitUrl: sfu.url });
    agent = fakeAgent('agent-first');
    await agent.ready;
    browser = await launchBrowser({ wav: wavOf('Hello there. What is the capital of France?', 'caller') });
    page = await browser.newPage({ viewport: { width: 412, height: 915 } });
  });
  after(async () => {
    await browser?.close();
    for (const p of [second?.proc, agent?.proc, sfu?.proc]) if (p && p.exitCode === null) p.kill('SIGTERM');
    if (web) await close(web.server);
    if (api) await close(api.server);
  });

  it('an agent that drops is shown as gone, not stuck on its last state', async () => {
    await page.goto(`${web.url}?lang=en`);
    await joinCall(page, { name: 'Caller' });
    await presence('present');
    await page.waitForFunction(() => /Listening|Speaking|Thinking/.test(document.querySelector('[data-testid="agent-state"]')?.textContent ?? ''), null, { timeout: 30_000 });
    agent.proc.kill('SIGKILL'); // the worker dies mid-call
    await presence('gone');
    assert.match(await page.getByTestId('agent-state').innerText(), /The assistant is no longer in the call/);
    assert.doesNotMatch(await page.getByTestId('agent-state').innerText(), /Speaking|Listening|Thinking/);
    assert.equal(await page.locator('[data-testid="participants"] li[data-role="assistant"]').count(), 0);
  });

  it('"reconnecting" from the room metadata, until the new agent is in the call', async () => {
    roomState('--metadata', JSON.stringify({ voicecall: { agent: 'reconnecting' } }));
    await presence('reconnecting');
    assert.match(await page.getByTestId('agent-state').innerText(), /The assistant is reconnecting…/);
    await page.screenshot({ path: artifact('call-agent-reconnecting-en.png'), fullPage: true });
    second = fakeAgent('agent-second');
    await second.ready;
    await presence('present'); // the metadata still says "reconnecting": the new agent wins
    const people = await page.$$eval('[data-testid="participants"] li', (lis) => lis.map((li) => [li.dataset.role, li.dataset.identity]));
    assert.deepEqual(people.map(([role]) => role), ['you', 'assistant']);
    assert.equal(people[1][1], 'agent-second');
  });

  it('"left" with its reason, then the ended call says so (en and zh)', async () => {
    second.proc.kill('SIGKILL');
    await presence('reconnecting'); // the metadata still says so, until the functions write "left"
    assert.equal(await page.locator('[data-testid="participants"] li[data-role="assistant"]').count(), 0);
    roomState('--metadata', '{"voicecall":{"agent":"left","reason":"agent lost"}}');
    await presence('left');
    const note = page.getByTestId('agent-left');
    assert.match(await note.innerText(), /The assistant has left the call: the assistant's connection was lost/);
    assert.equal(await note.getAttribute('data-reason'), 'agent lost');
    roomState('--delete'); // the functions end the call
    await page.getByRole('heading', { name: 'Call ended.' }).waitFor({ timeout: 20_000 });
    assert.match(await page.getByTestId('agent-left').innerText(), /has left the call: the assistant's connection was lost/);
    assert.equal(await page.getByTestId('call-error').count(), 0, 'an ended call is no error');
    await page.screenshot({ path: artifact('call-agent-left-en.png'), fullPage: true });
    await page.getByRole('group', { name: /Interface language/ }).getByRole('button', { name: '中文' }).click();
    assert.match(await page.getByTestId('agent-left').innerText(), /助手已离开通话：助手的连接中断了/);
    await page.screenshot({ path: artifact('call-agent-left-zh.png'), fullPage: true });
  });
});
