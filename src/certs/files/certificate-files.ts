import path from 'node:path';
import { In } from 'typeorm';
import type { App } from '../../app.js';
import type { Config } from '../../config.js';
import { CertificateAuthorityEntity, CertificateEntity, type CertificateAuthorityRow, type CertificateRowBase } from '../entities.js';
import { TRUSTED_BUNDLE_NAME } from './layout.js';
import { syncManagedDirectory, updateManagedFiles, type DesiredFile, type SyncResult } from './managed-directory.js';
import { bundleFile, certificatesDirectory, planEntry, publicFile, trustedStoreDirectory, type EntryFiles, type SkippedEntry } from './plan.js';
import { runTrustCommand } from './trust-command.js';

/** A burst of changes (a CA revoked with everything below it) becomes one pass. */
const COALESCE_MS = 50;
/** After a failed pass (database or disk away) the next one comes by itself. */
const RETRY_MS = 30_000;
/** A pass now and then, should a change event have been lost (Redis pub/sub does not queue). */
const PERIODIC_MS = 3_600_000;
/** Entries by the collection their change events name: `certificate:<id>`, `ca:<id>`. */
const ENTRY_KINDS: ReadonlyMap<string, EntryKind> = new Map([
  ['certificateauthority.query', 'ca'],
  ['certificate.query', 'certificate'],
]);
type EntryKind = 'ca' | 'certificate';
/** TrueNAS's words (generate_ssl_certs) for a failed `update-ca-certificates`. */
const TRUST_COMMAND_FAILED = "Failed to update system's trusted certificate store: ";

/** `certificate.files_status`: this host's files, as its daemon last wrote them. */
export interface CertificateFilesStatus {
  directory: string;
  /** Whether this daemon writes the directory (CERTIFICATES_WRITE). */
  writing: boolean;
  /** A pass is running or due. */
  pending: boolean;
  /** When the files last matched the database. */
  reconciled_at: Date | null;
  /** Why the last pass failed; null once one succeeds. */
  error: string | null;
  skipped: SkippedEntry[];
  trusted_store: {
    directory: string;
    bundle: string;
    /** The `{ca|cert}_<name>.crt` files it holds. */
    entries: string[];
    update_command: string[] | null;
    /** When the update command last succeeded. */
    updated_at: Date | null;
    /** TrueNAS's "Failed to update system's trusted certificate store: …" while the last run failed. */
    error: string | null;
  };
}

/**
 * Keeps CERTIFICATES_DIR and the trusted store equal to the database. A change event (from this
 * process, or from other daemons and workers through Redis) updates the files of the entries it
 * names only, so a change costs the same however many rows there are. A full pass, which reads
 * every row and repairs whatever differs (a missed event, a file removed by hand), runs at start,
 * after a failure, hourly, and when a CA's certificate or issuer changes under the chains of what
 * it signed (not when a CA is added or removed).
 * One pass at a time, bursts coalesced.
 */
export class CertificateFiles {
  private readonly state: CertificateFilesStatus;
  private running: Promise<void> | null = null;
  private fullDue = false;
  /** Entries changed since the last pass, as `<kind>:<id>`. */
  private readonly changedEntries = new Set<string>();
  /** What each entry has on disk, as the last pass left it. */
  private readonly known = new Map<string, KnownEntry>();
  /** The trusted and the skipped among them, kept apart so that a change does not walk every entry. */
  private readonly trustedEntries = new Map<string, NonNullable<EntryFiles['trusted']>>();
  private readonly skippedEntries = new Map<string, SkippedEntry>();
  /** What the chains of certificates depend on, by CA id: its certificate and its issuer. */
  private readonly caChainParts = new Map<number, string>();
  private stopped = false;
  private commandRan = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly periodicTimer: NodeJS.Timeout;

