import { randomUUID } from 'node:crypto';
import { startFakeServer, type FakeRequest, type FakeResponse, type FakeServer } from './fake-http.js';

/** A zone as the fake holds it. */
export interface FakeCloudflareZone {
  id: string;
  name: string;
  status: 'active' | 'pending';
}

/** A DNS record as the fake holds it. */
export interface FakeCloudflareRecord {
  id: string;
  zoneId: string;
  type: string;
  name: string;
  content: string;
  ttl: number;
}

export interface FakeCloudflareOptions {
  /** The one valid API token. */
  token?: string;
  /** The one valid e-mail + Global API Key pair. */
  email?: string;
  apiKey?: string;
  zones: Array<{ name: string; status?: 'active' | 'pending' }>;
  /** Largest page the fake returns, whatever `per_page` asks (forces pagination in tests). */
  maxPerPage?: number;
  /** The token is account-owned: valid everywhere except /user/tokens/verify. */
  accountOwnedToken?: boolean;
}

/**
 * The parts of Cloudflare API v4 a DNS-01 client uses: token verify, user, zones by name,
 * TXT records (list with filters, create, delete), `result_info` pagination and v4 error envelopes.
 */
export class FakeCloudflare {
  readonly zones: FakeCloudflareZone[];
  readonly records: FakeCloudflareRecord[] = [];
  private server: FakeServer | undefined;

  private constructor(private readonly options: FakeCloudflareOptions) {
    this.zones = options.zones.map((zone) => ({ id: randomUUID().replaceAll('-', ''), name: zone.name, status: zone.status ?? 'active' }));
  }

  static async start(options: FakeCloudflareOptions): Promise<FakeCloudflare> {
    const fake = new FakeCloudflare(options);
    fake.server = await startFakeServer((request) => fake.handle(request));
    return fake;
  }

  /** The base URL to give the provider as `context.baseUrl`. */
  get baseUrl(): string {
    return `${this.server?.origin}/client/v4`;
  }

  get requests(): FakeRequest[] {
    return this.server?.requests ?? [];
  }

  txt(name: string): string[] {
    return this.records.filter((r) => r.type === 'TXT' && r.name === name).map((r) => r.content);
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  private handle(request: FakeRequest): FakeResponse {
    const path = request.url.pathname.replace(/^\/client\/v4/, '');
    const denied = this.authenticate(request, path);
    if (denied) return denied;
    if (request.method === 'GET' && path === '/user/tokens/verify') {
      return ok({ id: 'token-id', status: 'active' }, [{ code: 10000, message: 'This API Token is valid and active', type: null }]);
    }
    if (request.method === 'GET' && path === '/user') return ok({ id: 'user-id', email: this.options.email });
    if (request.method === 'GET' && path === '/zones') {
      const name = request.url.searchParams.get('name');
      return this.page(
        request,
        this.zones.filter((z) => name === null || z.name === name),
        50,
      );
    }
    const match = /^\/zones\/([^/]+)\/dns_records(?:\/([^/]+))?$/.exec(path);
    const zone = match ? this.zones.find((z) => z.id === match[1]) : undefined;
    if (!match || !zone) return failure(400, 7003, `Could not route to ${path}, perhaps your object identifier is invalid?`);
    const recordId = match[2];
    if (request.method === 'GET' && !recordId) return this.listRecords(request, zone);
    if (request.method === 'POST' && !recordId) return this.createRecord(request, zone);
    if (request.method === 'DELETE' && recordId) return this.deleteRecord(recordId);
    return failure(405, 10405, 'Method not allowed for api_token authentication scheme');
  }

  /** Wrong credentials get the bodies the real API sends (observed in client issue reports). */
  private authenticate(request: FakeRequest, path: string): FakeResponse | undefined {
    const bearer = request.headers.authorization;
    if (bearer !== undefined) {
      const valid = bearer === `Bearer ${this.options.token}`;
      if (valid && !(this.options.accountOwnedToken && path === '/user/tokens/verify')) return undefined;
      return path === '/user/tokens/verify' ? failure(401, 1000, 'Invalid API Token') : failure(403, 10000, 'Authentication error');
    }
    if (request.headers['x-auth-email'] === this.options.email && request.headers['x-auth-key'] === this.options.apiKey && this.options.apiKey) {
      return undefined;
    }
    return failure(403, 9103, 'Unknown X-Auth-Key or X-Auth-Email');
  }

  private listRecords(request: FakeRequest, zone: FakeCloudflareZone): FakeResponse {
    const query = request.url.searchParams;
    const records = this.records.filter(
      (r) =>
        r.zoneId === zone.id &&
        (!query.has('type') || r.type === query.get('type')) &&
        (!query.has('name') || r.name === query.get('name')) &&
        (!query.has('content') || r.content === query.get('content')),
    );
    return this.page(request, records.map(wireRecord), 100);
  }

  private createRecord(request: FakeRequest, zone: FakeCloudflareZone): FakeResponse {
    const body = JSON.parse(request.body) as { type?: string; name?: string; content?: string; ttl?: number };
    if (!body.type || !body.name || body.content === undefined) return failure(400, 9005, 'Content for TXT record is invalid.');
    if (body.name !== zone.name && !body.name.endsWith(`.${zone.name}`)) return failure(400, 9007, 'DNS name is invalid.');
    if (this.records.some((r) => r.zoneId === zone.id && r.type === body.type && r.name === body.name && r.content === body.content)) {
      return failure(400, 81058, 'An identical record already exists.');
    }
    const record = { id: randomUUID().replaceAll('-', ''), zoneId: zone.id, type: body.type, name: body.name, content: body.content, ttl: body.ttl ?? 1 };
    this.records.push(record);
    return ok(wireRecord(record));
  }

  private deleteRecord(id: string): FakeResponse {
    const index = this.records.findIndex((r) => r.id === id);
    if (index < 0) return failure(404, 81044, 'Record does not exist.');
    this.records.splice(index, 1);
    return ok({ id });
  }

  private page(request: FakeRequest, items: unknown[], defaultPerPage: number): FakeResponse {
    const asked = Number(request.url.searchParams.get('per_page') ?? defaultPerPage);
    const perPage = Math.min(asked, this.options.maxPerPage ?? asked);
    const page = Number(request.url.searchParams.get('page') ?? 1);
    const result = items.slice((page - 1) * perPage, page * perPage);
    const info = { page, per_page: perPage, count: result.length, total_count: items.length, total_pages: Math.max(1, Math.ceil(items.length / perPage)) };
    return { status: 200, body: { success: true, errors: [], messages: [], result, result_info: info } };
  }
}

function wireRecord(record: FakeCloudflareRecord): Record<string, unknown> {
  return { id: record.id, zone_id: record.zoneId, type: record.type, name: record.name, content: record.content, ttl: record.ttl, proxied: false };
}

function ok(result: unknown, messages: unknown[] = []): FakeResponse {
  return { status: 200, body: { success: true, errors: [], messages, result } };
}

function failure(status: number, code: number, message: string): FakeResponse {
  return { status, body: { success: false, errors: [{ code, message }], messages: [], result: null } };
}
