import { z } from 'zod';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin } from '../../src/api/define-plugin.js';
import type { App } from '../../src/app.js';
import { MAIL_EVENT } from '../../src/alerts/channels/delivery.js';
import { AlertOutboxEntity, AlertServiceEntity, MailConfigEntity } from '../../src/alerts/channels/entities.js';
import { ChannelSendError } from '../../src/alerts/channels/http.js';
import { MAIL_SECURITY, readMailSettings, sendMail, writeMailSettings, type MailSettings } from '../../src/alerts/channels/mail.js';
import { transaction } from '../../src/db/transaction.js';
import { CallError } from '../../src/errors/call-error.js';
import { ValidationErrors } from '../../src/errors/validation-errors.js';
import { REDACTED } from '../../src/secrets.js';

const OAuth = z
  .strictObject({
    provider: z.string().default('').describe('gmail or outlook in TrueNAS; stored, not used.'),
    client_id: z.string().default('').describe('Stored, not used.'),
    client_secret: z.string().default('').describe('Stored sealed, not used.'),
    refresh_token: z.string().default('').describe('Stored sealed, not used.'),
  })
  .describe('TrueNAS\'s OAuth settings; certmid sends over SMTP only.');

const MailUpdate = z
  .strictObject({
    fromemail: z.string().max(120).optional().describe('The sender address.'),
    fromname: z.string().max(120).optional().describe('The sender name.'),
    outgoingserver: z.string().max(255).optional().describe('The SMTP server host name or address.'),
    port: z.number().int().min(1).max(65535).optional().describe('Its port (25, 465 for SSL, 587 for TLS).'),
    security: z.enum(MAIL_SECURITY).optional().describe('PLAIN: no encryption; SSL: TLS from the first byte; TLS: STARTTLS, required.'),
    smtp: z.boolean().optional().describe('Log in with user and pass.'),
    user: z.string().max(255).nullable().optional().describe('The SMTP login.'),
    pass: z.string().nullable().optional().describe('Its password; sealed at rest, shown as "********" (given back so, it is kept).'),
    oauth: OAuth.nullable().optional().describe('TrueNAS\'s OAuth settings (stored sealed, not used); null for none.'),
  })
  .describe('The settings to change; the others keep their values.');
type MailUpdate = z.output<typeof MailUpdate>;

const MailEntry = z
  .object({
    id: z.number().describe('Always 1.'),
    fromemail: z.string().describe('The sender address.'),
    fromname: z.string().describe('The sender name.'),
    outgoingserver: z.string().describe('The SMTP server.'),
    port: z.number().describe('Its port.'),
    security: z.enum(MAIL_SECURITY).describe('PLAIN, SSL or TLS (STARTTLS).'),
    smtp: z.boolean().describe('Whether it logs in.'),
    user: z.string().nullable().describe('The SMTP login.'),
    pass: z.string().nullable().describe('"********" when set, else null.'),
    oauth: z.record(z.string(), z.unknown()).nullable().describe('The stored OAuth settings, secrets as "********".'),
  })
  .describe('The SMTP settings alerts are e-mailed through.');

function entry(settings: MailSettings): z.input<typeof MailEntry> {
  return {
    id: 1,
    ...settings,
    pass: settings.pass ? REDACTED : null,
    oauth: settings.oauth ? { ...settings.oauth, client_secret: settings.oauth.client_secret ? REDACTED : '', refresh_token: settings.oauth.refresh_token ? REDACTED : '' } : null,
  };
}

/** The stored settings with `data` over them; "********" keeps a stored secret. */
function merged(old: MailSettings, data: MailUpdate): MailSettings {
  const pass = data.pass === REDACTED ? old.pass : data.pass;
  let oauth = data.oauth === undefined ? old.oauth : data.oauth;
  if (oauth && old.oauth) {
    oauth = {
      ...oauth,
      client_secret: oauth.client_secret === REDACTED ? old.oauth.client_secret : oauth.client_secret,
      refresh_token: oauth.refresh_token === REDACTED ? old.oauth.refresh_token : oauth.refresh_token,
    };
  }
  return {
    fromemail: data.fromemail ?? old.fromemail,
    fromname: data.fromname ?? old.fromname,
    outgoingserver: data.outgoingserver ?? old.outgoingserver,
    port: data.port ?? old.port,
    security: data.security ?? old.security,
    smtp: data.smtp ?? old.smtp,
    user: data.user === undefined ? old.user : data.user,
    pass: pass === undefined ? old.pass : pass,
    oauth,
  };
}