  constructor(private readonly app: App) {
    this.state = initialStatus(app.config, true);
    app.events.onUpdate((update) => {
      const kind = ENTRY_KINDS.get(update.collection);
      // A CA whose signed certificates changed keeps its own files; the certificate's event names the certificate.
      if (kind && !update.signedOnly) this.requestEntry(kind, Number(update.id));
    });
    this.periodicTimer = setInterval(() => this.request(), PERIODIC_MS).unref();
  }

  status(): CertificateFilesStatus {
    return structuredClone({ ...this.state, pending: this.running !== null });
  }

  /** Asks for a full pass; one running now is followed by one more. */
  request(): void {
    if (this.stopped) return;
    this.fullDue = true;
    this.running ??= this.loop();
  }

  /** Asks for the files of one entry to be brought up to date. */
  private requestEntry(kind: EntryKind, id: number): void {
    if (this.stopped) return;
    this.changedEntries.add(`${kind}:${id}`);
    this.running ??= this.loop();
  }

  /** Resolves once no pass is running or due. */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  /** No pass starts after this; the one running finishes. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.periodicTimer);
    clearTimeout(this.retryTimer);
    await this.settled();
  }

  private async loop(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, COALESCE_MS));
    while ((this.fullDue || this.changedEntries.size > 0) && !this.stopped) {
      const changed = this.fullDue ? null : [...this.changedEntries];
      this.fullDue = false;
      this.changedEntries.clear();
      await this.passSafely(changed);
    }
    this.running = null;
  }

  private async passSafely(changed: string[] | null): Promise<void> {
    // Only a full pass stands for the retry of a failed one.
    if (!changed) clearTimeout(this.retryTimer);
    try {
      await (changed ? this.updateEntries(changed) : this.fullPass());
      this.state.reconciled_at = new Date();
      this.state.error = null;
    } catch (error) {
      this.state.error = (error as Error).message;
      this.app.logger.error({ err: error, directory: this.state.directory }, 'could not write the certificate files');
      this.retryTimer = setTimeout(() => this.request(), RETRY_MS).unref();
    }
  }

  /** Reads every row and makes both directories hold exactly their files. */
  private async fullPass(): Promise<void> {
    const { app } = this;
    const authorities = await app.db.getRepository(CertificateAuthorityEntity).find({ order: { id: 'ASC' } });
    const certificates = await app.db.getRepository(CertificateEntity).find({ order: { id: 'ASC' } });
    const caRows = this.rememberAuthorities(authorities);
    const before = new Map(this.known);
    for (const key of before.keys()) this.forget(key);
    const files = new Map<string, DesiredFile>();
    const trusted = new Map<string, DesiredFile>();
    for (const [key, row] of keyedRows(authorities, certificates)) {
      const planned = this.plan(key, row, caRows, before.get(key));
      for (const [relative, file] of planned.files) files.set(relative, file);
      if (planned.trusted) trusted.set(planned.trusted.file, publicFile(planned.trusted.chain.join('')));
    }
    files.set(TRUSTED_BUNDLE_NAME, this.bundle());
    await this.write(
      await syncManagedDirectory(certificatesDirectory(app.config.certificatesDir), files),
      await syncManagedDirectory(trustedStoreDirectory(app.config.trustedStoreDir), trusted),
    );
  }

