/**
 * The kinds of alert channel: TrueNAS's Mail, Slack and Mattermost with its attribute names, and
 * certmid's Webhook (JSON, HMAC-signed), Ntfy and Gotify. Each says which attributes are secret
 * (sealed at rest, never shown) and how a batch of alerts is sent.
 */
import { z } from 'zod';
import type { App } from '../../app.js';
// Signed as deploy webhooks are, so one receiver can check both.
import { webhookSignature } from '../../deploy/kinds/webhook.js';
import { postTo } from './http.js';
import { readMailSettings, sendMail } from './mail.js';
import { batchLevel, batchText, batchTitle, hostname, PRODUCT, type AlertBatch, type AlertNotice } from './message.js';

export interface ChannelKind {
  type: string;
  title: string;
  schema: z.ZodObject;
  /** Attributes never shown nor logged; a "********" given back on update keeps the stored value. */
  secrets: readonly string[];
  send(app: App, attributes: Record<string, unknown>, batch: AlertBatch): Promise<void>;
}

const Url = (what: string) =>
  z
    .string()
    .min(1)
    .refine((text) => /^https?:\/\/[^/]/.test(text) && URL.canParse(text), { error: 'Not a valid http(s) URL' })
    .describe(what);

const Email = z.string().regex(/^[^@\s]+@[^@\s]+$/, 'Not a valid E-Mail address');

/** Header value: what ntfy shows as the title must be one line of Latin-1 for fetch. */
function headerText(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[^\x20-\x7e\xa0-\xff]/g, '?').slice(0, 250);
}

const mail: ChannelKind = {
  type: 'Mail',
  title: 'Email',
  schema: z.strictObject({
    email: z
      .string()
      .min(1, 'This field is required')
      .refine((text) => text.split(',').every((address) => Email.safeParse(address.trim()).success), { error: 'Not a valid E-Mail address' })
      .describe('Where to send alerts; several addresses separated by commas.'),
  }),
  secrets: [],
  async send(app, attributes, batch) {
    const to = String(attributes.email).split(',').map((address) => address.trim());
    // TrueNAS's subject, which mail.send prefixes with the product and host.
    await sendMail(app, await readMailSettings(app), { subject: 'Alerts', text: batchText(batch), to });
  },
};

const slack: ChannelKind = {
  type: 'Slack',
  title: 'Slack',
  schema: z.strictObject({ url: Url('The incoming webhook URL (https://hooks.slack.com/services/…); secret.') }),
  secrets: ['url'],
  send: (_app, attributes, batch) => postTo(String(attributes.url), JSON.stringify({ text: batchText(batch) }), { 'Content-Type': 'application/json' }),
};

const mattermost: ChannelKind = {
  type: 'Mattermost',
  title: 'Mattermost',
  schema: z.strictObject({
    url: Url('The incoming webhook URL (https://…/hooks/<key>); secret.'),
    username: z.string().min(1).describe('The name the posts appear under.'),
    channel: z.string().default('').describe("The channel to post in; the webhook's own when empty."),
    password: z.string().default('').describe('Accepted for TrueNAS clients; unused.'),
    team: z.string().default('').describe('Accepted for TrueNAS clients; unused.'),
    cluster_name: z.string().default('').describe('Accepted for TrueNAS clients; unused.'),
  }),
  secrets: ['url', 'password'],
  send(_app, attributes, batch) {
    const body: Record<string, string> = { username: String(attributes.username), text: batchText(batch) };
    if (attributes.channel) body.channel = String(attributes.channel);
    return postTo(String(attributes.url), JSON.stringify(body), { 'Content-Type': 'application/json' });
  },
};

/** The signed body of a Webhook channel (see README "Alert channels"). */
function webhookBody(batch: AlertBatch): string {
  const notice = (item: AlertNotice) => ({ uuid: item.uuid, klass: item.klass, level: item.level, formatted: item.formatted, datetime: item.datetime.toISOString() });
  return JSON.stringify({ product: PRODUCT, hostname: hostname(), test: batch.test, text: batchText(batch), new: batch.new.map(notice), gone: batch.gone.map(notice) });
}

const webhook: ChannelKind = {
  type: 'Webhook',
  title: 'Webhook',
  schema: z.strictObject({
    url: Url('Where the JSON is POSTed.'),
    secret: z.string().min(16, 'At least 16 characters').describe('Key of the HMAC-SHA256 signature in X-Certmid-Signature; secret.'),
  }),
  secrets: ['secret'],
  send(_app, attributes, batch) {
    const body = webhookBody(batch);
    const timestamp = String(Math.floor(Date.now() / 1000));
    return postTo(String(attributes.url), body, {
      'Content-Type': 'application/json',
      'X-Certmid-Timestamp': timestamp,
      'X-Certmid-Signature': webhookSignature(String(attributes.secret), timestamp, body),
    });
  },
};

/** ntfy's priorities 1–5 (min … urgent) by alert level. */
function ntfyPriority(level: string): string {
  if (['CRITICAL', 'ALERT', 'EMERGENCY'].includes(level)) return '5';
  if (level === 'ERROR') return '4';
  if (level === 'WARNING') return '3';
  return '2';
}

const ntfy: ChannelKind = {
  type: 'Ntfy',
  title: 'ntfy',
  schema: z.strictObject({
    url: Url('The topic URL, e.g. https://ntfy.sh/my-alerts.'),
    token: z.string().default('').describe('An access token (tk_…); secret.'),
    username: z.string().default('').describe('For basic authentication instead of a token.'),
    password: z.string().default('').describe('With username; secret.'),
  }),
  secrets: ['token', 'password'],
  send(_app, attributes, batch) {
    const headers: Record<string, string> = {
      'Content-Type': 'text/plain; charset=utf-8',
      Title: headerText(`${PRODUCT} @ ${hostname()}: ${batchTitle(batch)}`),
      Priority: ntfyPriority(batchLevel(batch)),
      Tags: batch.new.length > 0 || batch.test ? 'warning' : 'white_check_mark',
    };
    if (attributes.token) headers.Authorization = `Bearer ${String(attributes.token)}`;
    else if (attributes.username) headers.Authorization = `Basic ${Buffer.from(`${String(attributes.username)}:${String(attributes.password)}`).toString('base64')}`;
    return postTo(String(attributes.url), batchText(batch), headers);
  },
};

/** Gotify's priorities 0–10 by alert level (8 and up ring on Android). */
function gotifyPriority(level: string): number {
  if (['CRITICAL', 'ALERT', 'EMERGENCY'].includes(level)) return 8;
  if (level === 'ERROR') return 7;
  if (level === 'WARNING') return 5;
  return 2;
}

const gotify: ChannelKind = {
  type: 'Gotify',
  title: 'Gotify',
  schema: z.strictObject({
    url: Url('The Gotify server, e.g. https://gotify.example.com.'),
    token: z.string().min(1, 'This field is required').describe('The application token; secret.'),
  }),
  secrets: ['token'],
  send(_app, attributes, batch) {
    const body = JSON.stringify({ title: `${PRODUCT} @ ${hostname()}: ${batchTitle(batch)}`, message: batchText(batch), priority: gotifyPriority(batchLevel(batch)) });
    return postTo(`${String(attributes.url).replace(/\/+$/, '')}/message`, body, { 'Content-Type': 'application/json', 'X-Gotify-Key': String(attributes.token) });
  },
};

export const CHANNEL_KINDS: readonly ChannelKind[] = [mail, slack, mattermost, webhook, ntfy, gotify];

export function channelKind(type: string): ChannelKind | undefined {
  return CHANNEL_KINDS.find((kind) => kind.type === type);
}
