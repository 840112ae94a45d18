// Browser tests that need no stack: the call page's error states against a stand-in API.
// Run: npm run build && node --test e2e/errors.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { artifact, close, closedPort, joinCall, launchBrowser, serveDist, startMockApi } from './lib.mjs';

describe('call page error states', () => {
  let browser, web, api;
  let tokenReply = () => [403, { message: 'calls are disabled on this server' }];

  before(async () => {
    browser = await launchBrowser();
    api = await startMockApi({ 'POST /token': (...a) => tokenReply(...a) });
    web = await serveDist(); // no config.json: the page takes ?api=
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
    const page = await openPage(`?lang=en&api=${encodeURIComponent(api.url)}`);
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
    const port = await closedPort();
    const page = await openPage(`?lang=zh&api=${encodeURIComponent(`http://127.0.0.1:${port}`)}`);
    await joinCall(page, { name: '小明', language: 'zh' });
    const box = page.getByTestId('call-error');
    await box.waitFor({ timeout: 15_000 });
    assert.equal(await box.getAttribute('data-error-key'), 'error.unreachable');
    assert.match(await box.innerText(), /无法连接到服务器/);
    await page.screenshot({ path: artifact('call-error-unreachable-zh.png'), fullPage: true });
    await page.context().close();
  });

  it('a call server that cannot be reached after a token is granted', async () => {
    const port = await closedPort();
    tokenReply = () => [200, { url: `ws://127.0.0.1:${port}`, token: 'x.y.z', room: 'call-000000000000', identity: 'web-x' }];
    const page = await openPage(`?lang=en&api=${encodeURIComponent(api.url)}`);
    await joinCall(page, { name: 'NoSfu' });
    const box = page.locator('[data-error-key="error.roomConnect"]');
    await box.waitFor({ timeout: 30_000 });
    assert.match(await box.innerText(), /Could not connect to the call server/);
    await page.context().close();
  });

  it('asks for an access code on 401 and reports a wrong one', async () => {
    // As functions/routes/token.py does: 401 {error, detail} for a missing and for a wrong code.
    tokenReply = () => [401, { error: 'unauthorized', detail: 'a valid access_code is required' }];
    const page = await openPage(`?lang=en&api=${encodeURIComponent(api.url)}`);
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
      await page.goto(`${web.url}?lang=en&api=${encodeURIComponent(api.url)}`);
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
      await page.goto(`${web.url}?lang=en&api=${encodeURIComponent(api.url)}`);
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
