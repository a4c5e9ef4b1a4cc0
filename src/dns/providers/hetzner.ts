import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { httpCall, relativeName, type HttpResponse } from '../http.js';
import { DnsProviderError, type DnsProvider, type ProviderContext, type ProviderDefinition } from '../provider.js';
import { answer, hasTxt, isOk, pickZone, quoteTxt, unquoteTxt, type ApiRequest } from './rrset.js';

const KEY = 'hetzner';
/** Hetzner DNS lives in the Cloud API since the dns.hetzner.com API closed (2026): https://docs.hetzner.cloud/reference/cloud#zones */
const BASE_URL = 'https://api.hetzner.cloud/v1';
/** The shortest RRSet TTL the API accepts. */
const TTL = 60;
/** Zones per page; the API's maximum. */
const PAGE_SIZE = 50;
const ACTION_POLL_MS = 500;

const schema = z.object({
  api_token: z.string().min(1).describe('Hetzner Console API token (read & write) of the project that holds the DNS zones'),
});

const ZonesPage = z.object({
  zones: z.array(z.object({ id: z.number(), name: z.string() })),
  meta: z.object({ pagination: z.object({ next_page: z.number().nullish() }) }),
});
const RRSetAnswer = z.object({ rrset: z.object({ records: z.array(z.object({ value: z.string() })) }) });
const Action = z.object({
  id: z.number(),
  command: z.string(),
  status: z.enum(['running', 'success', 'error']),
  error: z.object({ code: z.string(), message: z.string() }).nullish(),
});
const ActionAnswer = z.object({ action: Action });
const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/** TXT records through the zone RRSet actions, which add and remove single records server-side. */
class HetznerDns implements DnsProvider {
  constructor(
    private readonly token: string,
    private readonly context: ProviderContext,
  ) {}

  async createTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    const rrset = await this.rrsetPath(fqdn, signal);
    if (hasTxt(await this.values(rrset, signal), value)) return;
    const body = { ttl: TTL, records: [{ value: quoteTxt(value) }] };
    await this.settle(await this.act(`${rrset}/actions/add_records`, body, signal), signal);
  }

  async deleteTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    const rrset = await this.rrsetPath(fqdn, signal);
    // Remove the records as the API holds them, so the match is exact.
    const records = (await this.values(rrset, signal)).filter((stored) => unquoteTxt(stored) === value).map((stored) => ({ value: stored }));
    if (records.length === 0) return;
    await this.settle(await this.act(`${rrset}/actions/remove_records`, { records }, signal), signal);
  }

  async verify(signal?: AbortSignal): Promise<void> {
    await this.call({ method: 'GET', path: '/zones?per_page=1', signal });
  }

  /** The TXT RRSet path of `fqdn` in the zone that holds it, from every page of the zone list. */
  private async rrsetPath(fqdn: string, signal?: AbortSignal): Promise<string> {
    const zones = new Map<string, number>();
    for (let page: number | null | undefined = 1; page; ) {
      const body: z.output<typeof ZonesPage> = answer(KEY, await this.call({ method: 'GET', path: `/zones?page=${page}&per_page=${PAGE_SIZE}`, signal }), ZonesPage);
      for (const zone of body.zones) zones.set(zone.name.toLowerCase(), zone.id);
      page = body.meta.pagination.next_page;
    }
    const zone = pickZone(KEY, fqdn, new Set(zones.keys()));
    return `/zones/${zones.get(zone)}/rrsets/${encodeURIComponent(relativeName(fqdn, zone))}/TXT`;
  }

  private async values(rrset: string, signal?: AbortSignal): Promise<string[]> {
    const response = await this.send({ method: 'GET', path: rrset, signal });
    if (response.status === 404) return [];
    return answer(KEY, checked(response), RRSetAnswer).rrset.records.map((record) => record.value);
  }

  private async act(path: string, body: unknown, signal?: AbortSignal): Promise<z.output<typeof Action>> {
    return answer(KEY, await this.call({ method: 'POST', path, body, signal }), ActionAnswer).action;
  }

  /** Changes are actions that may still run when answered; wait (within the timeout) to see them succeed. */
  private async settle(action: z.output<typeof Action>, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + this.context.timeoutMs;
    let current = action;
    while (current.status === 'running') {
      if (Date.now() >= deadline) throw new DnsProviderError(KEY, `action ${current.command} still running after ${this.context.timeoutMs} ms`);
      current = answer(KEY, await this.call({ method: 'GET', path: `/actions/${current.id}`, signal }), ActionAnswer).action;
      if (current.status === 'running') await sleep(ACTION_POLL_MS, undefined, { signal }).catch(() => cancelled());
    }
    if (current.status === 'error') throw new DnsProviderError(KEY, `action ${current.command} failed: ${current.error?.message ?? 'no reason given'}`);
  }

  private async call(request: ApiRequest): Promise<HttpResponse> {
    return checked(await this.send(request));
  }

  private send({ path, ...request }: ApiRequest): Promise<HttpResponse> {
    const url = `${this.context.baseUrl ?? BASE_URL}${path}`;
    return httpCall(KEY, this.context, { ...request, url, headers: { authorization: `Bearer ${this.token}`, accept: 'application/json' } });
  }
}

/** The response if it succeeded, else Hetzner's error (`{"error": {"code", "message"}}`) as a DnsProviderError. */
function checked(response: HttpResponse): HttpResponse {
  if (isOk(response)) return response;
  const body = ErrorBody.safeParse(response.json);
  throw new DnsProviderError(KEY, body.success ? `${body.data.error.message} (${body.data.error.code})` : `HTTP ${response.status}`, response.status);
}

function cancelled(): never {
  throw new DnsProviderError(KEY, 'cancelled');
}

/** Hetzner DNS (zones in the Hetzner Console / Cloud API). */
export const hetznerProvider: ProviderDefinition<typeof schema> = {
  key: KEY,
  label: 'Hetzner DNS',
  schema,
  secretFields: ['api_token'],
  create: (attributes, context) => new HetznerDns(attributes.api_token, context),
};
