// console_browser.js: drives Debian's chromium (headless, through playwright-core) through the
// comm-terminal's operator console and checks what an operator sees; writes a screenshot of
// every page and the downloaded exports for test_console.py to check against the database.
// Usage: node console_browser.js SETTINGS.json (see test_console.py for its keys)
'use strict';
const {
  settings, base, run, check, shot, login, text, table, refusedLogins, pagesShown,
  logoutRefusesOldSession, runBrowser,
} = require('./browser_common');

// A POST of the console's forms as a script would send it, with the session's CSRF token.
async function csrfToken(page) {
  return page.$eval('input[name=csrf]', (i) => i.value);
}

// Clicks a form's submit button and waits for the page it leads to.
async function submit(page, selector) {
  return (await Promise.all([page.waitForNavigation(), page.click(selector)]))[0];
}

runBrowser('console_browser', { acceptDownloads: true }, async (context, page, out, browser) => {
  run.step = 'no session';
  let response = await page.goto(`${base}/devices`);
  check(page.url() === `${base}/login`, `sent to ${page.url()}, not the login page`);
  await shot(page, '01-login');

  await refusedLogins(page);

  run.step = 'login';
  response = await login(page, settings.operator, settings.password);
  check(page.url() === `${base}/`, `after login at ${page.url()}`);
  check((await text(page, 'h1')) === 'Today', 'not the Today page');
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === '__Host-certline');
  check(session !== undefined, 'no session cookie');
  check(session.httpOnly && session.secure && session.sameSite === 'Strict',
    `cookie attributes ${JSON.stringify(session)}`);
  check(session.expires > Date.now() / 1000 && session.expires < Date.now() / 1000 + 86400,
    `cookie expiry ${session.expires}`);
  check(!session.value.includes(settings.password) && /^[0-9a-f]{64}$/.test(session.value),
    'the cookie is not a random id');
  out.today_rows = await page.$$eval('#today tr', (rows) =>
    rows.slice(1).map((r) => Array.from(r.children).map((c) => c.textContent)));
  out.alerts = await text(page, '#alerts');
  await shot(page, '04-today');

  run.step = 'pages';
  const pages = [
    ['05-devices', '/devices', 'Devices', '#devices'],
    ['06-devices-search', `/devices?q=${settings.written[0]}&state=written`, 'Devices', '#devices'],
    ['07-device', `/device?number=${settings.written[0]}`, 'Device', '#history'],
    ['08-audit', `/audit?day=${settings.today}`, 'Audit: shipped and proven', '#proven'],
    ['09-audit-log', `/log?actor=${settings.operator}`, 'Audit log', '#log'],
    ['10-lines', `/lines?day=${settings.today}`, 'Lines', '#lines'],
    ['11-actions', '/actions', 'Actions', 'form'],
    ['12-operators', '/operators', 'Operators', 'form'],
  ];
  await pagesShown(page, pages);
  await page.goto(`${base}/devices?q=${settings.written[0]}&state=written`);
  const found = await page.$$eval('#devices tr', (rows) => rows.length - 1);
  check(found === 1, `search by number found ${found} rows`);
  await page.goto(`${base}/device?number=${settings.written[0]}`);
  const history = await page.$$eval('#history tr td:nth-child(2)', (c) => c.map((x) => x.textContent));
  check(history.includes('written') && history.includes('receipt'), `history ${history}`);
  await page.goto(`${base}/lines?day=${settings.today}`);
  out.lines = await page.$$eval('#lines tr', (rows) =>
    rows.slice(1).map((r) => Array.from(r.children).map((c) => c.textContent)));
  out.ng = await page.$$eval('#ng tr', (rows) =>
    rows.slice(1).map((r) => Array.from(r.children).map((c) => c.textContent)));
  out.per_hour = await page.$$eval('#per-hour title', (t) => t.map((x) => x.textContent));
  out.scans = await table(page, '#scans');
  check((await page.$('noscript')) !== null, 'no refresh for browsers without JavaScript');

  run.step = 'Lines live with JavaScript';
  {
    // Under the console's own Content-Security-Policy (common/console_server.c: script-src
    // and connect-src 'self'), not bypassed: the script must run as a real browser runs it.
    const live = await browser.newContext({ ignoreHTTPSErrors: true });
    await live.addCookies(await context.cookies());
    const p = await live.newPage();
    await p.goto(`${base}/lines?day=${settings.today}`);
    check((await p.getAttribute('#live', 'data-script')) === 'on', 'the script did not run');
    const before = await text(p, '#updated');
    await p.waitForSelector('#live[data-refreshed]', { timeout: 20000 });
    out.lines_live = await table(p, '#lines');
    out.lines_live_updated = [before, await text(p, '#updated')];
    check(p.url() === `${base}/lines?day=${settings.today}`, 'the page itself was reloaded');
    await shot(p, '10b-lines-live');
    await live.close();
  }

  run.step = 'Lines live without JavaScript';
  {
    const plain = await browser.newContext({ ignoreHTTPSErrors: true, javaScriptEnabled: false });
    await plain.addCookies(await context.cookies());
    const p = await plain.newPage();
    await p.goto(`${base}/lines?day=${settings.today}`);
    const first = await text(p, '#updated');
    await p.waitForNavigation({ timeout: 25000 }); // its meta refresh
    out.lines_nojs = await table(p, '#lines');
    out.lines_nojs_updated = [first, await text(p, '#updated')];
    await plain.close();
  }
  await page.goto(`${base}/audit?day=${settings.today}`);
  out.proven_rows = await page.$$eval('#proven tr', (rows) =>
    rows.slice(1).map((r) => Array.from(r.children).map((c) => c.textContent)));

  run.step = 'plan upload with an error';
  await page.goto(`${base}/actions`);
  await page.setInputFiles('input[name=plan]', settings.plan_bad);
  response = (await Promise.all([page.waitForNavigation(), page.click('form[action="/plan"] button')]))[0];
  check(response.status() === 400, `status ${response.status()}`);
  out.plan_bad = await text(page, '#result');
  check(out.plan_bad.includes('not imported') && out.plan_bad.includes('line 3'),
    `shown: ${out.plan_bad}`);
  await shot(page, '13-plan-refused');

  run.step = 'plan upload with three bad lines';
  await page.goto(`${base}/actions`);
  await page.setInputFiles('input[name=plan]', settings.plan_bad3);
  response = await submit(page, 'form[action="/plan"] button');
  check(response.status() === 400, `status ${response.status()}`);
  out.plan_bad3 = await page.$$eval('#plan-errors li', (l) => l.map((x) => x.textContent));
  out.plan_bad3_result = await text(page, '#result');
  await shot(page, '13b-plan-three-errors');

  run.step = 'plan upload';
  await page.goto(`${base}/actions`);
  await page.setInputFiles('input[name=plan]', settings.plan_good);
  response = (await Promise.all([page.waitForNavigation(), page.click('form[action="/plan"] button')]))[0];
  out.plan_good = await text(page, '#result');
  check(response.status() === 200 && out.plan_good.includes('plan imported'), `shown: ${out.plan_good}`);
  await shot(page, '14-plan-imported');

  run.step = 'manual entry of an unplanned number';
  await page.goto(`${base}/actions`);
  await page.fill('input[name=number]', settings.unplanned);
  response = (await Promise.all([page.waitForNavigation(), page.click('form[action="/enter"] button')]))[0];
  out.enter_refused = await text(page, '#result');
  check(response.status() === 409 && out.enter_refused.includes('not in the production plan'),
    `shown: ${out.enter_refused}`);
  await shot(page, '15-enter-refused');

  run.step = 'manual entry of a planned number';
  await page.goto(`${base}/actions`);
  await page.fill('input[name=number]', settings.planned);
  await Promise.all([page.waitForNavigation(), page.click('form[action="/enter"] button')]);
  check((await text(page, '#question')).includes(settings.planned), 'no confirmation asked');
  await shot(page, '16-enter-confirm');
  response = (await Promise.all([page.waitForNavigation(), page.click('text=Yes, issue it')]))[0];
  out.enter_done = await text(page, '#result');
  check(response.status() === 200 && out.enter_done.includes('fetched and stored'),
    `shown: ${out.enter_done}`);
  await shot(page, '17-enter-done');

  run.step = 'fetch now with its progress';
  await page.goto(`${base}/actions`);
  await page.setInputFiles('input[name=plan]', settings.plan_fetch);
  response = await submit(page, 'form[action="/plan"] button');
  check(response.status() === 200, `plan for the fetch: ${await text(page, '#result')}`);
  await page.goto(`${base}/actions`);
  response = await submit(page, 'form[action="/fetch"] button');
  check(page.url() === `${base}/fetch`, `after fetch now at ${page.url()}`);
  out.fetch_seen = [];
  for (let i = 0; i < 240; i++) {
    // The page refreshes itself while the fetch runs: only read it (no screenshot here: one
    // taken while the page reloads may wait for ever on a loaded machine).
    const seen = await page.$eval('#fetch-state', (e) =>
      [e.dataset.state, Number(e.dataset.done), Number(e.dataset.total), Number(e.dataset.packs)])
      .catch(() => null);
    if (seen !== null) {
      const last = out.fetch_seen[out.fetch_seen.length - 1];
      if (last === undefined || last.join() !== seen.join()) out.fetch_seen.push(seen);
      if (seen[0] !== 'running') break;
    }
    await page.waitForTimeout(250);
  }
  out.fetch_result = await text(page, '#result');
  check(out.fetch_seen.length > 0 && out.fetch_seen[out.fetch_seen.length - 1][0] === 'done',
    `fetch states ${JSON.stringify(out.fetch_seen)}: ${out.fetch_result}`);
  await shot(page, '20-fetch-done');

  run.step = 'delete a discontinued model';
  await page.goto(`${base}/actions`);
  const token = await csrfToken(page);
  const noToken = await page.request.post(`${base}/model-delete`,
    { form: { code: settings.delete_model, confirm: 'yes' } });
  check(noToken.status() === 403, `without a CSRF token: status ${noToken.status()}`);
  const unconfirmed = await page.request.post(`${base}/model-delete`,
    { form: { csrf: token, code: settings.delete_model } });
  out.delete_unconfirmed = await unconfirmed.text();
  check(unconfirmed.status() === 200 && out.delete_unconfirmed.includes('id="question"'),
    `without confirm: status ${unconfirmed.status()}`);
  await page.selectOption('select[name=code]', settings.delete_model);
  await submit(page, 'form[action="/model-delete"] button');
  out.delete_question = await text(page, '#question');
  check(out.delete_question.includes(settings.delete_model), `asked: ${out.delete_question}`);
  await shot(page, '21-model-delete-confirm');
  response = await submit(page, 'text=Yes, delete them');
  out.delete_result = await text(page, '#result');
  check(response.status() === 200 && out.delete_result.includes('deleted'),
    `shown: ${out.delete_result}`);
  await shot(page, '22-model-deleted');

  run.step = 'exports';
  const csv = await page.request.get(`${base}/audit.csv?day=${settings.today}`);
  check(csv.status() === 200 && csv.headers()['content-type'].startsWith('text/csv'), 'CSV answer');
  out.csv = await csv.text();
  const json = await page.request.get(`${base}/audit.json?day=${settings.today}`);
  out.json = await json.json();

  run.step = 'a form without its CSRF token';
  const forged = await page.request.post(`${base}/fetch`, { form: { go: '1' } });
  check(forged.status() === 403, `POST without a token: status ${forged.status()}`);
  check((await forged.text()).includes('CSRF'), 'no CSRF refusal shown');
  const wrong = await page.request.post(`${base}/enter`,
    { form: { csrf: '0'.repeat(64), number: settings.planned, confirm: 'yes' } });
  check(wrong.status() === 403, `POST with a wrong token: status ${wrong.status()}`);

  run.step = 'a password for an unknown operator';
  await page.goto(`${base}/operators`);
  const change = 'form:has(input[name=do][value=password])';
  await page.fill(`${change} input[name=operator]`, 'nobody');
  await page.fill(`${change} input[name=password]`, 'a typo made admin 1');
  response = await submit(page, `${change} button`);
  const refused = await text(page, '#result');
  check(response.status() === 404 && refused.includes('no such operator'),
    `unknown operator's password: ${response.status()} ${refused}`);

  run.step = 'audit log';
  await page.goto(`${base}/log?actor=${settings.operator}`);
  out.log_actions = await page.$$eval('#log tr td:nth-child(3)', (c) => c.map((x) => x.textContent));
  await shot(page, '18-audit-log-after');

  run.step = 'devices by line and day, a certificate\'s details';
  await page.goto(`${base}/devices`);
  await page.fill('input[name=line]', '1001');
  await page.fill('input[name=day]', settings.today);
  await submit(page, 'form[action="/devices"] button');
  check(page.url().includes('line=1001') && page.url().includes(`day=${settings.today}`),
    `the search form sent ${page.url()}`);
  out.line_day_rows = await table(page, '#devices');
  await shot(page, '24-devices-line-day');
  await page.goto(`${base}/device?number=${settings.planned}`);
  out.x509 = await page.$$eval('#x509 td', (c) => c.map((x) => x.textContent));
  check((await text(page, '#x509-subject')).includes(settings.planned), 'no certificate subject');
  await shot(page, '23-device-certificate');

  await logoutRefusesOldSession(page, '__Host-certline', session.value, '/', '/fetch');
  out.ok = true;
});
