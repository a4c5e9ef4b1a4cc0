/**
 * Alert channels through the real daemon: alerts raised the real way (certificates made by openssl,
 * imported) reach a real SMTP server (aiosmtpd, STARTTLS with AUTH and implicit TLS) and local
 * receivers speaking Slack's, Mattermost's, ntfy's and Gotify's request shapes and checking the
 * signed webhook; channels filter by level, classes by policy; a failing channel is an alert that
 * clears after a fix; secrets are never returned nor audited; daemons sharing PostgreSQL and
 * Redis send each alert once.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAlertChecks } from '../../src/alerts/alerts.js';
import { deliverDue } from '../../src/alerts/channels/delivery.js';
import { AlertOutboxEntity } from '../../src/alerts/channels/entities.js';
import { alertSources } from '../../src/alerts/sources.js';
import type { CertmidClient } from '../../src/client/client.js';
import { startFakeServer } from '../fakes/fake-http.js';
import { gotifyReceiver, mattermostReceiver, ntfyReceiver, signedWebhookReceiver, slackReceiver, type Receiver } from '../fakes/alert-receivers.js';
import { closedPort } from '../helpers/net.js';
import { selfSignedCertificate } from '../helpers/openssl.js';
import { adminClient, rpcErrorOf, validationErrorsOf, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, databaseBackends, dropQueuePrefix, postgresAvailable, REDIS_URL, redisAvailable, uniquePrefix, type TestDatabase } from '../helpers/services.js';
import { smtpAvailable, smtpCertificates, startSmtpServer, type SmtpServer } from '../helpers/smtp.js';
import { spawnWorker } from '../helpers/worker-process.js';

type Alert = Record<string, any>;
type Channel = Record<string, any>;

const SMTP_USER = 'alerts';
const SMTP_PASSWORD = 'smtp-Secret-4711';
const SLACK_PATH = '/services/T0001/B0001/slackSecretToken42';
const MATTERMOST_KEY = 'mattermostSecretKey42';
const WEBHOOK_SECRET = 'webhook-hmac-secret-0123456789';
const NTFY_TOKEN = 'tk_ntfySecretToken42';
const GOTIFY_TOKEN = 'gotifySecretToken42';
const SECRETS = ['flakySecret42', SMTP_PASSWORD, 'slackSecretToken42', MATTERMOST_KEY, WEBHOOK_SECRET, NTFY_TOKEN, GOTIFY_TOKEN];

async function importCertificate(client: CertmidClient, name: string, days: number): Promise<Entry> {
  return client.callJob<Entry>('certificate.create', [{ name, create_type: 'CERTIFICATE_CREATE_IMPORTED', ...(await selfSignedCertificate(`${name}.example`, days)) }]);
}

const mentions = (receiver: Receiver, text: string) => receiver.accepted.filter((message) => JSON.stringify(message).includes(text));
const mailsAbout = (smtp: SmtpServer, text: string) => smtp.messages().filter((message) => message.includes(text));

const available = smtpAvailable();

describe.each(await databaseBackends())('alert channels on %s', (_backend, open, up) => {
  describe.runIf(available && up)('through one daemon', () => {
    let database: TestDatabase;
    let server: TestServer;
    let admin: CertmidClient;
    let scratch: string;
    let starttls: SmtpServer;
    let implicit: SmtpServer;
    const receivers: Receiver[] = [];

    const mailSettings = (smtp: SmtpServer, security: 'TLS' | 'SSL', pass = SMTP_PASSWORD) => ({
      fromemail: 'certmid@example.com',
      fromname: 'certmid alerts',
      outgoingserver: '127.0.0.1',
      port: smtp.port,
      security,
      smtp: true,
      user: SMTP_USER,
      pass,
    });

    beforeAll(async () => {
      database = await open();
      server = await startTestServer({ env: { ...database.env, ALERT_RETRY_SECONDS: '0.5' } });
      admin = await adminClient(server);
      scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-channels-'));
      const tls = await smtpCertificates(scratch);
      // The SMTP server's CA is trusted the way an administrator would: in certmid's trusted store.
      await admin.call('certificateauthority.create', { name: 'smtp-ca', create_type: 'CA_CREATE_IMPORTED', certificate: tls.caPem, add_to_trusted_store: true });
      const credentials = { cert: tls.cert, key: tls.key, user: SMTP_USER, password: SMTP_PASSWORD };
      starttls = await startSmtpServer({ mode: 'starttls', ...credentials });
      implicit = await startSmtpServer({ mode: 'ssl', ...credentials });
    });
    afterAll(async () => {
      await admin?.close();
      await server?.close();
      await database?.drop();
      await starttls?.close();
      await implicit?.close();
      for (const receiver of receivers) await receiver.close();
      if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
    });

    it('names the bad attribute of a channel', async () => {
      const create = (fields: Record<string, unknown>) => validationErrorsOf(admin.call('alertservice.create', { name: 'bad', level: 'WARNING', ...fields }));
      expect(await create({ type: 'Mail', attributes: {} })).toContainEqual(['alert_service_create.attributes.email', 'This field is required', 22]);
      expect(await create({ type: 'Mail', attributes: { email: 'not an address' } })).toContainEqual(['alert_service_create.attributes.email', 'Not a valid E-Mail address', 22]);
      expect(await create({ type: 'Slack', attributes: { url: 'ftp://example.com/x' } })).toContainEqual(['alert_service_create.attributes.url', 'Not a valid http(s) URL', 22]);
      expect(await create({ type: 'Slack', attributes: { url: 'https://hooks.example.com/x', channel: '#x' } })).toContainEqual(['alert_service_create.attributes.channel', 'Extra inputs are not permitted', 22]);
      expect(await create({ type: 'Webhook', attributes: { url: 'https://example.com/hook', secret: 'short' } })).toContainEqual(['alert_service_create.attributes.secret', 'At least 16 characters', 22]);
      expect((await create({ type: 'Pager', attributes: {} }))[0]![0]).toBe('alert_service_create.type');
      expect(await create({ type: 'Mail', attributes: { email: 'a@example.com' }, level: 'LOUD' })).toContainEqual([
        'alert_service_create.level',
        'Level must be one of ["INFO","NOTICE","WARNING","ERROR","CRITICAL","ALERT","EMERGENCY"]',
        22,
      ]);
      expect(await validationErrorsOf(admin.call('mail.update', { smtp: true, user: null }))).toContainEqual(['mail_update.user', 'This field is required when SMTP authentication is enabled', 22]);
      expect(await validationErrorsOf(admin.call('mail.update', { pass: 'pässword' }))).toContainEqual([
        'mail_update.pass',
        'Only plain text characters (7-bit ASCII) are allowed in passwords. UTF or composed characters are not allowed.',
        22,
      ]);
      expect(await validationErrorsOf(admin.call('mail.update', { fromemail: 'nobody' }))).toContainEqual(['mail_update.fromemail', 'Not a valid E-Mail address', 22]);
      expect(await admin.call('alertservice.query')).toEqual([]);

      // Before any SMTP server is set, a mail test says so.
      const unset = await rpcErrorOf(admin.call('alertservice.test', { name: 'try', type: 'Mail', attributes: { email: 'a@example.com' }, level: 'INFO' }));
      expect(unset.message).toContain('You must provide an outgoing mailserver and mail server port when sending mail');

      const channel = await admin.call<Channel>('alertservice.create', { name: 'taken', type: 'Mail', attributes: { email: 'a@example.com' }, level: 'INFO' });
      expect(await create({ name: 'taken', type: 'Mail', attributes: { email: 'b@example.com' } })).toContainEqual(['alert_service_create.name', 'Alert service with this name already exists', 22]);
      expect(await validationErrorsOf(admin.call('alertservice.update', channel.id, { type: 'Slack' }))).toContainEqual(['alert_service_update.attributes.url', 'This field is required', 22]);
      expect((await validationErrorsOf(admin.call('alertservice.update', 9999, { name: 'x' })))[0]![1]).toBe('Alert service 9999 does not exist');
      expect((await validationErrorsOf(admin.call('alertservice.delete', 9999)))[0]![1]).toBe('Alert service 9999 does not exist');
      expect(await admin.call('alertservice.get_instance', channel.id)).toMatchObject({ name: 'taken', type: 'Mail', attributes: { email: 'a@example.com' } });
      await admin.call('alertservice.delete', channel.id);
      expect(await admin.call('alertservice.query')).toEqual([]);
    });

    it('e-mails an alert over STARTTLS with AUTH when it is raised, and again when it clears', async () => {
      const config = await admin.call<Record<string, unknown>>('mail.update', mailSettings(starttls, 'TLS'));
      expect(config).toMatchObject({ id: 1, security: 'TLS', smtp: true, user: SMTP_USER, pass: '********', outgoingserver: '127.0.0.1' });
      const channel = await admin.call<Channel>('alertservice.create', { name: 'ops mail', type: 'Mail', attributes: { email: 'ops@example.com' }, level: 'NOTICE' });
      expect(channel).toMatchObject({ name: 'ops mail', type: 'Mail', attributes: { type: 'Mail', email: 'ops@example.com' }, level: 'NOTICE', enabled: true, type__title: 'Email', last_error: null });

      const entry = await importCertificate(admin, 'five-days', 5);
      await expect.poll(() => mailsAbout(starttls, "'five-days'"), { timeout: 20_000 }).toHaveLength(1);
      const mail = mailsAbout(starttls, "'five-days'")[0]!;
      expect(mail).toContain('X-Envelope-To: ops@example.com');
      expect(mail).toMatch(/^From: certmid alerts <certmid@example.com>$/m);
      expect(mail).toMatch(new RegExp(`^Subject: certmid ${os.hostname()}: Alerts$`, 'm'));
      expect(mail).toContain(`certmid @ ${os.hostname()}`);
      expect(mail).toContain("New alert:\n* Certificate 'five-days' is expiring within 4 days.");

      await admin.callJob('certificate.delete', [entry.id]);
      await expect.poll(() => mailsAbout(starttls, 'has been cleared'), { timeout: 20_000 }).toHaveLength(1);
      expect(mailsAbout(starttls, 'has been cleared')[0]).toContain("The following alert has been cleared:\n* Certificate 'five-days' is expiring within 4 days.");
    });

    it('sends over implicit TLS, and alertservice.test sends a test alert', async () => {
      await admin.call('mail.update', mailSettings(implicit, 'SSL'));
      expect(await admin.call('alertservice.test', { name: 'try', type: 'Mail', attributes: { email: 'test@example.com' }, level: 'INFO' })).toBe(true);
      expect(mailsAbout(implicit, 'This is a test alert')).toHaveLength(1);
      expect(mailsAbout(implicit, 'This is a test alert')[0]).toMatch(/^Subject: certmid .+: Alerts$/m);

      // The server's certificate is checked: without its CA in the trusted store, nothing is sent.
      const [ca] = await admin.call<Entry[]>('certificateauthority.query', [['name', '=', 'smtp-ca']]);
      await admin.call('certificateauthority.update', ca!.id, { add_to_trusted_store: false });
      const refused = await rpcErrorOf(admin.call('alertservice.test', { name: 'try', type: 'Mail', attributes: { email: 'test@example.com' }, level: 'INFO' }));
      expect(refused.message).toMatch(/Failed to send email: .*(certificate|issuer)/i);
      await admin.call('certificateauthority.update', ca!.id, { add_to_trusted_store: true });
      expect(mailsAbout(implicit, 'This is a test alert')).toHaveLength(1);
      await admin.call('mail.update', mailSettings(starttls, 'TLS'));
    });

    it('makes a wrong SMTP password a clear error and an AlertServiceFailed alert, cleared once fixed', async () => {
      await admin.call('mail.update', { pass: 'wrong-password' });
      const error = await rpcErrorOf(admin.call('alertservice.test', { name: 'try', type: 'Mail', attributes: { email: 'test@example.com' }, level: 'INFO' }));
      expect(error.message).toMatch(/Sending a test alert through "try" failed: Authentication error \(535\)/);
      expect(error.message).not.toContain('wrong-password');

      await importCertificate(admin, 'while-broken', 5);
      const failed = async () => (await admin.call<Alert[]>('alert.list')).find((alert) => alert.klass === 'AlertServiceFailed');
      await expect.poll(failed, { timeout: 20_000 }).toBeDefined();
      const alert = (await failed())!;
      expect(alert).toMatchObject({ level: 'ERROR', args: { name: 'ops mail' } });
      expect(alert.formatted).toMatch(/^Sending alerts through 'ops mail' failed: Authentication error \(535\)/);
      expect(JSON.stringify(alert)).not.toContain('wrong-password');
      expect((await admin.call<Channel[]>('alertservice.query'))[0]!.last_error).toMatch(/Authentication error/);

      await admin.call('mail.update', { pass: SMTP_PASSWORD });
      await expect.poll(() => mailsAbout(starttls, "'while-broken'"), { timeout: 20_000 }).toHaveLength(1);
      await expect.poll(failed, { timeout: 20_000 }).toBeUndefined();
      expect((await admin.call<Channel[]>('alertservice.query'))[0]!.last_error).toBeNull();
    });

    it('posts to Slack, Mattermost, ntfy, Gotify and a signed webhook in their shapes', async () => {
      const [slack, mattermost, webhook, ntfy, gotify] = await Promise.all([
        slackReceiver(SLACK_PATH),
        mattermostReceiver(MATTERMOST_KEY),
        signedWebhookReceiver(WEBHOOK_SECRET),
        ntfyReceiver('certmid-alerts', NTFY_TOKEN),
        gotifyReceiver(GOTIFY_TOKEN),
      ]);
      receivers.push(slack, mattermost, webhook, ntfy, gotify);
      const create = (name: string, type: string, attributes: Record<string, unknown>) => admin.call<Channel>('alertservice.create', { name, type, attributes, level: 'NOTICE' });
      await create('slack', 'Slack', { url: `${slack.origin}${SLACK_PATH}` });
      await create('mattermost', 'Mattermost', { url: `${mattermost.origin}/hooks/${MATTERMOST_KEY}`, username: 'certmid', channel: 'alerts' });
      await create('webhook', 'Webhook', { url: `${webhook.origin}/certmid`, secret: WEBHOOK_SECRET });
      await create('ntfy', 'Ntfy', { url: `${ntfy.origin}/certmid-alerts`, token: NTFY_TOKEN });
      // Gotify's type given inside attributes, as later TrueNAS versions send it.
      await admin.call('alertservice.create', { name: 'gotify', attributes: { type: 'Gotify', url: gotify.origin, token: GOTIFY_TOKEN }, level: 'NOTICE' });

      await importCertificate(admin, 'http-five', 5);
      const text = "Certificate 'http-five' is expiring within 4 days.";
      for (const receiver of [slack, mattermost, webhook, ntfy, gotify]) await expect.poll(() => mentions(receiver, 'http-five'), { timeout: 20_000 }).toHaveLength(1);
      expect(mentions(slack, 'http-five')[0]!.text).toContain(`New alert:\n* ${text}`);
      expect(mentions(mattermost, 'http-five')[0]).toMatchObject({ username: 'certmid', channel: 'alerts', text: expect.stringContaining(text) });
      expect(mentions(webhook, 'http-five')[0]).toMatchObject({ product: 'certmid', test: false, new: [{ klass: 'CertificateIsExpiring', level: 'NOTICE', formatted: text }], gone: [] });
      expect(mentions(ntfy, 'http-five')[0]).toMatchObject({ title: `certmid @ ${os.hostname()}: ${text}`, priority: 2, tags: ['warning'], message: expect.stringContaining(text) });
      expect(mentions(gotify, 'http-five')[0]).toMatchObject({ title: `certmid @ ${os.hostname()}: ${text}`, priority: 2, message: expect.stringContaining(text) });
    });

    it('never returns a secret nor records one in the audit log, and keeps one given back as ********', async () => {
      const channels = await admin.call<Channel[]>('alertservice.query');
      const byName = Object.fromEntries(channels.map((channel) => [channel.name, channel]));
      expect(byName.slack!.attributes.url).toBe('********');
      expect(byName.mattermost!.attributes).toMatchObject({ url: '********', username: 'certmid' });
      expect(byName.webhook!.attributes).toMatchObject({ url: expect.stringContaining('/certmid'), secret: '********' });
      expect(byName.ntfy!.attributes).toMatchObject({ token: '********', url: expect.stringContaining('/certmid-alerts') });
      expect(byName.gotify!.attributes).toMatchObject({ type: 'Gotify', token: '********' });
      const shown = JSON.stringify([channels, await admin.call('mail.config'), await admin.call('alertservice.get_instance', byName.slack!.id)]);
      for (const secret of SECRETS) expect(shown).not.toContain(secret);

      const audited = await admin.call<Array<Record<string, any>>>('audit.query', { services: ['MIDDLEWARE'], 'query-filters': [['event', '=', 'METHOD_CALL']] });
      const methods = new Set(audited.map((entry) => entry.event_data.method));
      for (const method of ['alertservice.create', 'mail.update', 'alertservice.test']) expect(methods).toContain(method);
      const recorded = JSON.stringify(audited);
      for (const secret of [...SECRETS, 'wrong-password']) expect(recorded).not.toContain(secret);

      // The entry as read, given back: the stored token stays and still works.
      const gotify = byName.gotify!;
      await admin.call('alertservice.update', gotify.id, { attributes: gotify.attributes, name: 'gotify push' });
      expect(await admin.call('alertservice.test', { id: gotify.id, name: 'gotify push', type: 'Gotify', attributes: gotify.attributes, level: 'NOTICE' })).toBe(true);
      await expect.poll(() => mentions(receivers[4]!, 'This is a test alert')).toHaveLength(1);
    });

    it('sends only alerts at or above a channel\'s level, and no alert of a class whose policy is NEVER', async () => {
      const warnings = await signedWebhookReceiver(WEBHOOK_SECRET);
      receivers.push(warnings);
      await admin.call('alertservice.create', { name: 'warnings only', type: 'Webhook', attributes: { url: warnings.origin, secret: WEBHOOK_SECRET }, level: 'WARNING' });
      const disabled = await signedWebhookReceiver(WEBHOOK_SECRET);
      receivers.push(disabled);
      await admin.call('alertservice.create', { name: 'disabled', type: 'Webhook', attributes: { url: disabled.origin, secret: WEBHOOK_SECRET }, level: 'INFO', enabled: false });
      const notices = receivers[2]!;
      await importCertificate(admin, 'level-notice', 5);
      await importCertificate(admin, 'level-warning', 2);
      await expect.poll(() => mentions(warnings, "'level-warning'"), { timeout: 20_000 }).toHaveLength(1);
      await expect.poll(() => mentions(notices, "'level-notice'"), { timeout: 20_000 }).toHaveLength(1);
      expect(mentions(warnings, "'level-notice'")).toEqual([]);
      expect(disabled.requests).toEqual([]);

      await admin.call('alertclasses.update', { classes: { CertificateIsExpiring: { policy: 'NEVER' } } });
      await importCertificate(admin, 'never-sent', 5);
      await importCertificate(admin, 'sent-soon', 2);
      await expect.poll(() => mentions(notices, "'sent-soon'"), { timeout: 20_000 }).toHaveLength(1);
      expect(mentions(notices, "'never-sent'")).toEqual([]);

      // HOURLY: gathered, due at the next full hour rather than sent now.
      await admin.call('alertclasses.update', { classes: { CertificateIsExpiring: { policy: 'HOURLY' } } });
      await importCertificate(admin, 'hourly', 5);
      const outbox = server.daemon.app.db.getRepository(AlertOutboxEntity);
      await expect.poll(async () => (await outbox.findBy({ klass: 'CertificateIsExpiring' })).filter((row) => row.formatted.includes("'hourly'")).length, { timeout: 20_000 }).toBeGreaterThan(0);
      const nextHour = Math.ceil((Date.now() + 1) / 3_600_000) * 3_600_000;
      for (const row of (await outbox.findBy({ klass: 'CertificateIsExpiring' })).filter((item) => item.formatted.includes("'hourly'"))) expect(row.due_at.getTime()).toBeLessThanOrEqual(nextHour);
      await deliverDue(server.daemon.app);
      expect(mentions(notices, "'hourly'")).toEqual([]);
      await admin.call('alertclasses.update', { classes: {} });
    });

    it('sends what a daemon that died while sending left behind once its claim lapses, and nothing still claimed', async () => {
      const webhook = receivers[2]!;
      const [channel] = await admin.call<Channel[]>('alertservice.query', [['name', '=', 'webhook']]);
      const outbox = server.daemon.app.db.getRepository(AlertOutboxEntity);
      const now = Date.now();
      const row = (formatted: string, leaseUntil: number) => ({
        service_id: channel!.id,
        event: 'new',
        alert_uuid: randomBytes(16).toString('hex').slice(0, 36),
        klass: 'CertificateIsExpiring',
        level: 'NOTICE',
        formatted,
        raised_at: new Date(now),
        due_at: new Date(now - 1000),
        next_attempt_at: new Date(now - 1000),
        attempts: 0,
        lease_until: new Date(leaseUntil),
      });
      await outbox.insert([row('left by a dead daemon', now - 1000), row('held by a live daemon', now + 600_000)]);
      await deliverDue(server.daemon.app);
      await expect.poll(() => mentions(webhook, 'left by a dead daemon'), { timeout: 20_000 }).toHaveLength(1);
      expect(mentions(webhook, 'held by a live daemon')).toEqual([]);
      expect((await outbox.findBy({ formatted: 'held by a live daemon' })).length).toBe(1);
      await outbox.delete({ formatted: 'held by a live daemon' });
    });

    it('retries a failing receiver with backoff until it answers, the failure visible meanwhile', async () => {
      let up = false;
      const flaky = await startFakeServer((request) => (up ? { status: 200, body: 'ok' } : { status: 503, body: `down; you sent ${request.body.length} bytes` }));
      receivers.push(Object.assign(flaky, { accepted: [] }));
      const channel = await admin.call<Channel>('alertservice.create', { name: 'flaky', type: 'Slack', attributes: { url: `${flaky.origin}/services/T1/B1/flakySecret42` }, level: 'NOTICE' });
      await importCertificate(admin, 'flaky-five', 5);
      const failed = async () => (await admin.call<Alert[]>('alert.list')).find((alert) => alert.klass === 'AlertServiceFailed' && alert.args.name === 'flaky');
      await expect.poll(failed, { timeout: 20_000 }).toMatchObject({ formatted: `Sending alerts through 'flaky' failed: 127.0.0.1:${new URL(flaky.origin).port} answered 503 Service Unavailable` });
      // Tried again by itself (no change to the channel), and told to the other channels.
      await expect.poll(() => flaky.requests.length, { timeout: 20_000 }).toBeGreaterThan(2);
      await expect.poll(() => mentions(receivers[2]!, "Sending alerts through 'flaky' failed"), { timeout: 20_000 }).toHaveLength(1);
      expect(JSON.stringify(await admin.call('alert.list'))).not.toContain('flakySecret42');
      up = true;
      await expect.poll(failed, { timeout: 20_000 }).toBeUndefined();
      const delivered = flaky.requests.filter((request) => request.body.includes("'flaky-five'"));
      expect(delivered.length).toBeGreaterThan(2);
      expect((await admin.call<Channel>('alertservice.get_instance', channel.id)).last_error).toBeNull();
      await admin.call('alertservice.delete', channel.id);
    });

    it('reports an unreachable receiver and a refused signature as clear test failures', async () => {
      const port = await closedPort();
      const unreachable = await rpcErrorOf(admin.call('alertservice.test', { name: 'gone', type: 'Gotify', attributes: { url: `http://127.0.0.1:${port}`, token: GOTIFY_TOKEN }, level: 'INFO' }));
      expect(unreachable.message).toContain(`Sending a test alert through "gone" failed: could not reach 127.0.0.1:${port} (ECONNREFUSED)`);
      expect(unreachable.message).not.toContain(GOTIFY_TOKEN);
      const webhook = receivers[2]!;
      const refused = await rpcErrorOf(admin.call('alertservice.test', { name: 'wrong key', type: 'Webhook', attributes: { url: webhook.origin, secret: 'not-the-receivers-secret' }, level: 'INFO' }));
      expect(refused.message).toContain(`failed: 127.0.0.1:${new URL(webhook.origin).port} answered 401 Unauthorized`);
      expect(refused.message).not.toContain('not-the-receivers-secret');
    });

    it('sends mail with mail.send, the password never in the job record', async () => {
      const result = await admin.callJob<boolean>('mail.send', [{ subject: 'Hello', text: 'A message from mail.send', to: ['someone@example.com'] }, { pass: SMTP_PASSWORD }]);
      expect(result).toBe(true);
      // Alert mails may arrive meanwhile: this one is told by its text.
      expect(mailsAbout(starttls, 'A message from mail.send')).toHaveLength(1);
      expect(mailsAbout(starttls, 'A message from mail.send')[0]).toMatch(/^Subject: certmid .+: Hello$/m);
      const jobs = await admin.call<Array<Record<string, any>>>('core.get_jobs', [['method', '=', 'mail.send']]);
      expect(jobs.at(-1)!.arguments[1]).toEqual({ pass: '********' });
      await expect(admin.callJob('mail.send', [{ subject: 'Hello', text: 'x', to: ['someone@example.com'] }, { pass: 'wrong-password' }])).rejects.toThrow(/Authentication error \(535\)/);
      expect(await validationErrorsOf(admin.callJob('mail.send', [{ subject: 'Hello', text: 'x', to: ['a@example.com'], attachments: true }]))).toContainEqual(['mail_message.attachments', 'Attachments are not supported', 22]);
      expect(await validationErrorsOf(admin.callJob('mail.send', [{ subject: 'Hello', text: 'x' }]))).toContainEqual(['mail_message.to', expect.stringContaining('This field is required'), 22]);
    });

    it('is readable with ALERT_READ only, and deletes a channel', async () => {
      await admin.call('user.create', { username: 'watcher', password: 'watcher-password-1', roles: ['ALERT_READ'] });
      const { CertmidClient } = await import('../../src/client/client.js');
      const { WebSocket } = await import('ws');
      const watcher = await CertmidClient.connect(server.url, { WebSocket });
      try {
        await watcher.login('watcher', 'watcher-password-1');
        const channels = await watcher.call<Channel[]>('alertservice.query', [['type', '=', 'Slack']]);
        expect(channels).toHaveLength(1);
        await expect(watcher.call('alertservice.delete', channels[0]!.id)).rejects.toThrow(/Not authorized/);
        expect(await admin.call('alertservice.delete', channels[0]!.id)).toBe(true);
        const missing = await validationErrorsOf(admin.call('alertservice.get_instance', channels[0]!.id));
        expect(missing[0]![1]).toMatch(/does not exist/);
      } finally {
        await watcher.close();
      }
    });
  });
});

const shared = (await postgresAvailable()) && (await redisAvailable());

describe('alert channels across daemons', () => {
  it.runIf(shared)('sends each alert once when two daemons share PostgreSQL and Redis', async () => {
    const database = await createTestDatabase();
    const prefix = uniquePrefix();
    const env = { DATABASE_URL: database.url, REDIS_URL, QUEUE_PREFIX: prefix, MASTER_KEY: randomBytes(32).toString('base64'), ALERT_RETRY_SECONDS: '0.5', JOB_HEARTBEAT_SECONDS: '0.5' };
    const receiver = await signedWebhookReceiver(WEBHOOK_SECRET);
    const first = await startTestServer({ env });
    const second = await startTestServer({ env: { ...env, ADMIN_PASSWORD: first.admin.password } });
    const worker = await spawnWorker({ ...env, DATA_DIR: first.dataDir });
    const one = await adminClient(first);
    try {
      await one.call('alertservice.create', { name: 'hook', type: 'Webhook', attributes: { url: receiver.origin, secret: WEBHOOK_SECRET }, level: 'INFO' });
      await importCertificate(one, 'shared-once', 5);
      await expect.poll(() => mentions(receiver, "'shared-once'"), { timeout: 30_000 }).toHaveLength(1);
      // Both daemons check and send again, at the same time; a later alert marks when they are done.
      for (let round = 0; round < 3; round += 1) {
        await Promise.all([first, second].map((server) => runAlertChecks(server.daemon.app, alertSources(new Date()))));
        await Promise.all([first, second].map((server) => deliverDue(server.daemon.app)));
      }
      await importCertificate(one, 'shared-later', 5);
      await expect.poll(() => mentions(receiver, "'shared-later'"), { timeout: 30_000 }).toHaveLength(1);
      expect(mentions(receiver, "'shared-once'")).toHaveLength(1);
    } finally {
      await one.close();
      await worker.stop();
      await second.close();
      await first.close();
      await receiver.close();
      await database.drop();
      await dropQueuePrefix(prefix);
    }
  });
});
