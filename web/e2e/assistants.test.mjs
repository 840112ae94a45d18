// The assistant editor through the real local stack (web app, functions on moto, local issuer): create,
// edit, version history, a stale editor told of a newer version, archive and restore. Started by
// tests/web/test_web.py with STACK_WEB_URL, STACK_FUNCTIONS_URL, STACK_OPERATOR_USERNAME/PASSWORD.
// Run: node --test e2e/assistants.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { artifact, launchBrowser, openSignedIn } from './lib.mjs';

const WEB = process.env.STACK_WEB_URL;
const API = process.env.STACK_FUNCTIONS_URL;
const OPERATOR = { username: process.env.STACK_OPERATOR_USERNAME, password: process.env.STACK_OPERATOR_PASSWORD };

/** In the page, with the signed-in operator's own token: PUT a new version behind the editor's back. */
async function saveElsewhere(page, id, change) {
  return page.evaluate(
    async ([api, id, change]) => {
      const key = Object.keys(sessionStorage).find((k) => k.startsWith('oidc.user:'));
      const token = JSON.parse(sessionStorage.getItem(key)).access_token;
      const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
      const current = await (await fetch(`${api}/assistants/${id}`, { headers })).json();
      const { assistant_id: _i, version, archived: _a, created_at: _c, updated_at: _u, ...spec } = current;
      const res = await fetch(`${api}/assistants/${id}`, {
        method: 'PUT',
        headers,
        body: JSON.stringify({ ...spec, ...change, base_version: version }),
      });
      return { status: res.status, body: await res.json() };
    },
    [API, id, change],
  );
}

const editorVersion = (page) => page.getByTestId('assistant-editor').getAttribute('data-version');

