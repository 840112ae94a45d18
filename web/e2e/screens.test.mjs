// UI screenshots against the stand-in API (no stack needed): join form in en and zh at phone width,
// analytics page and a session's detail, after signing in at a real local OIDC issuer (infra/local_oidc).
// Also checks what those pages show and that the API got the operator's bearer token.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sessions } from './fixtures.mjs';
import { artifact, close, launchBrowser, openSignedIn, serveDistWithIssuer, startMockApi } from './lib.mjs';
import { mockRoutes } from './fixtures.mjs';

describe('screens with a stand-in API', () => {
  let browser, site, web, api;
  before(async () => {
    browser = await launchBrowser();
    api = await startMockApi(mockRoutes());
    site = await serveDistWithIssuer(api.url);
    web = site.web;
  });
  after(async () => {
    await browser?.close();
    await site?.close();
    if (api) await close(api.server);
  });

  for (const lang of ['en', 'zh']) {
    it(`join form (${lang}, phone width)`, async () => {
      const page = await browser.newPage({ viewport: { width: 375, height: 667 } });
      await page.goto(`${web.url}?lang=${lang}`);
      const heading = page.getByRole('heading', { level: 1 });
      assert.equal(await heading.innerText(), lang === 'zh' ? '语音通话' : 'Voice call');
      assert.equal(await page.evaluate(() => document.documentElement.lang), lang === 'zh' ? 'zh-CN' : 'en');
      // Phone width: nothing overflows horizontally.
      assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
      // Keyboard: Tab reaches the name field and then the language choice.
      await page.locator('input[name="name"]').focus();
      await page.keyboard.type('Kai');
      await page.keyboard.press('Tab');
      const focused = await page.evaluate(() => document.activeElement?.getAttribute('name'));
      assert.equal(focused, 'language');
      await page.screenshot({ path: artifact(`join-${lang}.png`) });
      await page.close();
    });
  }

  it('analytics page: totals, charts, paged sessions', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
    await openSignedIn(page, web.url, '?lang=en#/analytics');
    await page.getByTestId('sessions').waitFor();
    const bearer = api.requests.filter((r) => r.path === '/sessions' || r.path === '/analytics');
    assert.ok(bearer.length >= 2 && bearer.every((r) => /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/.test(r.authorization ?? '')));
    assert.match(await page.getByTestId('totals').innerText(), /42/);
    // recharts draws once its container has been measured, after the table can already be there
    await page.locator('.recharts-bar-rectangle').first().waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('[data-testid="sessions"] tbody tr').count(), 10);
    await page.screenshot({ path: artifact('analytics-en.png'), fullPage: true });
    await page.getByRole('button', { name: /Next page/ }).click();
    await page.locator(`[data-session-id="${sessions[11].session_id}"]`).waitFor();
    assert.equal(await page.locator('[data-testid="sessions"] tbody tr').count(), 2);
    assert.equal(api.requests.filter((r) => r.path === '/sessions').at(-1).search, '?cursor=10');
    await page.close();
  });

  it('analytics fits a phone (zh)', async () => {
    const page = await browser.newPage({ viewport: { width: 375, height: 1600 } });
    await openSignedIn(page, web.url, '?lang=zh#/analytics');
    await page.getByTestId('sessions').waitFor();
    assert.match(await page.getByRole('heading', { level: 1 }).innerText(), /数据分析/);
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
    await page.screenshot({ path: artifact('analytics-zh-phone.png'), fullPage: true });
    await page.close();
  });

  it('session detail (zh, phone width)', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 900 } });
    const id = sessions[0].session_id;
    await openSignedIn(page, web.url, '?lang=zh#/analytics');
    await page.locator(`[data-session-id="${id}"] a`).click();
    await page.getByTestId('turn-table').waitFor();
    assert.match(await page.getByTestId('detail-transcript').innerText(), /What is the weather like in Beijing/);
    assert.match(await page.getByTestId('turn-table').innerText(), /1\.31 s/);
    await page.screenshot({ path: artifact('session-detail-zh.png'), fullPage: true });
    await page.close();
  });
});
