import { CertmidClient, JobConnectionError, type CallJobOptions, type CollectionUpdate, type Unsubscribe } from '../src/client/client.js';

export type ConnectionState = 'online' | 'offline';

interface UserInfo {
  pw_name: string;
  privilege?: { roles?: string[] };
}

/** Tokens expire after this many seconds unused; a fresh one is taken well before. */
const TOKEN_TTL = 600;
const TOKEN_REFRESH_MS = 240_000;
/** Kept for the tab's life so a reload stays logged in, as TrueNAS's page does. */
const TOKEN_KEY = 'certmid.token';
const MAX_BACKOFF_MS = 5000;

/**
 * The page's one connection to `/api/current`. It survives the socket: when the socket drops it
 * reconnects with backoff, logs in again with a token taken at login, and subscribes again, so
 * callers hold this object rather than a client.
 */
export class Connection {
  user: UserInfo | null = null;
  private client: CertmidClient | null = null;
  private token: string | null = sessionStorage.getItem(TOKEN_KEY);
  private refreshTimer: number | undefined;
  private reconnecting = false;
  private readonly subscriptions = new Set<{ event: string; onEvent: (event: CollectionUpdate) => void; unsubscribe: Unsubscribe }>();
  private readonly stateListeners = new Set<(state: ConnectionState) => void>();
  private readonly url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/current`;

  /** Called on every drop and recovery; `online` comes after login and resubscription. */
  onState(listener: (state: ConnectionState) => void): void {
    this.stateListeners.add(listener);
  }

  /** Called when the session cannot be restored and the user must log in again. */
  onLoggedOut: (reason: string) => void = () => undefined;

  get hasToken(): boolean {
    return this.token !== null;
  }

  async login(credentials: { username: string; password: string } | { apiKey: string }): Promise<void> {
    const client = await this.open();
    if ('apiKey' in credentials) await client.loginWithApiKey(credentials.apiKey);
    else await client.login(credentials.username, credentials.password);
    await this.loggedIn(client);
  }

  /** Logs in with the tab's saved token; false when there is none or it no longer works. */
  async resume(): Promise<boolean> {
    if (!this.token) return false;
    const client = await this.open();
    try {
      await client.loginWithToken(this.token);
    } catch {
      this.forgetToken();
      return false;
    }
    await this.loggedIn(client);
    return true;
  }

  async logout(): Promise<void> {
    this.forgetToken();
    this.subscriptions.clear();
    this.user = null;
    await this.client?.call('auth.logout').catch(() => undefined);
  }

  call<T = unknown>(method: string, ...params: unknown[]): Promise<T> {
    return this.live().call<T>(method, ...params);
  }

  /**
   * Calls a job method and follows the job to its end. When the connection drops meanwhile, the job
   * goes on on the server: once reconnected, it is followed again by its id, so the caller still
   * learns how it ended (FAILED, interrupted, if the daemon itself stopped).
   */
  async callJob<T = unknown>(method: string, params: unknown[], options?: CallJobOptions): Promise<T> {
    try {
      return await this.live().callJob<T>(method, params, options);
    } catch (error) {
      if (!(error instanceof JobConnectionError)) throw error;
      await this.online();
      return await this.live().followJob<T>(error.jobId, options);
    }
  }

  /**
   * Subscribes now and, once accepted, again after every reconnect. Resolves with a function that
   * ends the subscription (for views that close, such as a dialog).
   */
  async subscribe(event: string, onEvent: (event: CollectionUpdate) => void): Promise<() => void> {
    const entry = { event, onEvent, unsubscribe: await this.live().subscribe(event, onEvent) };
    this.subscriptions.add(entry);
    return () => {
      this.subscriptions.delete(entry);
      void entry.unsubscribe().catch(() => undefined);
    };
  }

  /** Whether the logged-in user holds one of the roles (FULL_ADMIN holds them all). */
  can(...roles: string[]): boolean {
    const held = this.user?.privilege?.roles ?? [];
    return held.includes('FULL_ADMIN') || roles.some((role) => held.includes(role));
  }

  /** Resolves once the connection is back and logged in again. */
  private online(): Promise<void> {
    if (this.client?.isOpen && !this.reconnecting) return Promise.resolve();
    return new Promise((resolve) => {
      const listener = (state: ConnectionState) => {
        if (state !== 'online') return;
        this.stateListeners.delete(listener);
        resolve();
      };
      this.stateListeners.add(listener);
    });
  }

  private live(): CertmidClient {
    if (!this.client?.isOpen) throw new Error('Not connected to the server; reconnecting…');
    return this.client;
  }

  private async open(): Promise<CertmidClient> {
    if (this.client?.isOpen) return this.client;
    const client = await CertmidClient.connect(this.url);
    this.client = client;
    client.onClose(() => {
      if (this.client === client && this.user && !this.reconnecting) void this.reconnect();
    });
    return client;
  }

  private async loggedIn(client: CertmidClient): Promise<void> {
    this.user = await client.call<UserInfo>('auth.me');
    await this.refreshToken();
    window.clearInterval(this.refreshTimer);
    this.refreshTimer = window.setInterval(() => void this.refreshToken().catch(() => undefined), TOKEN_REFRESH_MS);
  }

  private async refreshToken(): Promise<void> {
    this.token = await this.live().call<string>('auth.generate_token', TOKEN_TTL);
    sessionStorage.setItem(TOKEN_KEY, this.token);
  }

  private forgetToken(): void {
    window.clearInterval(this.refreshTimer);
    this.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
  }

  private emit(state: ConnectionState): void {
    for (const listener of this.stateListeners) listener(state);
  }

  private async reconnect(): Promise<void> {
    this.reconnecting = true;
    this.emit('offline');
    try {
      await this.restore();
    } finally {
      this.reconnecting = false;
    }
  }

  private async restore(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** attempt, MAX_BACKOFF_MS)));
      let client: CertmidClient;
      try {
        client = await this.open();
      } catch {
        continue; // the server is still away
      }
      try {
        await client.loginWithToken(this.token ?? '');
        await this.loggedIn(client);
        for (const entry of this.subscriptions) entry.unsubscribe = await client.subscribe(entry.event, entry.onEvent);
      } catch (error) {
        if (!client.isOpen) continue; // dropped again midway
        this.forgetToken();
        this.user = null;
        this.onLoggedOut(`Your session could not be restored (${(error as Error).message}). Log in again.`);
        return;
      }
      this.emit('online');
      return;
    }
  }
}
