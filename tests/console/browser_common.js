// browser_common.js: what the console browser tests (console_browser.js, ca_console_browser.js)
// share: their settings file, the step a failure names, checks, screenshots, login, a page's text
// and table rows, the refused logins (wrong password, lockout), pages shown, logout with the old
// session refused, and the run in a headless Debian chromium through playwright-core.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const settings = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const base = settings.url;
const run = { step: '' }; // the step under way, named by a failure

function check(condition, what) {
  if (!condition) throw new Error(`${run.step}: ${what}`);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(settings.shots, `${name}.png`), fullPage: true });
}

async function login(page, id, password) {
  await page.goto(`${base}/login`);
  await page.fill('input[name=operator]', id);
  await page.fill('input[name=password]', password);
  const [response] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  return response;
}

async function text(page, selector) {
  return (await page.textContent(selector)) || '';
}

// The cells of a table's rows (selector: the table), its heading row left out.
async function table(page, selector) {
  return page.$$eval(`${selector} tr`, (rows) =>
    rows.slice(1).map((r) => Array.from(r.children).map((c) => c.textContent)));
}

// A wrong password refused (403, shown), then lockout: 5 failures of the locked operator, after
// which the right password is refused too (429, shown). Screenshots 02 and 03.
async function refusedLogins(page) {
  run.step = 'wrong password';
  let response = await login(page, settings.operator, 'not the password');
  check(response.status() === 403, `status ${response.status()}`);
  check((await text(page, '#login-error')).includes('not accepted'), 'no refusal shown');
  await shot(page, '02-login-refused');

  run.step = 'lockout';
  for (let i = 0; i < 5; i++) await login(page, settings.locked_operator, `wrong ${i}`);
  response = await login(page, settings.locked_operator, settings.locked_password);
  check(response.status() === 429, `right password after 5 failures: status ${response.status()}`);
  check((await text(page, '#login-error')).includes('locked'), 'no lockout shown');
  await shot(page, '03-locked');
}

// Each of pages ([screenshot name, path, title, selector]) answers 200 with its title (h1) and
// the element selector names; a screenshot of each.
async function pagesShown(page, pages) {
  for (const [name, where, title, selector] of pages) {
    const response = await page.goto(`${base}${where}`);
    check(response.status() === 200, `${where}: status ${response.status()}`);
    check((await text(page, 'h1')) === title, `${where}: title ${await text(page, 'h1')}`);
    check((await page.$(selector)) !== null, `${where}: no ${selector}`);
    await shot(page, name);
  }
}

// Logs out with the navigation's button, then replays the old session cookie (named cookie,
// value old): a GET of getPath is sent to the login page, a POST to postPath refused (403).
async function logoutRefusesOldSession(page, cookie, old, getPath, postPath) {
  run.step = 'logout';
  await Promise.all([page.waitForNavigation(), page.click('nav button')]);
  check(page.url() === `${base}/login`, `after logout at ${page.url()}`);
  const replay = await page.request.get(`${base}${getPath}`,
    { headers: { Cookie: `${cookie}=${old}` }, maxRedirects: 0 });
  check(replay.status() === 303 && replay.headers()['location'] === '/login',
    `old cookie after logout: status ${replay.status()}`);
  const replayPost = await page.request.post(`${base}${postPath}`,
    { headers: { Cookie: `${cookie}=${old}` }, form: { csrf: 'x' }, maxRedirects: 0 });
  check(replayPost.status() === 403, `old cookie POST after logout: ${replayPost.status()}`);
}

// Runs steps(context, page, out, browser) in a fresh headless chromium (context options added to
// ignoreHTTPSErrors), writes out to settings.out whatever happens, and on failure says which
// step failed (name: the script's) and exits with 1.
function runBrowser(name, contextOptions, steps) {
  async function main() {
    const browser = await chromium.launch({
      executablePath: settings.chromium,
      args: ['--no-sandbox', '--disable-gpu'],
    });
    const context = await browser.newContext({ ignoreHTTPSErrors: true, ...contextOptions });
    const page = await context.newPage();
    const out = {};
    try {
      await steps(context, page, out, browser);
    } finally {
      fs.writeFileSync(settings.out, JSON.stringify(out, null, 1));
      await browser.close();
    }
  }
  main().catch((e) => {
    console.error(`${name}: FAILED at ${run.step}: ${e.message}`);
    process.exit(1);
  });
}

module.exports = {
  settings, base, run, check, shot, login, text, table, refusedLogins, pagesShown,
  logoutRefusesOldSession, runBrowser,
};
