import { DnsProviderError, type ProviderContext } from './provider.js';

/** The zones a name may live in, most specific first: "_acme-challenge.a.example.com" → a.example.com, example.com, com. */
export function candidateZones(fqdn: string): string[] {
  const labels = fqdn.replace(/\.$/, '').toLowerCase().split('.');
  return labels.slice(1).map((_, i) => labels.slice(i + 1).join('.'));
}

/** The record name relative to its zone: ("_acme-challenge.a.example.com", "example.com") → "_acme-challenge.a". */
export function relativeName(fqdn: string, zone: string): string {
  const name = fqdn.replace(/\.$/, '').toLowerCase();
  const suffix = `.${zone.toLowerCase()}`;
  if (name === zone.toLowerCase()) return '@';
  if (!name.endsWith(suffix)) throw new Error(`${fqdn} is not inside ${zone}`);
  return name.slice(0, -suffix.length);
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** Sent as JSON unless it is already a string. */
  body?: unknown;
  signal?: AbortSignal | undefined;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/**
 * One HTTP call to a provider API with the context's timeout and the caller's signal. Network
 * failures and timeouts become DnsProviderError naming the provider; HTTP errors are returned
 * for the provider to read its own error body.
 */
export async function httpCall(provider: string, context: ProviderContext, request: HttpRequest): Promise<HttpResponse> {
  const timeout = AbortSignal.timeout(context.timeoutMs);
  const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  const body = request.body === undefined ? undefined : typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
  const headers = { ...(body !== undefined && typeof request.body !== 'string' ? { 'content-type': 'application/json' } : {}), ...request.headers };
  let response: Response;
  try {
    response = await (context.fetch ?? fetch)(request.url, { method: request.method, headers, body, signal });
  } catch (error) {
    if (timeout.aborted) throw new DnsProviderError(provider, `no answer from ${new URL(request.url).host} within ${context.timeoutMs} ms`);
    if (request.signal?.aborted) throw new DnsProviderError(provider, 'cancelled');
    throw new DnsProviderError(provider, `cannot reach ${new URL(request.url).host}: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`);
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}
