// The recording player on a session's page through the local stack: the API's presigned link, the file
// from the local S3 (the page's CSP lets that origin play media), and a click on a transcript line
// playing from there. tests/web/test_web.py seeds the recorded call (STACK_RECORDED_SESSION).
// Run: node --test e2e/recording.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { artifact, launchBrowser, openSignedIn } from './lib.mjs';

const WEB = process.env.STACK_WEB_URL;
const ROOM = process.env.STACK_RECORDED_SESSION;
const OPERATOR = { username: process.env.STACK_OPERATOR_USERNAME, password: process.env.STACK_OPERATOR_PASSWORD };

describe('recording player through the local stack', { skip: WEB && ROOM ? false : 'STACK_RECORDED_SESSION not set' }, () => {
  let browser;
  let page;
  const problems = [];

  before(async () => {
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
    page.on('console', (m) => {
      if (m.type() === 'error') {
        problems.push(m.text());
        console.error('[page]', m.text());
      }
    });
    await openSignedIn(page, WEB, `#/analytics/session/${encodeURIComponent(ROOM)}?lang=en`, OPERATOR);
  });
  after(async () => browser?.close());

  it('plays the recording, and a transcript line seeks to where it was said', async () => {
    await page.locator('[data-testid="recording"][data-state="ok"]').waitFor({ timeout: 20_000 });
    const audio = page.getByTestId('recording-audio');
    await page.waitForFunction(
      () => {
        const a = document.querySelector('[data-testid="recording-audio"]');
        return a && a.readyState >= 1 && a.duration > 0;
      },
      null,
      { timeout: 20_000 },
    );
    const duration = await audio.evaluate((a) => a.duration);
    assert.ok(Math.abs(duration - 8) < 0.5, `the player read ${duration} s of the 8 s recording`);
    // "Hi there." was final 5 s in: the player starts 1.5 s before that
    const line = page.locator('[data-testid="detail-transcript"] li[data-offset="3.5"]');
    assert.match(await line.innerText(), /Hi there\./);
    await line.getByRole('button').click();
    await page.waitForFunction(
      () => {
        const a = document.querySelector('[data-testid="recording-audio"]');
        return a && !a.paused && a.currentTime >= 3.5;
      },
      null,
      { timeout: 10_000 },
    );
    assert.ok((await audio.evaluate((a) => a.currentTime)) < 6, 'played from the line, not from the start');
    assert.deepEqual(problems.filter((p) => /Content Security Policy|media/i.test(p)), []);
    await page.screenshot({ path: artifact('recording-player.png'), fullPage: true });
  });

  it('deletes the session with its recording, after the operator confirms', async () => {
    const link = await page.getByTestId('recording-audio').getAttribute('src');
    page.once('dialog', (d) => d.accept());
    await page.getByRole('button', { name: 'Delete this session' }).click();
    await page.waitForURL(/#\/analytics$/, { timeout: 20_000 });
    // the link was valid a moment ago: S3 no longer has the file
    const status = (await fetch(link)).status;
    assert.equal(status, 404, `the recording is gone (S3 answered ${status})`);
  });
});
