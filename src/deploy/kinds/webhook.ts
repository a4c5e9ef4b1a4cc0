/**
 * WEBHOOK: POSTs the certificate as JSON (or a one-time link to it) to an http(s) URL, signed with
 * an HMAC of the timestamp and the exact body. Network errors and 5xx answers are tried again a few
 * times within one run; the target's backoff covers the rest.
 */
import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { createLink, deliveryBody } from '../links.js';
import { DeployError, type DeployContext, type DeployKind } from '../kind.js';

/** Tries within one run, and the pause before the second and third. */
const TRIES = 3;
const RETRY_DELAYS_MS = [1000, 3000];

const schema = z
  .object({
    url: z
      .string()
      .max(2048)
      .refine((text) => URL.canParse(text) && ['http:', 'https:'].includes(new URL(text).protocol), { error: 'Must be an http:// or https:// URL' })
      .describe('Where the JSON is POSTed.'),
    secret: z.string().min(16).max(512).describe('The HMAC-SHA256 key the receiver checks X-Certmid-Signature with (at least 16 characters).'),
    delivery: z.enum(['PEM', 'LINK']).default('PEM').describe('PEM: the PEMs in the body; LINK: a one-time URL on this daemon that returns them.'),
    include_private_key: z.boolean().default(false).describe('Send the private key too (private_key_pem).'),
    link_ttl: z.int().min(60).max(86_400).default(3600).describe('LINK: seconds the fetch URL stays usable.'),
    timeout: z.int().min(1).max(300).default(30).describe('Seconds each request may take.'),
  })
  .strict();

type WebhookAttributes = z.output<typeof schema>;

/** `X-Certmid-Signature`: `sha256=` and the hex HMAC-SHA256 of `<timestamp>.<body>` with the secret. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** A failure worth one more try: no answer, or a 5xx. */
class Retryable extends DeployError {}

async function post(attributes: WebhookAttributes, body: string, signal: AbortSignal): Promise<void> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  let response: Response;
  try {
    response = await fetch(attributes.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'certmid',
        'x-certmid-timestamp': timestamp,
        'x-certmid-signature': webhookSignature(attributes.secret, timestamp, body),
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.any([signal, AbortSignal.timeout(attributes.timeout * 1000)]),
    });
  } catch (error) {
    signal.throwIfAborted();
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = (error as Error).name === 'TimeoutError' ? `no answer within ${attributes.timeout} seconds` : (cause?.code ?? cause?.message ?? (error as Error).message);
    throw new Retryable(`Webhook ${new URL(attributes.url).origin} could not be reached: ${why}`);
  }
  await response.body?.cancel().catch(() => undefined);
  if (response.status >= 200 && response.status < 300) return;
  const text = `Webhook answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
  throw response.status >= 500 ? new Retryable(text) : new DeployError(text);
}

async function deploy({ app, attributes: raw, material, signal, progress }: DeployContext): Promise<void> {
  const attributes = raw as WebhookAttributes;
  let payload: Record<string, unknown>;
  if (attributes.delivery === 'LINK') {
    const link = await createLink(app, material.certificateId, attributes.include_private_key, attributes.link_ttl);
    const { certificate, event } = deliveryBody(material, false);
    payload = { event, certificate, fetch_url: link.url, fetch_expires_at: link.expiresAt.toISOString() };
  } else {
    payload = deliveryBody(material, attributes.include_private_key);
  }
  const body = JSON.stringify(payload);
  for (let attempt = 1; ; attempt++) {
    progress(Math.round((90 * (attempt - 1)) / TRIES), `POST to ${new URL(attributes.url).origin} (try ${attempt} of ${TRIES})`);
    try {
      await post(attributes, body, signal);
      progress(100, 'Webhook accepted the certificate');
      return;
    } catch (error) {
      if (!(error instanceof Retryable) || attempt >= TRIES) throw error;
      progress(Math.round((90 * (attempt - 1)) / TRIES), `${error.message}; trying again`);
      await sleep(RETRY_DELAYS_MS[attempt - 1]!, undefined, { signal });
    }
  }
}

export const webhookKind: DeployKind = {
  key: 'WEBHOOK',
  label: 'Webhook',
  schema,
  secretFields: ['secret'],
  deploy,
};
