/**
 * Local receivers speaking the request shapes of the services alert channels post to: Slack and
 * Mattermost incoming webhooks, ntfy's publish API, Gotify's /message, and a generic receiver
 * that checks certmid's webhook signature. Each refuses what the real service would refuse.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { startFakeServer, type FakeRequest, type FakeServer } from './fake-http.js';

export interface Receiver extends FakeServer {
  /** What was accepted, as the service would store or show it. */
  accepted: Array<Record<string, unknown>>;
}

function json(request: FakeRequest): Record<string, unknown> | null {
  if (!String(request.headers['content-type'] ?? '').startsWith('application/json')) return null;
  try {
    const value: unknown = JSON.parse(request.body);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

async function receiver(handle: (request: FakeRequest, accepted: Receiver['accepted']) => { status: number; body?: unknown }): Promise<Receiver> {
  const accepted: Receiver['accepted'] = [];
  const server = await startFakeServer((request) => handle(request, accepted));
  return Object.assign(server, { accepted });
}

/** Slack: POST /services/T…/B…/<secret> with JSON {text}; answers "ok", or 403 "invalid_token". */
export function slackReceiver(path: string): Promise<Receiver> {
  return receiver((request, accepted) => {
    if (request.method !== 'POST' || request.url.pathname !== path) return { status: 403, body: 'invalid_token' };
    const body = json(request);
    if (!body || typeof body.text !== 'string' || body.text === '') return { status: 400, body: 'no_text' };
    accepted.push(body);
    return { status: 200, body: 'ok' };
  });
}

/** Mattermost: POST /hooks/<key> with JSON {text, username?, channel?}. */
export function mattermostReceiver(key: string): Promise<Receiver> {
  return receiver((request, accepted) => {
    if (request.method !== 'POST' || request.url.pathname !== `/hooks/${key}`) return { status: 400, body: { id: 'web.incoming_webhook.invalid.app_error' } };
    const body = json(request);
    if (!body || typeof body.text !== 'string') return { status: 400, body: { id: 'web.incoming_webhook.text.app_error' } };
    accepted.push(body);
    return { status: 200, body: 'ok' };
  });
}

/** certmid's webhook: accepts only bodies whose signature over "<timestamp>.<body>" is right. */
export function signedWebhookReceiver(secret: string): Promise<Receiver> {
  return receiver((request, accepted) => {
    const timestamp = String(request.headers['x-certmid-timestamp'] ?? '');
    const given = Buffer.from(String(request.headers['x-certmid-signature'] ?? ''));
    const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${timestamp}.${request.body}`).digest('hex')}`);
    if (!/^\d+$/.test(timestamp) || given.length !== expected.length || !timingSafeEqual(given, expected)) return { status: 401, body: { error: 'bad signature' } };
    const body = json(request);
    if (!body) return { status: 400 };
    accepted.push(body);
    return { status: 204 };
  });
}

/** ntfy: POST /<topic> with the message as the body and Title/Priority/Tags headers; Bearer token required. */
export function ntfyReceiver(topic: string, token: string): Promise<Receiver> {
  return receiver((request, accepted) => {
    if (request.headers.authorization !== `Bearer ${token}`) return { status: 401, body: { code: 40101, http: 401, error: 'unauthorized' } };
    if (request.method !== 'POST' || request.url.pathname !== `/${topic}`) return { status: 404, body: { code: 40401, http: 404, error: 'page not found' } };
    const priority = String(request.headers.priority ?? '3');
    if (!/^[1-5]$/.test(priority)) return { status: 400, body: { code: 40007, http: 400, error: 'invalid priority' } };
    const message = { id: String(accepted.length + 1), event: 'message', topic, title: request.headers.title, priority: Number(priority), tags: String(request.headers.tags ?? '').split(',').filter(Boolean), message: request.body };
    accepted.push(message);
    return { status: 200, body: message };
  });
}

/** Gotify: POST /message with X-Gotify-Key (an application token) and JSON {title?, message, priority?}. */
export function gotifyReceiver(token: string): Promise<Receiver> {
  return receiver((request, accepted) => {
    if (request.headers['x-gotify-key'] !== token) return { status: 401, body: { error: 'Unauthorized', errorCode: 401, errorDescription: 'you need to provide a valid access token or user credentials to access this api' } };
    if (request.method !== 'POST' || request.url.pathname !== '/message') return { status: 404 };
    const body = json(request);
    if (!body || typeof body.message !== 'string' || body.message === '') return { status: 400, body: { error: 'Bad Request', errorCode: 400, errorDescription: 'Field message is required' } };
    const message = { id: accepted.length + 1, appid: 1, message: body.message, title: body.title ?? '', priority: body.priority ?? 0, date: new Date().toISOString() };
    accepted.push(message);
    return { status: 200, body: message };
  });
}
