import { startFakeServer, type FakeRequest, type FakeResponse, type FakeServer } from './fake-http.js';

export interface FakeDigitaloceanRecord {
  id: number;
  domain: string;
  type: string;
  /** Relative to the domain, "@" for the apex. */
  name: string;
  data: string;
  ttl: number;
}

export interface FakeDigitaloceanOptions {
  token: string;
  domains: string[];
  /** Largest page the fake returns, whatever `per_page` asks (forces pagination in tests). */
  maxPerPage?: number;
  /** A custom-scoped token with domain scopes but without account:read. */
  withoutAccountScope?: boolean;
}

/** Where the real API points its pagination links; the client must not follow them there. */
const PUBLIC_ORIGIN = 'https://api.digitalocean.com';

/**
 * DigitalOcean API v2 as a DNS-01 client uses it: account, domains and domain records with
 * `page`/`per_page` pagination and absolute `links.pages.next`, bearer tokens and `{id, message}` errors.
 */
export class FakeDigitalocean {
  readonly records: FakeDigitaloceanRecord[] = [];
  private nextId = 3352890;
  private server: FakeServer | undefined;

  private constructor(private readonly options: FakeDigitaloceanOptions) {}

  static async start(options: FakeDigitaloceanOptions): Promise<FakeDigitalocean> {
    const fake = new FakeDigitalocean(options);
    fake.server = await startFakeServer((request) => fake.handle(request));
    return fake;
  }

  get baseUrl(): string {
    return `${this.server?.origin}/v2`;
  }

  get requests(): FakeRequest[] {
    return this.server?.requests ?? [];
  }

  /** TXT data at the fully qualified `name`. */
  txt(name: string): string[] {
    return this.records.filter((r) => r.type === 'TXT' && fqdn(r) === name).map((r) => r.data);
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  private handle(request: FakeRequest): FakeResponse {
    if (request.headers.authorization !== `Bearer ${this.options.token}`) return failure(401, 'Unauthorized', 'Unable to authenticate you');
    const path = request.url.pathname;
    if (request.method === 'GET' && path === '/v2/account') {
      if (this.options.withoutAccountScope) return failure(403, 'forbidden', 'You are not authorized to perform this operation');
      return { status: 200, body: { account: { droplet_limit: 25, email: 'admin@example.com', uuid: 'b6fr89dbf6d9156cace5f3c78dc9851d957381ef', email_verified: true, status: 'active' } } };
    }
    if (request.method === 'GET' && path === '/v2/domains') {
      return this.page(request, 'domains', this.options.domains.map((name) => ({ name, ttl: 1800, zone_file: '' })));
    }
    const match = /^\/v2\/domains\/([^/]+)\/records(?:\/(\d+))?$/.exec(path);
    const domain = match?.[1];
    if (!match || !domain || !this.options.domains.includes(domain)) return failure(404, 'not_found', 'The resource you requested could not be found.');
    const id = match[2];
    if (request.method === 'GET' && !id) return this.listRecords(request, domain);
    if (request.method === 'POST' && !id) return this.createRecord(request, domain);
    if (request.method === 'DELETE' && id) return this.deleteRecord(Number(id));
    return failure(405, 'method_not_allowed', 'Method Not Allowed');
  }

  private listRecords(request: FakeRequest, domain: string): FakeResponse {
    const type = request.url.searchParams.get('type');
    const name = request.url.searchParams.get('name');
    const records = this.records.filter((r) => r.domain === domain && (type === null || r.type === type) && (name === null || fqdn(r) === name));
    return this.page(request, 'domain_records', records.map(wireRecord));
  }

  private createRecord(request: FakeRequest, domain: string): FakeResponse {
    const body = JSON.parse(request.body) as { type?: string; name?: string; data?: string; ttl?: number };
    if (!body.type || !body.name || body.data === undefined) return failure(422, 'unprocessable_entity', 'Name, type and data are required.');
    if (body.name.endsWith(`.${domain}`)) return failure(422, 'unprocessable_entity', 'Name must be relative to the domain.');
    if (body.ttl !== undefined && body.ttl < 30) return failure(422, 'unprocessable_entity', 'Ttl must be greater than or equal to 30.');
    const record = { id: this.nextId++, domain, type: body.type, name: body.name, data: body.data, ttl: body.ttl ?? 1800 };
    this.records.push(record);
    return { status: 201, body: { domain_record: wireRecord(record) } };
  }

  private deleteRecord(id: number): FakeResponse {
    const index = this.records.findIndex((r) => r.id === id);
    if (index < 0) return failure(404, 'not_found', 'The resource you requested could not be found.');
    this.records.splice(index, 1);
    return { status: 204 };
  }

  private page(request: FakeRequest, field: string, items: unknown[]): FakeResponse {
    const asked = Number(request.url.searchParams.get('per_page') ?? 20);
    const perPage = Math.min(asked, this.options.maxPerPage ?? 200);
    const page = Number(request.url.searchParams.get('page') ?? 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const link = (n: number) => {
      const url = new URL(`${PUBLIC_ORIGIN}${request.url.pathname}${request.url.search}`);
      url.searchParams.set('page', String(n));
      url.searchParams.set('per_page', String(perPage));
      return url.toString();
    };
    const pages = page < last ? { next: link(page + 1), last: link(last) } : {};
    return { status: 200, body: { [field]: items.slice((page - 1) * perPage, page * perPage), links: { pages }, meta: { total: items.length } } };
  }
}

function fqdn(record: FakeDigitaloceanRecord): string {
  return record.name === '@' ? record.domain : `${record.name}.${record.domain}`;
}

function wireRecord(record: FakeDigitaloceanRecord): Record<string, unknown> {
  return { id: record.id, type: record.type, name: record.name, data: record.data, priority: null, port: null, ttl: record.ttl, weight: null, flags: null, tag: null };
}

function failure(status: number, id: string, message: string): FakeResponse {
  return { status, body: { id, message } };
}
