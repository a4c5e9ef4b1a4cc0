import { startFakeServer, type FakeRequest, type FakeResponse, type FakeServer } from './fake-http.js';

export interface FakeAcmeDnsAccount {
  username: string;
  password: string;
  subdomain: string;
}

/**
 * joohoi/acme-dns's HTTP API as a client uses it: `POST /update` behind the X-Api-User/X-Api-Key
 * check of api/auth.go, the value rules of api/util.go, the two-value rolling store, `GET /health`.
 */
export class FakeAcmeDns {
  /** The values each subdomain serves, oldest first; at most two, as acme-dns keeps. */
  readonly txt = new Map<string, string[]>();
  private server: FakeServer | undefined;

  private constructor(private readonly accounts: FakeAcmeDnsAccount[]) {}

  static async start(accounts: FakeAcmeDnsAccount[]): Promise<FakeAcmeDns> {
    const fake = new FakeAcmeDns(accounts);
    fake.server = await startFakeServer((request) => fake.handle(request));
    return fake;
  }

  get baseUrl(): string {
    return this.server?.origin ?? '';
  }

  get requests(): FakeRequest[] {
    return this.server?.requests ?? [];
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  private handle(request: FakeRequest): FakeResponse {
    if (request.method === 'GET' && request.url.pathname === '/health') return { status: 200 };
    if (request.method === 'POST' && request.url.pathname === '/update') return this.update(request);
    return { status: 404, body: '404 page not found\n' };
  }

  private update(request: FakeRequest): FakeResponse {
    const account = this.accounts.find((a) => a.username === request.headers['x-api-user'] && a.password === request.headers['x-api-key']);
    let body: { subdomain?: string; txt?: string };
    try {
      body = JSON.parse(request.body) as typeof body;
    } catch {
      body = {};
    }
    // A wrong user, key or subdomain all end in the same 401 (api/auth.go).
    if (!account || account.subdomain !== body.subdomain) return { status: 401, body: { error: 'forbidden' } };
    if (!/^[A-Za-z0-9_-]{43}$/.test(body.txt ?? '')) return { status: 400, body: { error: 'bad_txt' } };
    const values = [...(this.txt.get(account.subdomain) ?? []), body.txt ?? ''].slice(-2);
    this.txt.set(account.subdomain, values);
    return { status: 200, body: { txt: body.txt } };
  }
}
