import { createHash } from 'node:crypto';
import { startFakeServer, type FakeRequest, type FakeResponse, type FakeServer } from './fake-http.js';

export interface FakeOvhRecord {
  id: number;
  zone: string;
  fieldType: string;
  subDomain: string;
  target: string;
  ttl: number;
}

export interface FakeOvhOptions {
  applicationKey: string;
  applicationSecret: string;
  consumerKey: string;
  zones: string[];
  /** Seconds the fake's clock runs ahead of the machine's (clients must correct with /auth/time). */
  clockOffset?: number;
}

/** How far a request's timestamp may stray from the server clock before OVH refuses it. */
const TOLERANCE_SECONDS = 30;

/**
 * The OVH API v1 as a DNS-01 client uses it: /auth/time, the `$1$` SHA-1 request signature
 * recomputed from the wire request, zones, records (list by fieldType/subDomain, read, create,
 * delete) and refresh, with OVH's `{message, errorCode, httpCode}` errors.
 */
export class FakeOvh {
  readonly records: FakeOvhRecord[] = [];
  /** Zones refreshed, in order. */
  readonly refreshes: string[] = [];
  private nextId = 5000000001;
  private server: FakeServer | undefined;

  private constructor(private readonly options: FakeOvhOptions) {}

  static async start(options: FakeOvhOptions): Promise<FakeOvh> {
    const fake = new FakeOvh(options);
    fake.server = await startFakeServer((request) => fake.handle(request));
    return fake;
  }

  get baseUrl(): string {
    return `${this.server?.origin}/1.0`;
  }

  get requests(): FakeRequest[] {
    return this.server?.requests ?? [];
  }

  /** TXT targets at `subDomain` of `zone`. */
  txt(zone: string, subDomain: string): string[] {
    return this.records.filter((r) => r.zone === zone && r.fieldType === 'TXT' && r.subDomain === subDomain).map((r) => r.target);
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  private now(): number {
    return Math.floor(Date.now() / 1000) + (this.options.clockOffset ?? 0);
  }

  private handle(request: FakeRequest): FakeResponse {
    const path = request.url.pathname.replace(/^\/1\.0/, '');
    if (request.method === 'GET' && path === '/auth/time') return { status: 200, body: this.now() };
    const denied = this.authenticate(request);
    if (denied) return denied;
    if (request.method === 'GET' && path === '/domain/zone') return { status: 200, body: this.options.zones };
    const match = /^\/domain\/zone\/([^/]+)\/(record|refresh)(?:\/(\d+))?$/.exec(path);
    const zone = match?.[1];
    if (!match || !zone || !this.options.zones.includes(zone)) return failure(404, 'Client::NotFound', 'This service does not exist');
    const id = match[3];
    if (match[2] === 'refresh' && request.method === 'POST') {
      this.refreshes.push(zone);
      return { status: 200, body: null };
    }
    if (request.method === 'GET' && !id) return this.listRecords(request, zone);
    if (request.method === 'POST' && !id) return this.createRecord(request, zone);
    const record = this.records.find((r) => r.zone === zone && r.id === Number(id));
    if (!record) return failure(404, 'Client::NotFound', `The requested object (id = ${id}) does not exist`);
    if (request.method === 'GET') return { status: 200, body: record };
    if (request.method === 'DELETE') {
      this.records.splice(this.records.indexOf(record), 1);
      return { status: 200, body: null };
    }
    return failure(405, 'Client::MethodNotAllowed', 'Method not allowed');
  }

  /** Checks the application key, consumer key, timestamp window and signature, in OVH's order. */
  private authenticate(request: FakeRequest): FakeResponse | undefined {
    const header = (name: string) => String(request.headers[name] ?? '');
    if (header('x-ovh-application') !== this.options.applicationKey) return coded(403, 'INVALID_KEY', 'Invalid application key');
    if (header('x-ovh-consumer') !== this.options.consumerKey) return coded(403, 'INVALID_CREDENTIAL', 'This credential is not valid');
    const timestamp = Number(header('x-ovh-timestamp'));
    if (!Number.isInteger(timestamp) || Math.abs(timestamp - this.now()) > TOLERANCE_SECONDS) return coded(400, 'QUERY_TIME_OUT', 'Query out of time');
    const url = `http://${request.headers.host}${request.target}`;
    const material = `${this.options.applicationSecret}+${this.options.consumerKey}+${request.method}+${url}+${request.body}+${timestamp}`;
    if (header('x-ovh-signature') !== `$1$${createHash('sha1').update(material).digest('hex')}`) return coded(400, 'INVALID_SIGNATURE', 'Invalid signature');
    return undefined;
  }

  private listRecords(request: FakeRequest, zone: string): FakeResponse {
    const type = request.url.searchParams.get('fieldType');
    const sub = request.url.searchParams.get('subDomain');
    const ids = this.records.filter((r) => r.zone === zone && (type === null || r.fieldType === type) && (sub === null || r.subDomain === sub)).map((r) => r.id);
    return { status: 200, body: ids };
  }

  private createRecord(request: FakeRequest, zone: string): FakeResponse {
    const body = JSON.parse(request.body) as { fieldType?: string; subDomain?: string; target?: string; ttl?: number };
    if (!body.fieldType || body.target === undefined) return failure(400, 'Client::BadRequest', '[fieldType] Property is mandatory');
    const record = { id: this.nextId++, zone, fieldType: body.fieldType, subDomain: body.subDomain ?? '', target: body.target, ttl: body.ttl ?? 0 };
    this.records.push(record);
    return { status: 200, body: record };
  }
}

/** Authentication failures carry errorCode and httpCode (as reported against the live API). */
function coded(status: number, errorCode: string, message: string): FakeResponse {
  return { status, body: { errorCode, httpCode: `${status} ${status === 400 ? 'Bad Request' : 'Forbidden'}`, message } };
}

function failure(status: number, errorClass: string, message: string): FakeResponse {
  return { status, body: { class: errorClass, message } };
}
