// ca_console_browser.js: drives Debian's chromium (headless, through playwright-core) through
// ca-server's console for CA operators and checks what an operator sees; writes a screenshot of
// every page for test_ca_console.py, which checks the database and the CRL afterwards.
// Usage: node ca_console_browser.js SETTINGS.json (see test_ca_console.py for its keys)
'use strict';
const {
  settings, base, run, check, shot, login, text, table, refusedLogins, pagesShown,
  logoutRefusesOldSession, runBrowser,
} = require('./browser_common');

runBrowser('ca_console_browser', {}, async (context, page, out) => {
  run.step = 'no session';
  await page.goto(`${base}/certificates`);
  check(page.url() === `${base}/login`, `sent to ${page.url()}, not the login page`);
  check((await text(page, 'h1')).includes('certline CA console'), 'not the CA console');
  await shot(page, '01-login');

  await refusedLogins(page);

  run.step = 'login';
  let response = await login(page, settings.operator, settings.password);
  check(page.url() === `${base}/`, `after login at ${page.url()}`);
  check((await text(page, 'h1')) === 'Issuance', 'not the Issuance page');
  const session = (await context.cookies()).find((c) => c.name === '__Host-certline-ca');
  check(session !== undefined, 'no session cookie');
  check(session.httpOnly && session.secure && session.sameSite === 'Strict',
    `cookie attributes ${JSON.stringify(session)}`);
  check(session.expires > Date.now() / 1000 && session.expires < Date.now() / 1000 + 86400,
    `cookie expiry ${session.expires}`);
  out.issuance = await table(page, '#issuance');
  const mine = out.issuance.find((r) => r[0] === settings.today && r[1] === settings.factory);
  check(mine !== undefined && Number(mine[2]) >= 2 && Number(mine[3]) === 2,
    `issuance rows ${JSON.stringify(out.issuance)}`);
  check((await page.$('svg rect')) !== null, 'no chart');
  await shot(page, '04-issuance');

  run.step = 'pages';
  const pages = [
    ['05-models', '/models', 'Models', '#models'],
    ['06-certificates', '/certificates', 'Certificates', '#certificates'],
    ['07-certificates-search',
      `/certificates?number=${settings.number}&state=installed&factory=${settings.factory}&day=${settings.today}`,
      'Certificates', '#certificates'],
    ['08-certificate', `/certificate?serial=${settings.serial}`, 'Certificate', '#history'],
    ['09-audit-log', '/log?actor=console:carol', 'Audit log', '#log'],
  ];
  await pagesShown(page, pages);
  await page.goto(`${base}/models`);
  const models = await table(page, '#models');
  check(models.length === 2 && models.every((m) => m[2] === 'yes' && m[3].includes('(current)')),
    `models ${JSON.stringify(models)}`);

  run.step = 'search';
  await page.goto(`${base}/certificates`);
  await page.fill('input[name=number]', settings.number);
  await page.selectOption('select[name=state]', 'installed');
  await Promise.all([page.waitForNavigation(), page.click('form.box button[type=submit]')]);
  const found = await table(page, '#certificates');
  check(found.length === 1 && found[0][0] === settings.serial && found[0][1] === settings.number,
    `search found ${JSON.stringify(found)}`);

  run.step = 'detail';
  await Promise.all([page.waitForNavigation(), page.click(`a:text("${settings.serial}")`)]);
  check((await text(page, '#state')) === 'installed', 'state before revocation');
  check((await text(page, '#x509')).includes(`CN=${settings.number}`), 'no subject');
  const history = (await table(page, '#history')).map((r) => r[1]);
  check(history.includes('intent recorded') && history.includes('signed, pack issued') &&
    history.includes('installed, receipt signed'), `history ${history}`);

  run.step = 'revocation';
  await Promise.all([page.waitForNavigation(), page.click('#revoke')]);
  check((await text(page, 'h1')) === 'Revoke a certificate', 'no confirmation form');
  await page.selectOption('select[name=reason]', 'keyCompromise');
  await page.fill('input[name=comment]', 'key found in the field');
  await shot(page, '10-revoke-confirm');
  await page.check('input[name=confirm]');
  response = (await Promise.all([page.waitForNavigation(), page.click('form.box button[type=submit]')]))[0];
  check(response.status() === 200 && (await text(page, '#state')) === 'revoked',
    `after revocation: ${response.status()} ${await text(page, '#state')}`);
  const ended = (await table(page, '#history')).find((r) => r[1] === 'revoked');
  check(ended !== undefined && ended[2].includes('keyCompromise') &&
    ended[2].includes('key found in the field'), `history after revocation ${ended}`);
  check((await page.$('#revoke')) === null, 'a revoked certificate offers revocation');
  await shot(page, '11-revoked');

  run.step = 'a form without its CSRF token';
  const other = settings.serial;
  const forged = await page.request.post(`${base}/revoke`,
    { form: { serial: other, reason: 'keyCompromise', confirm: 'yes' } });
  check(forged.status() === 403 && (await forged.text()).includes('CSRF'),
    `POST without a token: status ${forged.status()}`);
  const wrong = await page.request.post(`${base}/revoke`,
    { form: { csrf: '0'.repeat(64), serial: other, reason: 'keyCompromise', confirm: 'yes' } });
  check(wrong.status() === 403, `POST with a wrong token: status ${wrong.status()}`);

  await logoutRefusesOldSession(page, '__Host-certline-ca', session.value, '/certificates',
    '/revoke');
  out.ok = true;
});