  /**
   * Brings the files of the named entries up to date, reading only their rows (and the CAs, for
   * the chains). A CA that has another certificate or issuer changes the chains of what it signed:
   * that takes a full pass.
   */
  private async updateEntries(changed: readonly string[]): Promise<void> {
    const { app } = this;
    const authorities = await app.db.getRepository(CertificateAuthorityEntity).find({ order: { id: 'ASC' } });
    if (changed.some((key) => key.startsWith('ca:')) && this.chainsChanged(authorities)) return this.fullPass();
    const caRows = this.rememberAuthorities(authorities);
    const ids = changed.filter((key) => key.startsWith('certificate:')).map((key) => Number(key.slice('certificate:'.length)));
    const certificates = ids.length > 0 ? await app.db.getRepository(CertificateEntity).findBy({ id: In(ids) }) : [];
    const rows = new Map(keyedRows(authorities, certificates));
    const files = { write: new Map<string, DesiredFile>(), remove: [] as string[] };
    const trusted = { write: new Map<string, DesiredFile>(), remove: [] as string[] };
    for (const key of changed) {
      const before = this.known.get(key);
      const row = rows.get(key);
      const planned = row ? this.plan(key, row, caRows, before) : this.forget(key);
      files.remove.push(...(before?.files ?? []).filter((relative) => !planned.files.has(relative)));
      for (const [relative, file] of planned.files) files.write.set(relative, file);
      if (before?.trusted && before.trusted.file !== planned.trusted?.file) trusted.remove.push(before.trusted.file);
      if (planned.trusted) trusted.write.set(planned.trusted.file, publicFile(planned.trusted.chain.join('')));
    }
    files.write.set(TRUSTED_BUNDLE_NAME, this.bundle());
    await this.write(
      await updateManagedFiles(certificatesDirectory(app.config.certificatesDir), files.write, files.remove),
      await updateManagedFiles(trustedStoreDirectory(app.config.trustedStoreDir), trusted.write, trusted.remove),
    );
  }

  /** An entry's files, remembered as what it has on disk; a newly skipped name is reported once. */
  private plan(key: string, row: CertificateRowBase, caRows: ReadonlyMap<number, CertificateAuthorityRow>, before: KnownEntry | undefined): EntryFiles {
    const planned = planEntry(row, key.startsWith('ca:'), caRows, (sealed) => this.app.secrets.decrypt(sealed));
    if (planned.skipped && before?.skipped?.name !== planned.skipped.name) this.app.logger.warn({ name: planned.skipped.name, cert_type: planned.skipped.cert_type }, 'no files for an entry whose name cannot be a file name');
    this.known.set(key, { files: [...planned.files.keys()], trusted: planned.trusted, skipped: planned.skipped });
    setOrDelete(this.trustedEntries, key, planned.trusted);
    setOrDelete(this.skippedEntries, key, planned.skipped);
    return planned;
  }

  /** A deleted entry: no files. */
  private forget(key: string): EntryFiles {
    this.known.delete(key);
    this.trustedEntries.delete(key);
    this.skippedEntries.delete(key);
    return { files: new Map(), trusted: null, skipped: null };
  }

  private rememberAuthorities(authorities: readonly CertificateAuthorityRow[]): Map<number, CertificateAuthorityRow> {
    this.caChainParts.clear();
    for (const row of authorities) this.caChainParts.set(row.id, chainPart(row));
    return new Map(authorities.map((row) => [row.id, row]));
  }

  /**
   * Whether a CA that was there has another certificate or issuer. One that is new or gone is in
   * no stored chain: the foreign key lets no row name a CA that does not exist.
   */
  private chainsChanged(authorities: readonly CertificateAuthorityRow[]): boolean {
    return authorities.some((row) => {
      const before = this.caChainParts.get(row.id);
      return before !== undefined && before !== chainPart(row);
    });
  }

  /** Every trusted chain in one file: CAs first, each kind by id, as a full pass reads them. */
  private bundle(): DesiredFile {
    return bundleFile(inKeyOrder(this.trustedEntries).map((entry) => entry.chain));
  }

  /** Records what a pass did, and runs the trusted store's update command when the store changed. */
  private async write(files: SyncResult, trusted: SyncResult): Promise<void> {
    const { app } = this;
    this.state.skipped = inKeyOrder(this.skippedEntries);
    this.state.trusted_store.entries = [...this.trustedEntries.values()].map((entry) => entry.file).sort();
    const changed = files.written.length + files.removed.length + trusted.written.length + trusted.removed.length;
    if (changed > 0) app.logger.info({ written: files.written.length + trusted.written.length, removed: files.removed.length + trusted.removed.length }, 'certificate files updated');
    const trustChanged = trusted.written.length + trusted.removed.length > 0 || files.written.includes(TRUSTED_BUNDLE_NAME);
    if (trustChanged || !this.commandRan || this.state.trusted_store.error) await this.runUpdateCommand();
  }

