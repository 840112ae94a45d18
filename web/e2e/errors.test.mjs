// Browser tests that need no stack: the call page's error states against a stand-in API.
// Run: npm run build && node --test e2e/errors.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { artifact, close, closedPort, joinCall, launchBrowser, serveDist, startMockApi } from './lib.mjs';

describe('call page error states', () => {
  let browser, web, api, lkUrl;
  let tokenReply = () => [403, { message: 'calls are disabled on this server' }];

  before(async () => {
    browser = await launchBrowser();
    api = await startMockApi({ 'POST /token': (...a) => tokenReply(...a) });
    lkUrl = `ws://127.0.0.1:${await closedPort()}`; // a LiveKit server that is down
    web = await serveDist(api.url, { livekitUrl: lkUrl }); // config.json (and the CSP header) name both
  });
  after(async () => {
    await browser?.close();
    if (web) await close(web.server);
    if (api) await close(api.server);
  });

  async function openPage(search, ctxOptions = {}) {
    const context = await browser.newContext({ viewport: { width: 390, height: 800 }, ...ctxOptions });
    const page = await context.newPage();
    await page.goto(`${web.url}${search}`);
    return page;
  }

  it('a refused token shows the server message', async () => {
    tokenReply = () => [403, { message: 'calls are disabled on this server' }];
    const page = await openPage('?lang=en');
    await joinCall(page, { name: 'Refused' });
    const box = page.getByTestId('call-error');
    await box.waitFor({ timeout: 10_000 });
    assert.equal(await box.getAttribute('data-error-key'), 'error.tokenRefused');
    assert.match(await box.innerText(), /The server refused to start a call/);
    assert.match(await page.getByTestId('server-message').innerText(), /calls are disabled on this server/);
    const sent = JSON.parse(api.requests.at(-1).body);
    assert.deepEqual(sent, { name: 'Refused', language: 'en' });
    await page.screenshot({ path: artifact('call-error-refused-en.png'), fullPage: true });
    await page.context().close();
  });

  it('an unreachable server shows its message (zh)', async () => {
    const down = await serveDist(`http://127.0.0.1:${await closedPort()}`);
    try {
      const page = await browser.newPage({ viewport: { width: 390, height: 800 } });
      await page.goto(`${down.url}?lang=zh`);
      await joinCall(page, { name: '小明', language: 'zh' });
      const box = page.getByTestId('call-error');
      await box.waitFor({ timeout: 15_000 });
      assert.equal(await box.getAttribute('data-error-key'), 'error.unreachable');
      assert.match(await box.innerText(), /无法连接到服务器/);
      await page.screenshot({ path: artifact('call-error-unreachable-zh.png'), fullPage: true });
      await page.context().close();
    } finally {
      await close(down.server);
    }
  });

  it('a call server that cannot be reached after a token is granted', async () => {
    tokenReply = () => [200, { url: lkUrl, token: 'x.y.z', room: 'call-000000000000', identity: 'web-x' }];
    const page = await openPage('?lang=en');
    await joinCall(page, { name: 'NoSfu' });
    const box = page.locator('[data-error-key="error.roomConnect"]');
    await box.waitFor({ timeout: 30_000 });
    assert.match(await box.innerText(), /Could not connect to the call server/);
    await page.context().close();
  });

  it('asks for an access code on 401 and reports a wrong one', async () => {
    // As functions/routes/token.py does: 401 {error, detail} for a missing and for a wrong code.
    tokenReply = () => [401, { error: 'unauthorized', detail: 'a valid access_code is required' }];
    const page = await openPage('?lang=en');
    assert.equal(await page.locator('input[name="access_code"]').count(), 0);
    await joinCall(page, { name: 'Coder' });
    const code = page.locator('input[name="access_code"]');
    await code.waitFor({ timeout: 10_000 });
    assert.equal(await page.getByTestId('call-error').getAttribute('data-error-key'), 'error.accessCodeRequired');
    await code.fill('wrong-code');
    await page.locator('form button[type="submit"]').click();
    await page.locator('[data-error-key="error.accessCodeInvalid"]').waitFor({ timeout: 10_000 });
    assert.equal(JSON.parse(api.requests.at(-1).body).access_code, 'wrong-code');
    await page.screenshot({ path: artifact('call-access-code-en.png'), fullPage: true });
    await page.context().close();
  });

  it('a denied microphone is reported before any token is requested', async () => {
    const denied = await launchBrowser({ fakeUi: false });
    try {
      const before = api.requests.length;
      const page = await denied.newPage();
      await page.goto(`${web.url}?lang=en`);
      await joinCall(page, { name: 'NoMic' });
      const box = page.getByTestId('call-error');
      await box.waitFor({ timeout: 15_000 });
      assert.equal(await box.getAttribute('data-error-key'), 'error.micDenied');
      assert.equal(api.requests.length, before);
    } finally {
      await denied.close();
    }
  });

  it('no microphone at all is reported (en and zh) before any token is requested', async (t) => {
    // Permission granted, but no fake capture device: only the machine's real ones remain.
    const noMic = await launchBrowser({ fakeDevice: false });
    try {
      const before = api.requests.length;
      const page = await noMic.newPage();
      await page.goto(`${web.url}?lang=en`);
      const inputs = await page.evaluate(async () =>
        (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'audioinput').length,
      );
      if (inputs > 0) {
        t.skip(`this machine has ${inputs} real audio input(s)`);
        return;
      }
      await joinCall(page, { name: 'NoDevice' });
      const box = page.getByTestId('call-error');
      await box.waitFor({ timeout: 15_000 });
      assert.equal(await box.getAttribute('data-error-key'), 'error.micMissing');
      assert.match(await box.innerText(), /No microphone was found/);
      await page.screenshot({ path: artifact('call-error-no-mic-en.png'), fullPage: true });
      await page.getByRole('group', { name: /Interface language/ }).getByRole('button', { name: '中文' }).click();
      assert.match(await box.innerText(), /未找到麦克风/);
      await page.screenshot({ path: artifact('call-error-no-mic-zh.png'), fullPage: true });
      assert.equal(api.requests.length, before, 'no token requested without a microphone');
    } finally {
      await noMic.close();
    }
  });
});

