// Drives Debian's chromium (playwright-core) against a live `pushdeploy serve` for
// tests/api/console.rs. Modes:
//   flow  — the overview shows a registry push live (no reload), then the policy page promotes
//           back, rolls back and resumes through the UI with a token; screenshots of both pages.
//   inert — values carrying markup (tag names, commit trailers and authors, error texts, an
//           unmatched push's tag) show as text: no element, no script run.
// The Rust test talks to this script on stdin/stdout: a line `await-push` asks it to push a
// tag, and it answers with the tag on stdin. The last stdout line is a JSON report.
// Every request outside 127.0.0.1 is aborted and reported (the browser stays on loopback).
import { createInterface } from 'node:readline';

const { chromium } = await import(process.env.PLAYWRIGHT_CORE);
const base = process.env.CONSOLE_URL;
const token = process.env.CONSOLE_TOKEN;
const artifacts = process.env.ARTIFACTS;
const mode = process.argv[2];
const reader = createInterface({ input: process.stdin });
const lines = reader[Symbol.asyncIterator]();
const report = { outside: [], errors: [], checks: [] };
const check = (name, ok, detail) => {
  report.checks.push({ name, ok: Boolean(ok), detail: detail === undefined ? null : String(detail) });
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1') return route.continue();
    report.outside.push(url.href);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('pageerror', (error) => report.errors.push('pageerror: ' + error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') report.errors.push('console: ' + message.text());
  });
  const text = async (selector) => (await page.locator(selector).first().textContent()) || '';
  const waitText = (selector, wanted, timeout = 60000) => page.waitForFunction(
    ([selector, wanted]) => (document.querySelector(selector)?.textContent || '').includes(wanted),
    [selector, wanted], { timeout });

  if (mode === 'flow') {
    const initial = process.env.INITIAL_TAG;
    const row = 'tr.policy[data-policy="flux-system/mcp"]';
    const answer = await page.goto(base + '/');
    const csp = answer.headers()['content-security-policy'] || '';
    check('csp', csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'), csp);
    await waitText(row + ' td.in-git', initial);
    // Reading works without JavaScript; the token form and the actions stay hidden.
    const plain = await browser.newContext({ javaScriptEnabled: false });
    const plainPage = await plain.newPage();
    await plainPage.goto(base + '/console/policies/flux-system/mcp');
    check('readable without javascript', ((await plainPage.locator('#in-git').textContent()) || '').includes(initial));
    check('no actions without javascript', await plainPage.locator('#actions').isHidden() && await plainPage.locator('#token').isHidden());
    await plain.close();
    await page.evaluate(() => { window.__sameDocument = true; });
    console.log('await-push');
    const pushed = (await lines.next()).value.trim();
    await waitText(row + ' td.in-git', pushed);
    check('live without reload', await page.evaluate(() => window.__sameDocument === true));
    check('newest confirmed', (await text(row + ' td.selected')).includes(pushed), await text(row + ' td.selected'));
    await page.screenshot({ path: artifacts + '/overview.png', fullPage: true });

    await page.click('a[href="/console/policies/flux-system/mcp"]');
    await waitText('#in-git', pushed);
    await page.locator('#actions').waitFor({ state: 'visible' });
    // Without a token an action is refused here, before any request.
    await page.locator('button.action', { hasText: 'Pin' }).click();
    await waitText('#result', 'Enter an API token');
    check('no dialog without a token', await page.locator('#confirm').isHidden());

    await page.fill('#token-input', token);
    await page.click('#token button[type=submit]');
    await waitText('#token-state', 'token set');
    check('token only in sessionStorage',
      await page.evaluate((token) => sessionStorage.getItem('pushdeploy.token') === token
        && document.cookie === '' && !location.href.includes(token) && !localStorage.length, token));
    check('token field cleared', (await page.inputValue('#token-input')) === '');

    const promote = page.locator('ul.candidates li', { has: page.locator('code', { hasText: initial }) })
      .locator('button.action');
    await promote.click();
    await page.locator('#confirm').waitFor({ state: 'visible' });
    const promoteText = await text('#confirm-text');
    check('promote preview', promoteText.includes(`moves flux-system/mcp from ${pushed} back to ${initial}; pins it`), promoteText);
    await page.click('#confirm-yes');
    await waitText('#result', 'Done');
    await waitText('#in-git', initial);
    await waitText('#state', 'pinned at ' + initial);

    await page.locator('button.action', { hasText: 'Roll back' }).click();
    const rollbackText = await text('#confirm-text');
    check('rollback preview', rollbackText.includes(`moves flux-system/mcp from ${initial} back to ${pushed}; pins it`), rollbackText);
    await page.click('#confirm-yes');
    await waitText('#in-git', pushed);
    await waitText('#state', 'pinned at ' + pushed);
    await waitText('#history', 'rollback');

    await page.locator('button.action', { hasText: 'Resume' }).first().click();
    const resumeText = await text('#confirm-text');
    check('resume preview', resumeText.includes('unpins flux-system/mcp'), resumeText);
    await page.click('#confirm-yes');
    await waitText('#state', 'automatic');
    await page.locator('button.action', { hasText: 'Suspend flux-system/mcp' }).click();
    check('suspend preview', (await text('#confirm-text')).includes('suspends automation flux-system/mcp'), await text('#confirm-text'));
    await page.click('#confirm-yes');
    await waitText('#state', 'flux-system/mcp suspended by ops');
    await page.locator('button.action', { hasText: 'Resume flux-system/mcp' }).click();
    await page.click('#confirm-yes');
    await page.waitForFunction(() => !document.querySelector('#state').textContent.includes('suspended'), null, { timeout: 60000 });
    await page.locator('button.action', { hasText: 'Scan now' }).click();
    check('scan preview', (await text('#confirm-text')).includes('asks the registry for the tags of flux-system/mcp'), await text('#confirm-text'));
    await page.click('#confirm-yes');
    await waitText('#result', 'Done: asks the registry');
    await page.screenshot({ path: artifacts + '/policy.png', fullPage: true });
    // On a phone: the page does not scroll sideways (wide tables scroll inside their box).
    await page.setViewportSize({ width: 390, height: 844 });
    for (const path of ['/', '/console/policies/flux-system/mcp']) {
      await page.goto(base + path);
      const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
      check('fits a phone: ' + path, fits, await page.evaluate(() => document.documentElement.scrollWidth));
    }
    await page.screenshot({ path: artifacts + '/phone.png', fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(base + '/console/policies/flux-system/mcp');
    await page.locator('#actions').waitFor({ state: 'visible' });
    // Cancel does nothing: the state stays.
    await page.locator('button.action', { hasText: 'Pin' }).click();
    await page.click('#confirm-no');
    check('cancel hides the dialog', await page.locator('#confirm').isHidden());
  } else if (mode === 'inert') {
    for (const path of ['/', '/console/policies/flux-system/mcp']) {
      await page.goto(base + path);
      await page.locator('#main').waitFor();
      const found = await page.evaluate(() => ({
        xss: window.__xss === undefined ? null : window.__xss,
        scripts: [...document.querySelectorAll('script')].map((script) => script.getAttribute('src')),
        images: document.querySelectorAll('img').length,
        text: document.body.textContent,
      }));
      check(path + ' ran no injected script', found.xss === null, found.xss);
      check(path + ' has only our script', found.scripts.length === 1 && found.scripts[0] === '/console/console.js', found.scripts);
      check(path + ' has no injected element', found.images === 0, found.images);
      for (const needle of (process.env.SHOWN_AS_TEXT || '').split('\n').filter(Boolean)) {
        const [where, value] = needle.split('\t');
        if (where === path) check(path + ' shows ' + value + ' as text', found.text.includes(value));
      }
    }
  } else {
    throw new Error('mode must be flow or inert, not ' + mode);
  }
} catch (error) {
  report.errors.push('failed: ' + (error && error.stack ? error.stack : error));
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
// stdin stays open on the test's side: without this the reader keeps the process alive.
reader.close();
process.exit(0);
