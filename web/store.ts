/**
 * The dashboard's data: certificates (and CSRs), CAs and DNS authenticators, kept current by the
 * `<namespace>.query` events. Events carry ids only, so the changed row is queried again.
 */
import type { CollectionUpdate } from '../src/client/client.js';
import type { Connection } from './connection.js';
import { describe } from './errors.js';
import type { CertEntry } from './format.js';

export interface Authenticator {
  id: number;
  name: string;
  attributes: Record<string, unknown> & { authenticator: string };
  propagation?: { mode: string; timeout: number; delay: number };
}

export type Namespace = 'certificate' | 'certificateauthority' | 'acme.dns.authenticator';
type Row = CertEntry | Authenticator;

export type ListState = { status: 'loading' } | { status: 'ready' } | { status: 'error'; message: string };

/** A change of the rows of a namespace; `ids` are the rows that changed (for a brief highlight). */
type Listener = (namespace: Namespace, ids: ReadonlySet<number>) => void;

/** Which other list a change can alter: signed counts and issuer names, revocation down a chain. */
const RELATED: Record<Namespace, Namespace | null> = {
  certificate: 'certificateauthority',
  certificateauthority: 'certificate',
  'acme.dns.authenticator': null,
};

const NAMESPACES: readonly Namespace[] = ['certificate', 'certificateauthority', 'acme.dns.authenticator'];

export class Store {
  private readonly rows = new Map<Namespace, Map<number, Row>>(NAMESPACES.map((ns) => [ns, new Map()]));
  private readonly states = new Map<Namespace, ListState>(NAMESPACES.map((ns) => [ns, { status: 'loading' }]));
  private readonly listeners = new Set<Listener>();
  private readonly pendingReloads = new Map<Namespace, number>();

  constructor(private readonly conn: Connection) {}

  /** Returns a function that removes the listener. */
  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  state(namespace: Namespace): ListState {
    return this.states.get(namespace)!;
  }

  list<T extends Row>(namespace: Namespace): T[] {
    return [...this.rows.get(namespace)!.values()].sort((a, b) => a.id - b.id) as T[];
  }

  get certificates(): CertEntry[] {
    return this.list<CertEntry>('certificate');
  }

  get authorities(): CertEntry[] {
    return this.list<CertEntry>('certificateauthority');
  }

  get authenticators(): Authenticator[] {
    return this.list<Authenticator>('acme.dns.authenticator');
  }

  /** Subscribes to the three events and loads every list. */
  async start(): Promise<void> {
    await Promise.all(
      NAMESPACES.map(async (ns) => {
        // Without the namespace's read role the server refuses; the card then says why.
        await this.conn.subscribe(`${ns}.query`, (event) => void this.onEvent(ns, event)).catch(() => undefined);
        await this.reload(ns);
      }),
    );
  }

  /** Loads everything again (after a reconnect, events may have been missed). */
  reloadAll(): Promise<void> {
    return Promise.all(NAMESPACES.map((ns) => this.reload(ns))).then(() => undefined);
  }

  async reload(namespace: Namespace, changed: ReadonlySet<number> = new Set()): Promise<void> {
    try {
      const rows = await this.conn.call<Row[]>(`${namespace}.query`);
      this.rows.set(namespace, new Map(rows.map((row) => [row.id, row])));
      this.states.set(namespace, { status: 'ready' });
    } catch (error) {
      this.states.set(namespace, { status: 'error', message: describe(error) });
    }
    this.emit(namespace, changed);
  }

  private async onEvent(namespace: Namespace, event: CollectionUpdate): Promise<void> {
    const id = Number(event.id ?? event.fields?.id);
    if (!Number.isFinite(id)) return void this.reload(namespace);
    const rows = this.rows.get(namespace)!;
    if (event.msg === 'removed') rows.delete(id);
    else {
      const [row] = await this.conn.call<Row[]>(`${namespace}.query`, [['id', '=', id]]).catch(() => [] as Row[]);
      if (row) rows.set(id, row);
      else rows.delete(id);
    }
    this.emit(namespace, new Set(event.msg === 'removed' ? [] : [id]));
    const related = RELATED[namespace];
    if (related) this.reloadSoon(related);
  }

  /** Coalesces the related reloads a burst of events asks for. */
  private reloadSoon(namespace: Namespace): void {
    window.clearTimeout(this.pendingReloads.get(namespace));
    this.pendingReloads.set(namespace, window.setTimeout(() => void this.reload(namespace), 150));
  }

  private emit(namespace: Namespace, ids: ReadonlySet<number>): void {
    for (const listener of this.listeners) listener(namespace, ids);
  }
}