describe('runtime configuration', () => {
  it('config.json next to index.html points the page at the API', async () => {
    const api = await startMockApi({ 'POST /token': () => [403, { message: 'configured api answered' }] });
    const web = await serveDist(api.url);
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(`${web.url}?lang=en`);
      await joinCall(page, { name: 'Cfg' });
      await page.getByTestId('server-message').waitFor({ timeout: 10_000 });
      assert.match(await page.getByTestId('server-message').innerText(), /configured api answered/);
    } finally {
      await browser.close();
      await close(web.server);
      await close(api.server);
    }
  });
});

describe('the page connects to the configured servers only (Content-Security-Policy)', () => {
  let browser, api, web, bare, elsewhere, lkUrl;
  let connectionsElsewhere = 0;
  let tokenReply = () => [403, { message: 'calls are disabled on this server' }];

  before(async () => {
    browser = await launchBrowser();
    api = await startMockApi({ 'POST /token': (...a) => tokenReply(...a) });
    // Another server on loopback, as an attacker's would be: it must never see a single connection.
    elsewhere = await startMockApi({ 'POST /token': () => [200, { message: 'the attacker answered' }] });
    elsewhere.server.on('connection', () => (connectionsElsewhere += 1));
    lkUrl = `ws://127.0.0.1:${await closedPort()}`;
    web = await serveDist(api.url, { livekitUrl: lkUrl });
    bare = await serveDist(api.url, { livekitUrl: lkUrl, csp: false }); // a host that sets no header
  });
  after(async () => {
    await browser?.close();
    for (const s of [web, bare, api, elsewhere]) if (s) await close(s.server);
  });

  /** From inside the page: a fetch and a WebSocket to `target`; what happened and which CSP reports fired. */
  function connectFrom(page, target) {
    return page.evaluate(async (target) => {
      const violations = [];
      document.addEventListener('securitypolicyviolation', (e) =>
        violations.push({ directive: e.effectiveDirective, blocked: e.blockedURI }),
      );
      let fetched;
      try {
        const res = await fetch(`${target.http}/token`, { method: 'POST', body: '{}' });
        fetched = `status ${res.status}`;
      } catch (err) {
        fetched = `refused: ${err}`;
      }
      const socket = await new Promise((resolve) => {
        try {
          const ws = new WebSocket(target.ws);
          ws.onopen = () => resolve('open');
          ws.onerror = () => resolve('error');
        } catch (err) {
          resolve(`refused: ${err}`);
        }
      });
      await new Promise((r) => setTimeout(r, 300)); // violation reports are queued as tasks
      return { fetched, socket, violations };
    }, target);
  }

  const target = (url) => ({ http: url, ws: url.replace(/^http/, 'ws') });

  it('the local web server sends the policy: connect-src names self, the API, LiveKit and the issuer', async () => {
    const res = await fetch(web.url);
    const csp = res.headers.get('content-security-policy');
    const connect = csp.split(';').map((d) => d.trim()).find((d) => d.startsWith('connect-src ')).split(' ').slice(1);
    const lkHttp = lkUrl.replace(/^ws/, 'http');
    assert.deepEqual(connect, ["'self'", api.url, lkUrl, lkHttp, 'http://127.0.0.1:9400']);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    const config = await (await fetch(`${web.url}config.json`)).json();
    assert.equal(config.apiUrl, api.url);
    assert.equal(config.livekitUrl, lkUrl);
  });

  it('a fetch or WebSocket to another origin is blocked; the API is reachable', async () => {
    const page = await browser.newPage();
    await page.goto(`${web.url}?lang=en`);
    await page.locator('input[name="name"]').waitFor();
    const blocked = await connectFrom(page, target(elsewhere.url));
    assert.match(blocked.fetched, /^refused/, JSON.stringify(blocked));
    assert.notEqual(blocked.socket, 'open', JSON.stringify(blocked));
    // Each attempt is reported by each policy in force: the header's and the app's <meta> tag (same values).
    const port = new URL(elsewhere.url).port;
    assert.ok(blocked.violations.every((v) => v.directive === 'connect-src'), JSON.stringify(blocked));
    assert.deepEqual(
      [...new Set(blocked.violations.map((v) => v.blocked))].sort(),
      [`http://127.0.0.1:${port}/token`, `ws://127.0.0.1:${port}/`],
      JSON.stringify(blocked),
    );
    const allowed = await connectFrom(page, target(api.url));
    assert.match(allowed.fetched, /^status \d+/, JSON.stringify(allowed));
    assert.ok(!allowed.violations.some((v) => v.blocked.startsWith(api.url)), JSON.stringify(allowed));
    assert.equal(connectionsElsewhere, 0, 'the other server saw no connection');
    await page.close();
  });

  it('?api= in the page URL is ignored (issue 10 #7): the access code goes to the configured API', async () => {
    tokenReply = () => [403, { message: 'configured api answered' }];
    const page = await browser.newPage();
    await page.goto(`${web.url}?lang=en&api=${encodeURIComponent(elsewhere.url)}`);
    await joinCall(page, { name: 'Lured' });
    await page.getByTestId('server-message').waitFor({ timeout: 10_000 });
    assert.match(await page.getByTestId('server-message').innerText(), /configured api answered/);
    assert.equal(connectionsElsewhere, 0);
    assert.equal(elsewhere.requests.length, 0);
    await page.close();
  });

  it('a token naming another LiveKit server is refused before any connection', async () => {
    const foreign = elsewhere.url.replace(/^http/, 'ws');
    tokenReply = () => [200, { url: foreign, token: 'x.y.z', room: 'call-000000000001', identity: 'web-y' }];
    const page = await browser.newPage();
    await page.goto(`${web.url}?lang=en`);
    await joinCall(page, { name: 'Redirected' });
    const box = page.locator('[data-error-key="error.foreignServer"]');
    await box.waitFor({ timeout: 15_000 });
    assert.match(await box.innerText(), /not set up for/);
    assert.equal(connectionsElsewhere, 0);
    await page.close();
  });

  it('without a header the app puts the same policy in a <meta> tag', async () => {
    const res = await fetch(bare.url);
    assert.equal(res.headers.get('content-security-policy'), null);
    const page = await browser.newPage();
    await page.goto(`${bare.url}?lang=en`);
    await page.locator('input[name="name"]').waitFor();
    const meta = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
    assert.match(meta, new RegExp(`connect-src 'self' ${api.url} ${lkUrl} `));
    assert.doesNotMatch(meta, /frame-ancestors/);
    const blocked = await connectFrom(page, target(elsewhere.url));
    assert.match(blocked.fetched, /^refused/, JSON.stringify(blocked));
    assert.ok(blocked.violations.some((v) => v.directive === 'connect-src'), JSON.stringify(blocked));
    const allowed = await connectFrom(page, target(api.url));
    assert.match(allowed.fetched, /^status \d+/, JSON.stringify(allowed));
    assert.equal(connectionsElsewhere, 0);
    await page.close();
  });
});
