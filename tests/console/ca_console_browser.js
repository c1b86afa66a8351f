// ca_console_browser.js: drives Debian's chromium (headless, through playwright-core) through
// ca-server's console for CA operators and checks what an operator sees; writes a screenshot of
// every page for test_ca_console.py, which checks the database and the CRL afterwards.
// Usage: node ca_console_browser.js SETTINGS.json (see test_ca_console.py for its keys)
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const settings = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const base = settings.url;
let step = '';

function check(condition, what) {
  if (!condition) throw new Error(`${step}: ${what}`);
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

async function cells(page, selector) {
  return page.$$eval(selector, (rows) =>
    rows.slice(1).map((r) => Array.from(r.children).map((c) => c.textContent)));
}

async function main() {
  const browser = await chromium.launch({
    executablePath: settings.chromium,
    args: ['--no-sandbox', '--disable-gpu'],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const out = {};
  try {
    step = 'no session';
    let response = await page.goto(`${base}/certificates`);
    check(page.url() === `${base}/login`, `sent to ${page.url()}, not the login page`);
    check((await text(page, 'h1')).includes('certline CA console'), 'not the CA console');
    await shot(page, '01-login');

    step = 'wrong password';
    response = await login(page, settings.operator, 'not the password');
    check(response.status() === 403, `status ${response.status()}`);
    check((await text(page, '#login-error')).includes('not accepted'), 'no refusal shown');
    await shot(page, '02-login-refused');

    step = 'lockout';
    for (let i = 0; i < 5; i++) await login(page, settings.locked_operator, `wrong ${i}`);
    response = await login(page, settings.locked_operator, settings.locked_password);
    check(response.status() === 429, `right password after 5 failures: status ${response.status()}`);
    check((await text(page, '#login-error')).includes('locked'), 'no lockout shown');
    await shot(page, '03-locked');

    step = 'login';
    response = await login(page, settings.operator, settings.password);
    check(page.url() === `${base}/`, `after login at ${page.url()}`);
    check((await text(page, 'h1')) === 'Issuance', 'not the Issuance page');
    const session = (await context.cookies()).find((c) => c.name === '__Host-certline-ca');
    check(session !== undefined, 'no session cookie');
    check(session.httpOnly && session.secure && session.sameSite === 'Strict',
      `cookie attributes ${JSON.stringify(session)}`);
    check(session.expires > Date.now() / 1000 && session.expires < Date.now() / 1000 + 86400,
      `cookie expiry ${session.expires}`);
    out.issuance = await cells(page, '#issuance tr');
    const mine = out.issuance.find((r) => r[0] === settings.today && r[1] === settings.factory);
    check(mine !== undefined && Number(mine[2]) >= 2 && Number(mine[3]) === 2,
      `issuance rows ${JSON.stringify(out.issuance)}`);
    check((await page.$('svg rect')) !== null, 'no chart');
    await shot(page, '04-issuance');

    step = 'pages';
    const pages = [
      ['05-models', '/models', 'Models', '#models'],
      ['06-certificates', '/certificates', 'Certificates', '#certificates'],
      ['07-certificates-search',
        `/certificates?number=${settings.number}&state=installed&factory=${settings.factory}&day=${settings.today}`,
        'Certificates', '#certificates'],
      ['08-certificate', `/certificate?serial=${settings.serial}`, 'Certificate', '#history'],
      ['09-audit-log', '/log?actor=console:carol', 'Audit log', '#log'],
    ];
    for (const [name, where, title, selector] of pages) {
      response = await page.goto(`${base}${where}`);
      check(response.status() === 200, `${where}: status ${response.status()}`);
      check((await text(page, 'h1')) === title, `${where}: title ${await text(page, 'h1')}`);
      check((await page.$(selector)) !== null, `${where}: no ${selector}`);
      await shot(page, name);
    }
    await page.goto(`${base}/models`);
    const models = await cells(page, '#models tr');
    check(models.length === 2 && models.every((m) => m[2] === 'yes' && m[3].includes('(current)')),
      `models ${JSON.stringify(models)}`);

    step = 'search';
    await page.goto(`${base}/certificates`);
    await page.fill('input[name=number]', settings.number);
    await page.selectOption('select[name=state]', 'installed');
    await Promise.all([page.waitForNavigation(), page.click('form.box button[type=submit]')]);
    const found = await cells(page, '#certificates tr');
    check(found.length === 1 && found[0][0] === settings.serial && found[0][1] === settings.number,
      `search found ${JSON.stringify(found)}`);

    step = 'detail';
    await Promise.all([page.waitForNavigation(), page.click(`a:text("${settings.serial}")`)]);
    check((await text(page, '#state')) === 'installed', 'state before revocation');
    check((await text(page, '#x509')).includes(`CN=${settings.number}`), 'no subject');
    const history = (await cells(page, '#history tr')).map((r) => r[1]);
    check(history.includes('intent recorded') && history.includes('signed, pack issued') &&
      history.includes('installed, receipt signed'), `history ${history}`);

    step = 'revocation';
    await Promise.all([page.waitForNavigation(), page.click('#revoke')]);
    check((await text(page, 'h1')) === 'Revoke a certificate', 'no confirmation form');
    await page.selectOption('select[name=reason]', 'keyCompromise');
    await page.fill('input[name=comment]', 'key found in the field');
    await shot(page, '10-revoke-confirm');
    await page.check('input[name=confirm]');
    response = (await Promise.all([page.waitForNavigation(), page.click('form.box button[type=submit]')]))[0];
    check(response.status() === 200 && (await text(page, '#state')) === 'revoked',
      `after revocation: ${response.status()} ${await text(page, '#state')}`);
    const ended = (await cells(page, '#history tr')).find((r) => r[1] === 'revoked');
    check(ended !== undefined && ended[2].includes('keyCompromise') &&
      ended[2].includes('key found in the field'), `history after revocation ${ended}`);
    check((await page.$('#revoke')) === null, 'a revoked certificate offers revocation');
    await shot(page, '11-revoked');

    step = 'a form without its CSRF token';
    const other = settings.serial;
    const forged = await page.request.post(`${base}/revoke`,
      { form: { serial: other, reason: 'keyCompromise', confirm: 'yes' } });
    check(forged.status() === 403 && (await forged.text()).includes('CSRF'),
      `POST without a token: status ${forged.status()}`);
    const wrong = await page.request.post(`${base}/revoke`,
      { form: { csrf: '0'.repeat(64), serial: other, reason: 'keyCompromise', confirm: 'yes' } });
    check(wrong.status() === 403, `POST with a wrong token: status ${wrong.status()}`);

    step = 'logout';
    const old = session.value;
    await Promise.all([page.waitForNavigation(), page.click('nav button')]);
    check(page.url() === `${base}/login`, `after logout at ${page.url()}`);
    const replay = await page.request.get(`${base}/certificates`,
      { headers: { Cookie: `__Host-certline-ca=${old}` }, maxRedirects: 0 });
    check(replay.status() === 303 && replay.headers()['location'] === '/login',
      `old cookie after logout: status ${replay.status()}`);
    const replayPost = await page.request.post(`${base}/revoke`,
      { headers: { Cookie: `__Host-certline-ca=${old}` }, form: { csrf: 'x' }, maxRedirects: 0 });
    check(replayPost.status() === 403, `old cookie POST after logout: ${replayPost.status()}`);
    out.ok = true;
  } finally {
    fs.writeFileSync(settings.out, JSON.stringify(out, null, 1));
    await browser.close();
  }
}

main().catch((e) => {
  console.error(`ca_console_browser: FAILED at ${step}: ${e.message}`);
  process.exit(1);
});