  private async runUpdateCommand(): Promise<void> {
    const { config, logger } = this.app;
    const argv = config.trustedStoreUpdateCommand;
    if (!argv) return;
    this.commandRan = true;
    const store = this.state.trusted_store;
    const failure = await runTrustCommand(argv, { trustedStoreDir: store.directory, bundle: store.bundle, timeoutMs: config.trustedStoreUpdateTimeoutSeconds * 1000 });
    if (failure === null) {
      store.updated_at = new Date();
      store.error = null;
      logger.info({ command: argv[0] }, 'trusted certificate store updated');
    } else {
      store.error = TRUST_COMMAND_FAILED + failure;
      logger.error({ command: argv[0] }, store.error);
    }
  }
}

/** What an entry has on disk, kept so that a change (or a deletion, whose row is gone) knows what to replace. */
interface KnownEntry {
  files: string[];
  trusted: EntryFiles['trusted'];
  skipped: SkippedEntry | null;
}

/** What the chains of the certificates a CA signed hold of it. */
function chainPart(row: CertificateAuthorityRow): string {
  return `${row.signedby_id ?? ''}\n${row.certificate ?? ''}`;
}

function keyedRows(authorities: readonly CertificateAuthorityRow[], certificates: readonly CertificateRowBase[]): Array<readonly [string, CertificateRowBase]> {
  return [...authorities.map((row) => [`ca:${row.id}`, row] as const), ...certificates.map((row) => [`certificate:${row.id}`, row] as const)];
}

function setOrDelete<T>(map: Map<string, T>, key: string, value: T | null): void {
  if (value === null) map.delete(key);
  else map.set(key, value);
}

/** The values with `ca:` keys first, then `certificate:` ones, each by id: the order a full pass reads them in. */
function inKeyOrder<T>(map: ReadonlyMap<string, T>): T[] {
  const order = (key: string): [number, number] => [key.startsWith('ca:') ? 0 : 1, Number(key.slice(key.indexOf(':') + 1))];
  return [...map]
    .map(([key, value]) => [...order(key), value] as const)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
    .map(([, , value]) => value);
}

const running = new WeakMap<App, CertificateFiles>();

/** Starts keeping this host's files in the daemon (never in workers); null when CERTIFICATES_WRITE is false. */
export function startCertificateFiles(app: App): CertificateFiles | null {
  if (!app.config.certificatesWrite) return null;
  const files = new CertificateFiles(app);
  running.set(app, files);
  files.request();
  return files;
}

/** A full pass now, as the hourly one: resolves once the files match the database again. */
export async function reconcileCertificateFiles(app: App): Promise<void> {
  const files = running.get(app);
  files?.request();
  await files?.settled();
}

/** The state of this daemon's files; a daemon that does not write them says so. */
export function certificateFilesStatus(app: App): CertificateFilesStatus {
  return running.get(app)?.status() ?? initialStatus(app.config, false);
}

function initialStatus(config: Readonly<Config>, writing: boolean): CertificateFilesStatus {
  return {
    directory: config.certificatesDir,
    writing,
    pending: false,
    reconciled_at: null,
    error: null,
    skipped: [],
    trusted_store: {
      directory: config.trustedStoreDir,
      bundle: path.join(config.certificatesDir, TRUSTED_BUNDLE_NAME),
      entries: [],
      update_command: config.trustedStoreUpdateCommand ? [...config.trustedStoreUpdateCommand] : null,
      updated_at: null,
      error: null,
    },
  };
}
