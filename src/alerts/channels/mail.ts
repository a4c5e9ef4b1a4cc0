/**
 * TrueNAS's `mail.config`: the SMTP server alerts are e-mailed through. The password (and the
 * OAuth settings, stored for TrueNAS clients but not used) are sealed at rest. Sending uses
 * nodemailer: STARTTLS for `TLS`, TLS from the first byte for `SSL`, neither for `PLAIN`; the
 * server's certificate is checked against the system's roots and the CAs and certificates added to
 * certmid's trusted store.
 */
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { IsNull, type EntityManager } from 'typeorm';
import type { App } from '../../app.js';
import { CertificateAuthorityEntity, CertificateEntity } from '../../certs/entities.js';
import { MailConfigEntity, type MailConfigRow } from './entities.js';
import { ChannelSendError } from './http.js';
import { hostname, PRODUCT } from './message.js';

export const MAIL_SECURITY = ['PLAIN', 'SSL', 'TLS'] as const;

export interface OAuthSettings {
  provider: string;
  client_id: string;
  client_secret: string;
  refresh_token: string;
}

/** The settings with the secrets open, as the sender uses them. */
export interface MailSettings {
  fromemail: string;
  fromname: string;
  outgoingserver: string;
  port: number;
  security: (typeof MAIL_SECURITY)[number];
  smtp: boolean;
  user: string | null;
  pass: string | null;
  oauth: OAuthSettings | null;
}

export const DEFAULT_MAIL: MailSettings = { fromemail: '', fromname: '', outgoingserver: '', port: 25, security: 'PLAIN', smtp: false, user: null, pass: null, oauth: null };

export async function readMailSettings(app: App, manager: EntityManager = app.db.manager): Promise<MailSettings> {
  const row = await manager.getRepository(MailConfigEntity).findOneBy({ id: 1 });
  if (!row) return { ...DEFAULT_MAIL };
  return {
    fromemail: row.fromemail,
    fromname: row.fromname,
    outgoingserver: row.outgoingserver,
    port: row.port,
    security: (MAIL_SECURITY as readonly string[]).includes(row.security) ? (row.security as MailSettings['security']) : 'PLAIN',
    smtp: row.smtp,
    user: row.user,
    pass: row.pass === null ? null : app.secrets.decrypt(row.pass),
    oauth: row.oauth === null ? null : (JSON.parse(app.secrets.decrypt(row.oauth)) as OAuthSettings),
  };
}

export async function writeMailSettings(app: App, manager: EntityManager, settings: MailSettings): Promise<void> {
  const row: MailConfigRow = {
    id: 1,
    fromemail: settings.fromemail,
    fromname: settings.fromname,
    outgoingserver: settings.outgoingserver,
    port: settings.port,
    security: settings.security,
    smtp: settings.smtp,
    user: settings.user,
    pass: settings.pass === null || settings.pass === '' ? null : app.secrets.encrypt(settings.pass),
    oauth: settings.oauth === null ? null : app.secrets.encrypt(JSON.stringify(settings.oauth)),
  };
  await manager.getRepository(MailConfigEntity).save(row);
}

/** The system's roots plus every certificate certmid was told to trust (not revoked). */
async function trustedRoots(app: App): Promise<string[]> {
  const where = { add_to_trusted_store: true, revoked_date: IsNull() };
  const authorities = await app.db.getRepository(CertificateAuthorityEntity).find({ select: { id: true, certificate: true }, where });
  const certificates = await app.db.getRepository(CertificateEntity).find({ select: { id: true, certificate: true }, where });
  const own = [...authorities, ...certificates].map((row) => row.certificate).filter((pem): pem is string => typeof pem === 'string' && pem !== '');
  return [...rootCertificates, ...own];
}

export interface MailMessage {
  subject: string;
  text: string;
  to: string[];
}

const TIMEOUT_MS = 30_000;

/** The From header: "name <address>" when there is a name. */
function fromAddress(settings: MailSettings): string | { name: string; address: string } {
  return settings.fromname ? { name: settings.fromname, address: settings.fromemail } : settings.fromemail;
}

/**
 * Sends one message with the given settings; the subject is prefixed "<product> <host>: " as
 * TrueNAS's mail.send does. Failures are ChannelSendError with the server's answer, never the password.
 */
export async function sendMail(app: App, settings: MailSettings, message: MailMessage): Promise<void> {
  if (!settings.outgoingserver || !settings.port) {
    throw new ChannelSendError('You must provide an outgoing mailserver and mail server port when sending mail');
  }
  if (!settings.fromemail) throw new ChannelSendError('No sender address (fromemail) is configured in mail.config');
  // Loaded on the first message, so a daemon that sends no mail never holds the mailer in memory.
  const { default: nodemailer } = await import('nodemailer');
  const transport = nodemailer.createTransport({
    host: settings.outgoingserver,
    port: settings.port,
    secure: settings.security === 'SSL',
    requireTLS: settings.security === 'TLS',
    ignoreTLS: settings.security === 'PLAIN',
    auth: settings.smtp ? { user: settings.user ?? '', pass: settings.pass ?? '' } : undefined,
    // An address is checked against the certificate's IP names; SNI carries host names only.
    tls: { ca: await trustedRoots(app), ...(isIP(settings.outgoingserver) ? {} : { servername: settings.outgoingserver }) },
    connectionTimeout: TIMEOUT_MS,
    greetingTimeout: TIMEOUT_MS,
    socketTimeout: TIMEOUT_MS,
    name: hostname(),
  });
  try {
    await transport.sendMail({
      from: fromAddress(settings),
      to: message.to,
      subject: `${PRODUCT} ${hostname()}: ${message.subject}`,
      text: message.text,
    });
  } catch (error) {
    throw new ChannelSendError(mailErrorText(error as NodeJS.ErrnoException & { responseCode?: number; response?: string; command?: string }, settings));
  } finally {
    transport.close();
  }
}

/** TrueNAS's wording for a refused login; otherwise the server's answer or the socket's error. */
function mailErrorText(error: NodeJS.ErrnoException & { responseCode?: number; response?: string; command?: string }, settings: MailSettings): string {
  let text: string;
  if (error.code === 'EAUTH') text = `Authentication error (${error.responseCode ?? 'no code'}): ${error.response ?? error.message}`;
  else if (error.responseCode) text = `Failed to send email: ${error.responseCode} ${error.response ?? ''}`.trim();
  else text = `Failed to send email: ${error.message}`;
  // nodemailer's texts never hold the password, but a server may echo what it was sent.
  if (settings.pass) text = text.replaceAll(settings.pass, '********');
  return text;
}
