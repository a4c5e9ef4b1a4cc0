/**
 * Alert channels, job progress, the jobs panel, Sign CSR and the new row on the page, in Debian's
 * Chromium (as test/e2e/web.test.ts drives the rest of it): a webhook channel added, tested
 * against a local receiver that checks its signature, edited without its secret ever reaching the
 * page, a failing one showing why, and deleted by name; the SMTP settings and a test e-mail; an RSA-4096 create naming its key
 * generation with elapsed time; the jobs panel listing the finished job, also after a reload; Sign
 * CSR choosing the only CSR; the signed certificate's row highlighted and in view, even past the card's cap.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, type Locator, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertmidClient, type WebSocketConstructor } from '../../src/client/client.js';
import { signedWebhookReceiver, type Receiver } from '../fakes/alert-receivers.js';
import { closedOrigin, neverAnswer, startFakeServer } from '../fakes/fake-http.js';
import { createInternalCertificate, createRootCa, subjectParams, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { smtpAvailable, startSmtpServer } from '../helpers/smtp.js';
import { chromiumAvailable, loggedInPage } from '../helpers/browser.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/web/', import.meta.url));
const SECRET = 'a-webhook-signing-secret-0123456789';

const haveChromium = chromiumAvailable();

interface Channel {
  id: number;
  name: string;
  level: string;
  attributes: Record<string, unknown>;
}

describe.runIf(haveChromium)('alert channels, job progress, the jobs panel and new rows on the page', () => {
  let server: TestServer;
  let api: CertmidClient;
  let context: BrowserContext;
  let page: Page;
  let receiver: Receiver;
  let root: Entry;

  const dialog = (name: string) => page.getByRole('dialog', { name, exact: true });
  const field = (scope: Locator | Page, label: string) =>
    scope.getByLabel(new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( \\*)?$`)).filter({ visible: true });
  const channelRow = (name: string) => dialog('Alert Channels').locator(`li.channel-item[data-name="${name}"]`);
  const channels = () => api.call<Channel[]>('alertservice.query');
  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });

  /** Polls until `check` holds (10 s at most). */
  async function until(check: () => Promise<boolean>, what: string): Promise<void> {
    for (let attempt = 0; attempt < 100; attempt++) {
      if (await check()) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`Timed out waiting for ${what}`);
  }

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    server = await startTestServer();
    api = await CertmidClient.connect(server.url, { WebSocket: WebSocket as unknown as WebSocketConstructor, callTimeout: 60_000 });
    await api.login(server.admin.username, server.admin.password);
    receiver = await signedWebhookReceiver(SECRET);
    root = await createRootCa(api, 'jobs-root');
    ({ context, page } = await loggedInPage(server, { timeoutMs: 15_000 }));
  });
  afterAll(async () => {
    await context?.close();
    await api?.close();
    await receiver?.close();
    await server?.close();
  });

  it('adds a webhook channel: a validation error on its field, Test reaching the receiver, then Save', async () => {
    await page.getByRole('button', { name: 'Channels', exact: true }).click();
    await dialog('Alert Channels').getByText('No alert channels.').waitFor();
    await dialog('Alert Channels').getByRole('button', { name: 'Add', exact: true }).click();
    const form = dialog('Add Alert Channel');
    await field(form, 'Name').fill('ops-hook');
    await field(form, 'Type').selectOption('Webhook');
    expect(await field(form, 'Email Address').count()).toBe(0); // only the chosen type's settings show
    await field(form, 'URL').fill(`${receiver.origin}/alerts`);
    await field(form, 'Signing Secret').fill('too-short');
    await form.getByRole('button', { name: 'Test', exact: true }).click();
    await form.locator('[data-path="attributes.secret"] .field-error').filter({ visible: true }).getByText('At least 16 characters').waitFor();
    expect(receiver.accepted).toHaveLength(0);

    await field(form, 'Signing Secret').fill(SECRET);
    await form.getByRole('button', { name: 'Test', exact: true }).click();
    await form.getByText('Test alert sent through "ops-hook".').waitFor();
    expect(receiver.accepted).toHaveLength(1);
    expect(receiver.accepted[0]).toMatchObject({ test: true });
    await shot('alert-channel-form');
    await form.getByRole('button', { name: 'Save', exact: true }).click();
    await form.waitFor({ state: 'hidden' });
    await channelRow('ops-hook').waitFor();
    await channelRow('ops-hook').getByText('Warning and above').waitFor();
    expect(await channels()).toMatchObject([{ name: 'ops-hook', type: 'Webhook', level: 'WARNING', attributes: { url: `${receiver.origin}/alerts`, secret: '********' } }]);
  });

  it('edits it without filling in the secret, which is kept; Test and the row button use the saved one', async () => {
    await channelRow('ops-hook').getByRole('button', { name: 'Edit ops-hook' }).click();
    const form = dialog('Edit Alert Channel');
    expect(await field(form, 'Signing Secret').inputValue()).toBe('');
    expect(await field(form, 'Signing Secret').getAttribute('type')).toBe('password');
    await form.getByText('Saved; leave empty to keep it.', { exact: false }).waitFor();
    expect(await page.content()).not.toContain(SECRET);
    await form.getByRole('button', { name: 'Test', exact: true }).click();
    await form.getByText('Test alert sent through "ops-hook".').waitFor();
    expect(receiver.accepted).toHaveLength(2);
    await field(form, 'Level').selectOption('CRITICAL');
    await form.getByRole('button', { name: 'Save', exact: true }).click();
    await form.waitFor({ state: 'hidden' });
    await channelRow('ops-hook').getByText('Critical and above').waitFor();
    expect((await channels())[0]!.level).toBe('CRITICAL');

    await channelRow('ops-hook').getByRole('button', { name: 'Test ops-hook' }).click();
    await page.getByRole('status').filter({ hasText: 'Test alert sent through "ops-hook".' }).waitFor();
    expect(receiver.accepted).toHaveLength(3); // the signature checked out: the secret was kept
  });

  it('shows why a channel that cannot be reached fails its test', async () => {
    const nowhere = await closedOrigin();
    await dialog('Alert Channels').getByRole('button', { name: 'Add', exact: true }).click();
    const form = dialog('Add Alert Channel');
    await field(form, 'Name').fill('dead-hook');
    await field(form, 'Type').selectOption('Webhook');
    await field(form, 'URL').fill(`${nowhere}/alerts`);
    await field(form, 'Signing Secret').fill(SECRET);
    await form.getByRole('button', { name: 'Test', exact: true }).click();
    const error = form.locator('.alert.error').filter({ hasText: 'Sending a test alert through "dead-hook" failed' });
    await error.waitFor();
    expect(await error.textContent()).not.toContain(SECRET);
    await shot('alert-channel-test-failed');
    await form.getByRole('button', { name: 'Cancel', exact: true }).click();
    await form.waitFor({ state: 'hidden' });
    expect((await channels()).map((channel) => channel.name)).toEqual(['ops-hook']);
  });

  it('deletes the channel, naming it; the list follows changes made elsewhere', async () => {
    const made = await api.call<Channel>('alertservice.create', { name: 'made-elsewhere', type: 'Slack', attributes: { url: 'https://hooks.slack.com/services/T0/B0/never-shown' }, level: 'ERROR' });
    await channelRow('made-elsewhere').getByText('Error and above').waitFor();
    expect(await page.content()).not.toContain('never-shown');
    await api.call('alertservice.delete', made.id);
    await channelRow('made-elsewhere').waitFor({ state: 'detached' });
    await channelRow('ops-hook').getByRole('button', { name: 'Delete ops-hook' }).click();
    const ask = dialog('Delete Alert Channel');
    await ask.getByText('Delete the alert channel "ops-hook"?', { exact: false }).waitFor();
    await ask.getByRole('button', { name: 'Delete', exact: true }).click();
    await dialog('Alert Channels').getByText('No alert channels.').waitFor();
    expect(await channels()).toEqual([]);
    await page.keyboard.press('Escape');
    await dialog('Alert Channels').waitFor({ state: 'hidden' });
  });

  it.runIf(smtpAvailable())('edits the SMTP settings without showing the saved password, and sends a test e-mail', async () => {
    const smtp = await startSmtpServer({ mode: 'plain' });
    try {
      await api.call('mail.update', { fromemail: 'seed@example.com', outgoingserver: 'mail.example.com', port: 25, security: 'PLAIN', smtp: true, user: 'mailer', pass: 'smtp-password-never-shown' });
      await page.getByRole('button', { name: 'Channels', exact: true }).click();
      await dialog('Alert Channels').getByRole('button', { name: 'SMTP Settings', exact: true }).click();
      let form = dialog('SMTP Settings');
      expect(await field(form, 'Username').inputValue()).toBe('mailer');
      expect(await field(form, 'Password').inputValue()).toBe('');
      await form.getByText('Saved; leave empty to keep it.').waitFor();
      expect(await page.content()).not.toContain('smtp-password-never-shown');
      await field(form, 'From Email').fill('certmid@example.com');
      await field(form, 'Outgoing Mail Server').fill('127.0.0.1');
      await field(form, 'Mail Server Port').fill(String(smtp.port));
      await field(form, 'Security').selectOption('PLAIN');
      await field(form, 'SMTP Authentication').uncheck();
      await form.getByRole('button', { name: 'Save', exact: true }).click();
      await form.waitFor({ state: 'hidden' });
      expect(await api.call('mail.config')).toMatchObject({ fromemail: 'certmid@example.com', outgoingserver: '127.0.0.1', port: smtp.port, security: 'PLAIN', smtp: false });

      await dialog('Alert Channels').getByRole('button', { name: 'SMTP Settings', exact: true }).click();
      form = dialog('SMTP Settings');
      await field(form, 'Send Test E-mail To').fill('ops@example.com');
      await form.getByRole('button', { name: 'Send Test E-mail', exact: true }).click();
      await form.getByText('Test e-mail sent to ops@example.com.').waitFor();
      // The receiver files the message once the session ends, a moment after the server's answer.
      await until(async () => smtp.messages().some((message) => message.includes('This is a test message from certmid.')), 'the test e-mail to arrive');
      expect(smtp.messages()).toHaveLength(1);
      await form.getByRole('button', { name: 'Cancel', exact: true }).click();
      await form.waitFor({ state: 'hidden' });
      await page.keyboard.press('Escape');
      await dialog('Alert Channels').waitFor({ state: 'hidden' });
    } finally {
      await smtp.close();
    }
  });

  it("names the key generation in an RSA-4096 create's job dialog, with the elapsed time, then lists the job in the jobs panel, also after a reload", async () => {
    await page.evaluate(`window.jobLog = []; new MutationObserver(() => {
      const job = document.querySelector('dialog.job');
      if (job) window.jobLog.push([job.querySelector('.job-description')?.textContent, job.querySelector('.job-elapsed')?.textContent, job.querySelector('progress')?.classList.contains('indeterminate')].join(' | '));
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });`);
    await page.getByRole('button', { name: 'Add Certificate', exact: true }).click();
    const wizard = dialog('Add Certificate');
    const next = () => wizard.getByRole('button', { name: 'Next' }).click();
    await field(wizard, 'Name').fill('big-rsa');
    await next();
    await field(wizard, 'Key Type').selectOption('RSA');
    await field(wizard, 'Key Length').selectOption('4096');
    await next();
    await field(wizard, 'State').fill('Berlin');
    await field(wizard, 'Locality').fill('Berlin');
    await field(wizard, 'Organization').fill('Example');
    await field(wizard, 'Email').fill('pki@example.com');
    const san = field(wizard, 'Subject Alternative Names');
    await san.fill('big.example.com');
    await san.press('Enter');
    await next();
    await next();
    await wizard.getByRole('button', { name: 'Save' }).click();
    await page.locator('[data-card="certificates"] tr[data-name="big-rsa"]').waitFor({ timeout: 120_000 });
    const log = (await page.evaluate('window.jobLog')) as string[];
    expect(log).toEqual(expect.arrayContaining([expect.stringMatching(/^Generating RSA-4096 key… \| Elapsed \d+:\d\d \| true$/)]));
    expect(log.every((line) => /\| Elapsed \d+:\d\d \|/.test(line))).toBe(true);
    expect(log.some((line) => /^Generating/.test(line) === false && line.endsWith('| true'))).toBe(false);
    // The wizard's new row is the one highlighted.
    await until(async () => (await page.locator('[data-card="certificates"] tr[data-name="big-rsa"]').getAttribute('class'))?.split(' ').includes('spotlight') ?? false, 'the highlight on the created row');
    const created = (await api.call<Entry[]>('certificate.query', [['name', '=', 'big-rsa']]))[0]!;
    expect(created).toMatchObject({ key_type: 'RSA', key_length: 4096 });

    const listed = async () => {
      await page.getByRole('button', { name: /^Jobs/ }).click();
      const panel = dialog('Jobs');
      const job = panel.getByRole('region', { name: 'Recent jobs' }).locator('li.job-item[data-state="SUCCESS"]').filter({ has: page.locator('code', { hasText: /^certificate\.create$/ }) });
      await job.first().waitFor();
      expect(await job.first().locator('.pill').textContent()).toBe('Success');
      expect(await job.first().locator('.job-duration').textContent()).toMatch(/^\d+:\d\d$/);
      await shot('jobs-panel');
      await page.keyboard.press('Escape');
      await panel.waitFor({ state: 'hidden' });
    };
    await listed();
    await page.reload();
    await page.locator('tr[data-name="big-rsa"]').waitFor();
    await listed();
  });

  it('lists a failed job with its error in the jobs panel', async () => {
    await api.callJob('certificate.create', [{ ...subjectParams(), name: 'bad-signer', create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: 99_999 }]).catch(() => undefined);
    await page.getByRole('button', { name: /^Jobs/ }).click();
    const panel = dialog('Jobs');
    const failed = panel.locator('li.job-item[data-state="FAILED"]');
    await failed.first().waitFor();
    expect(await failed.first().locator('.job-error').textContent()).not.toBe('');
    await page.keyboard.press('Escape');
    await panel.waitFor({ state: 'hidden' });
  });

  it('aborts a running abortable job from the jobs panel', async () => {
    // A webhook deploy target whose receiver never answers: its deploy job runs until aborted.
    const silent = await startFakeServer(neverAnswer);
    try {
      const certificate = (await api.call<Entry[]>('certificate.query', [['name', '=', 'big-rsa']]))[0]!;
      await api.call('certificate.deploy_target.create', { name: 'silent-hook', certificate: certificate.id, kind: 'WEBHOOK', attributes: { url: `${silent.origin}/deploy`, secret: 'a-deploy-hook-secret-0123' } });
      let jobId = 0;
      await until(async () => {
        const [job] = await api.call<Array<{ id: number }>>('core.get_jobs', [['method', '=', 'certificate.deploy_target.run'], ['state', '=', 'RUNNING']]);
        jobId = job?.id ?? 0;
        return jobId > 0;
      }, 'the deploy job to run');
      await page.getByRole('button', { name: /^Jobs/ }).click();
      const panel = dialog('Jobs');
      const running = panel.getByRole('region', { name: 'Running jobs' }).locator(`li.job-item[data-job="${jobId}"]`);
      await running.waitFor();
      expect(await page.getByRole('button', { name: /^Jobs/ }).getAttribute('data-running')).not.toBe('0');
      await running.getByRole('button', { name: `Abort job ${jobId} (certificate.deploy_target.run)` }).click();
      await panel.getByRole('region', { name: 'Recent jobs' }).locator(`li.job-item[data-job="${jobId}"][data-state="ABORTED"]`).waitFor();
      const [job] = await api.call<Array<{ state: string }>>('core.get_jobs', [['id', '=', jobId]]);
      expect(job!.state).toBe('ABORTED');
      await page.keyboard.press('Escape');
      await panel.waitFor({ state: 'hidden' });
    } finally {
      await silent.close();
    }
  });

  it("Sign CSR chooses the only CSR; the signed certificate is highlighted and scrolled into view, past the card's cap", async () => {
    const csr = await api.callJob<Entry>('certificate.create', [
      { ...subjectParams({ key_type: 'EC', ec_curve: 'SECP256R1', key_length: undefined, lifetime: undefined, san: ['csr.example.com'] }), name: 'only-csr', create_type: 'CERTIFICATE_CREATE_CSR' },
    ]);
    await page.locator('[data-card="csrs"] tr[data-name="only-csr"]').waitFor();
    // More certificates than the card shows, all expiring sooner: the new one sorts past the cap.
    for (let index = 0; index < 11; index++) await createInternalCertificate(api, `filler-${index}`, root.id, { key_type: 'EC', ec_curve: 'SECP256R1', key_length: undefined, lifetime: 100 });
    await page.locator('[data-card="certificates"]').getByRole('button', { name: /^Show all/ }).waitFor();
    // A short window: the CA's row is below the certificates, which then scroll out of view.
    await page.setViewportSize({ width: 1366, height: 420 });
    await page.locator('[data-card="cas"] tr[data-name="jobs-root"]').getByRole('button', { name: 'Sign a CSR with jobs-root' }).click();
    const sign = dialog('Sign CSR');
    expect(await field(sign, 'CSR').inputValue()).toBe(String(csr.id));
    await field(sign, 'Identifier').fill('signed-only');
    await sign.getByRole('button', { name: 'Sign', exact: true }).click();
    await sign.waitFor({ state: 'hidden' });
    const row = page.locator('[data-card="certificates"] tr[data-name="signed-only"]');
    await row.waitFor();
    await until(async () => (await row.getAttribute('class'))?.split(' ').includes('spotlight') ?? false, 'the highlight on the new row');
    await until(
      async () => {
        const [top, bottom, height] = await row.evaluate((element) => [element.getBoundingClientRect().top, element.getBoundingClientRect().bottom, element.ownerDocument.documentElement.clientHeight]);
        return top! >= 0 && bottom! <= height!;
      },
      'the new row in view',
    );
    await page.locator('[data-card="certificates"]').getByRole('button', { name: /^Show fewer/ }).waitFor();
    await shot('new-row-highlighted');
    await page.setViewportSize({ width: 1366, height: 900 });
  });
});