describe('assistant editor through the local stack', { skip: WEB ? false : 'STACK_WEB_URL not set' }, () => {
  let browser;
  let page;
  let id = '';

  before(async () => {
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
    page.on('console', (m) => m.type() === 'error' && console.error('[page]', m.text()));
    await openSignedIn(page, WEB, '#/assistants?lang=en', OPERATOR);
  });
  after(async () => browser?.close());

  it('lists the seeded default assistant', async () => {
    await page.locator('[data-testid="assistant-list"][data-state="ok"]').waitFor({ timeout: 20_000 });
    const row = page.locator('tr[data-assistant-id="default"]');
    assert.match(await row.innerText(), /Echo \(default\)/);
    assert.equal(await row.getByRole('button', { name: 'Archive' }).count(), 0, 'the default cannot be archived');
  });

  it('creates an assistant, previewing the greeting as it is typed', async () => {
    await page.getByRole('link', { name: 'New assistant' }).click();
    await page.getByTestId('assistant-editor').waitFor();
    await page.locator('input[name="name"]').fill('Bookings desk');
    await page.locator('textarea[name="instructions-zh"]').fill('你帮来电者预订餐厅的位子。');
    await page.locator('input[name="greeting-zh"]').fill('你好，这里是订位台。');
    await page.locator('textarea[name="instructions-en"]').fill('You take restaurant table bookings.');
    await page.locator('input[name="greeting-en"]').fill('Hello, bookings desk.');
    await page.locator('input[name="voice-en"]').fill('en-joe');
    await page.locator('input[name="max_call_s"]').fill('600');
    await page.locator('input[name="recording"]').check();
    const preview = page.getByTestId('assistant-preview');
    assert.match(await preview.locator('[data-preview-lang="zh"]').innerText(), /你好，这里是订位台。/);
    assert.match(await preview.locator('[data-preview-lang="en"]').innerText(), /You take restaurant table bookings\./);
    // The greeting in the chosen voice, synthesised by the model server and played by the page.
    const played = await page.evaluate(() => {
      window.__played = [];
      const real = HTMLMediaElement.prototype.play;
      HTMLMediaElement.prototype.play = function () {
        this.addEventListener('loadedmetadata', () => window.__played.push(this.duration), { once: true });
        return real.call(this);
      };
      return true;
    });
    assert.ok(played);
    for (const lang of ['zh', 'en']) {
      const voice = page.getByTestId(`voice-preview-${lang}`);
      await voice.getByRole('button').click();
      await page.waitForFunction((n) => window.__played.length >= n, lang === 'zh' ? 1 : 2, { timeout: 60_000 });
      assert.equal(await voice.locator('.problem').count(), 0, `no error for ${lang}`);
    }
    const durations = await page.evaluate(() => window.__played);
    assert.ok(durations.every((d) => d > 0.5 && d < 20), `spoken greetings last ${durations}`);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL(/#\/assistants\/asst-[0-9a-f]{12}$/, { timeout: 20_000 });
    id = page.url().split('/').at(-1);
    await page.locator('[data-testid="assistant-editor"][data-version="1"]').waitFor({ timeout: 20_000 });
    assert.equal(await page.locator('input[name="greeting-en"]').inputValue(), 'Hello, bookings desk.');
    assert.equal(await page.locator('input[name="max_call_s"]').inputValue(), '600');
  });

  it('every save is a new version, listed with the old ones', async () => {
    await page.locator('input[name="greeting-en"]').fill('Hello, bookings desk. Which day?');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved as version 2.').waitFor({ timeout: 20_000 });
    await page.locator('[data-testid="versions"] li').nth(1).waitFor();
    assert.deepEqual(await page.locator('[data-testid="versions"] li').evaluateAll((lis) => lis.map((li) => li.dataset.version)), ['2', '1']);
    await page.locator('[data-testid="versions"] li[data-version="1"]').getByRole('button', { name: 'Load' }).click();
    await page.getByTestId('older-version').waitFor();
    assert.equal(await page.locator('input[name="greeting-en"]').inputValue(), 'Hello, bookings desk.');
    await page.screenshot({ path: artifact('assistant-editor.png'), fullPage: true });
  });

  it('a stale editor is told of the newer version and saves nothing over it', async () => {
    await page.locator('[data-testid="versions"] li[data-version="2"]').getByRole('button', { name: 'Load' }).click();
    await page.getByTestId('older-version').waitFor({ state: 'detached' });
    const other = await saveElsewhere(page, id, { name: 'Bookings (edited elsewhere)' });
    assert.equal(other.status, 200, JSON.stringify(other.body));
    assert.equal(other.body.version, 3);
    await page.locator('input[name="name"]').fill('Bookings (my edit)');
    await page.getByRole('button', { name: 'Save' }).click();
    const conflict = page.getByTestId('conflict');
    await conflict.waitFor({ timeout: 20_000 });
    assert.equal(await editorVersion(page), '2', 'nothing was saved');
    assert.equal(await page.locator('input[name="name"]').inputValue(), 'Bookings (my edit)', 'the edit is kept');
    await conflict.getByRole('button', { name: 'Load the latest version' }).click();
    await page.locator('[data-testid="assistant-editor"][data-version="3"]').waitFor({ timeout: 20_000 });
    assert.equal(await page.locator('input[name="name"]').inputValue(), 'Bookings (edited elsewhere)');
  });

  it('archives and restores from the list; an archived assistant needs "show archived"', async () => {
    await page.getByRole('link', { name: /Back to assistants/ }).click();
    const row = page.locator(`tr[data-assistant-id="${id}"]`);
    await row.waitFor({ timeout: 20_000 });
    assert.match(await row.innerText(), /Bookings \(edited elsewhere\)/);
    assert.equal(await row.getByRole('link', { name: 'Try a call' }).getAttribute('href'), `#/?assistant=${id}`);
    await row.getByRole('button', { name: 'Archive' }).click();
    await row.waitFor({ state: 'detached', timeout: 20_000 });
    await page.getByLabel('Show archived').check();
    const archived = page.locator(`tr[data-assistant-id="${id}"][data-archived="true"]`);
    await archived.waitFor({ timeout: 20_000 });
    await archived.getByRole('button', { name: 'Restore' }).click();
    await page.locator(`tr[data-assistant-id="${id}"][data-archived="false"]`).waitFor({ timeout: 20_000 });
    const issued = await fetch(`${API}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Caller', language: 'en', assistant_id: id }),
    });
    assert.equal(issued.status, 200, 'a restored assistant takes calls again');
    const grant = await issued.json();
    assert.equal(grant.assistant_version, 3);
    assert.equal(grant.recording, true);
  });
});