/** TrueNAS's checks, in its words. */
function check(settings: MailSettings, schema: string): void {
  const errors = new ValidationErrors();
  if (settings.smtp && !settings.user) errors.add(`${schema}.user`, 'This field is required when SMTP authentication is enabled');
  if ((!settings.oauth || settings.oauth.provider === 'outlook') && !settings.fromemail) errors.add(`${schema}.fromemail`, 'This field is required');
  else if (settings.fromemail && !/^[^@\s]+@[^@\s]+$/.test(settings.fromemail)) errors.add(`${schema}.fromemail`, 'Not a valid E-Mail address');
  // eslint-disable-next-line no-control-regex
  if (settings.pass && !/^[\x00-\x7f]*$/.test(settings.pass)) {
    errors.add(`${schema}.pass`, 'Only plain text characters (7-bit ASCII) are allowed in passwords. UTF or composed characters are not allowed.');
  }
  errors.check();
}

const config = defineMethod({
  name: 'mail.config',
  description: 'The SMTP settings alerts are e-mailed through; the password reads "********".',
  params: {},
  result: MailEntry,
  roles: ['ALERT_READ'],
  handler: async (ctx) => entry(await readMailSettings(ctx.app)),
});

/** Mail channels' waiting alerts are tried again at once with the new settings. */
async function retryMailChannels(app: App): Promise<void> {
  const mailChannels = await app.db.getRepository(AlertServiceEntity).find({ select: { id: true }, where: { type: 'Mail' } });
  for (const channel of mailChannels) await app.db.getRepository(AlertOutboxEntity).update({ service_id: channel.id }, { next_attempt_at: new Date() });
}

const update = defineMethod({
  name: 'mail.update',
  description: 'Change the SMTP settings.',
  params: { data: MailUpdate },
  result: MailEntry,
  roles: ['ALERT_WRITE'],
  auditDescription: 'Mail update',
  handler: async (ctx, { data }) => {
    const settings = merged(await readMailSettings(ctx.app), data);
    check(settings, 'mail_update');
    await transaction(ctx.app.db, (manager) => writeMailSettings(ctx.app, manager, settings));
    await retryMailChannels(ctx.app);
    await ctx.app.events.publish({ collection: MAIL_EVENT, msg: 'changed', id: 1 });
    return entry(await readMailSettings(ctx.app));
  },
});

const MailMessage = z
  .strictObject({
    subject: z.string().describe('Prefixed "certmid <host>: " as TrueNAS prefixes its product and host.'),
    text: z.string().max(1_000_000).default('').describe('The plain-text body.'),
    html: z.string().nullable().optional().describe('Accepted for TrueNAS clients; only the text is sent.'),
    to: z.array(z.string()).default([]).describe('Recipients (required here: certmid users have no e-mail addresses).'),
    cc: z.array(z.string()).default([]).describe('Accepted; unused.'),
    interval: z.number().int().nullable().optional().describe('Accepted; unused.'),
    channel: z.string().nullable().optional().describe('Accepted; unused.'),
    timeout: z.number().int().default(300).describe('Accepted; certmid gives the server 30 s a step.'),
    attachments: z.boolean().default(false).describe('Only false: attachments are not supported.'),
    queue: z.boolean().default(true).describe('Accepted; a failed message is not queued.'),
    extra_headers: z.record(z.string(), z.unknown()).default({}).describe('Accepted; unused.'),
  })
  .describe('The message.');

const send = defineMethod({
  name: 'mail.send',
  description: 'Send an e-mail with the stored SMTP settings, or with `config` over them (a job, as in TrueNAS; it runs in the daemon so the settings never reach the job queue).',
  params: { message: MailMessage, config: MailUpdate.default({}) },
  result: z.boolean(),
  roles: ['ALERT_WRITE'],
  auditDescription: 'Send mail',
  job: { inDaemon: true },
  handler: async (ctx, { message, config: overrides }) => {
    const errors = new ValidationErrors();
    if (message.to.length === 0) errors.add('mail_message.to', 'This field is required: certmid users have no e-mail addresses');
    if (message.attachments) errors.add('mail_message.attachments', 'Attachments are not supported');
    errors.check();
    const settings = merged(await readMailSettings(ctx.app), overrides);
    try {
      await sendMail(ctx.app, settings, { subject: message.subject, text: message.text, to: message.to });
    } catch (error) {
      if (error instanceof ChannelSendError) throw new CallError(error.message, error.message.startsWith('Authentication error') ? 'EPERM' : 'EFAULT');
      throw error;
    }
    return true;
  },
});

export const mailPlugin = definePlugin({
  namespace: 'mail',
  description: 'The SMTP server alerts are e-mailed through.',
  // A pydantic-model namespace in TrueNAS 25.04: its argument errors read as pydantic's.
  validation: 'pydantic',
  entities: [MailConfigEntity],
  methods: [config, update, send],
});
