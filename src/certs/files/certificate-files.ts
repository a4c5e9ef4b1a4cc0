import path from 'node:path';
import type { App } from '../../app.js';
import type { Config } from '../../config.js';
import { CertificateAuthorityEntity, CertificateEntity } from '../entities.js';
import { TRUSTED_BUNDLE_NAME } from './layout.js';
import { syncManagedDirectory } from './managed-directory.js';
import { certificatesDirectory, planFiles, trustedStoreDirectory, type SkippedEntry } from './plan.js';
import { runTrustCommand } from './trust-command.js';

/** A burst of changes (a CA revoked with everything below it) becomes one pass. */
const COALESCE_MS = 50;
/** After a failed pass (database or disk away) the next one comes by itself. */
const RETRY_MS = 30_000;
/** A pass now and then, should a change event have been lost (Redis pub/sub does not queue). */
const PERIODIC_MS = 3_600_000;
const CHANGE_COLLECTIONS = new Set(['certificate.query', 'certificateauthority.query']);
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
 * Keeps CERTIFICATES_DIR and the trusted store equal to the database: on every certificate or CA
 * change event (from this process, or from other daemons and workers through Redis), once at
 * start, after a failure and hourly, one pass at a time, bursts coalesced. Each pass reads every
 * row, so it is idempotent and a missed event is repaired by the next pass.
 */
export class CertificateFiles {
  private readonly state: CertificateFilesStatus;
  private running: Promise<void> | null = null;
  private dirty = false;
  private stopped = false;
  private commandRan = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly periodicTimer: NodeJS.Timeout;

  constructor(private readonly app: App) {
    this.state = initialStatus(app.config, true);
    app.events.onUpdate((update) => {
      if (CHANGE_COLLECTIONS.has(update.collection)) this.request();
    });
    this.periodicTimer = setInterval(() => this.request(), PERIODIC_MS).unref();
  }

  status(): CertificateFilesStatus {
    return structuredClone({ ...this.state, pending: this.running !== null });
  }

  /** Asks for a pass; one running now is followed by one more. */
  request(): void {
    if (this.stopped) return;
    this.dirty = true;
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
    while (this.dirty && !this.stopped) {
      this.dirty = false;
      await this.passSafely();
    }
    this.running = null;
  }

  private async passSafely(): Promise<void> {
    clearTimeout(this.retryTimer);
    try {
      await this.pass();
      this.state.reconciled_at = new Date();
      this.state.error = null;
    } catch (error) {
      this.state.error = (error as Error).message;
      this.app.logger.error({ err: error, directory: this.state.directory }, 'could not write the certificate files');
      this.retryTimer = setTimeout(() => this.request(), RETRY_MS).unref();
    }
  }

  private async pass(): Promise<void> {
    const { app } = this;
    const certificates = await app.db.getRepository(CertificateEntity).find({ order: { id: 'ASC' } });
    const authorities = await app.db.getRepository(CertificateAuthorityEntity).find({ order: { id: 'ASC' } });
    const plan = planFiles(certificates, authorities, (sealed) => app.secrets.decrypt(sealed));
    this.reportSkipped(plan.skipped);
    const files = await syncManagedDirectory(certificatesDirectory(app.config.certificatesDir), plan.certificates);
    const trusted = await syncManagedDirectory(trustedStoreDirectory(app.config.trustedStoreDir), plan.trusted);
    this.state.trusted_store.entries = [...plan.trusted.keys()].sort();
    const changed = files.written.length + files.removed.length + trusted.written.length + trusted.removed.length;
    if (changed > 0) app.logger.info({ written: files.written.length + trusted.written.length, removed: files.removed.length + trusted.removed.length }, 'certificate files updated');
    const trustChanged = trusted.written.length + trusted.removed.length > 0 || files.written.includes(TRUSTED_BUNDLE_NAME);
    if (trustChanged || !this.commandRan || this.state.trusted_store.error) await this.runUpdateCommand();
  }

  private reportSkipped(skipped: SkippedEntry[]): void {
    const known = new Set(this.state.skipped.map((entry) => `${entry.cert_type}:${entry.name}`));
    for (const entry of skipped) {
      if (!known.has(`${entry.cert_type}:${entry.name}`)) this.app.logger.warn({ name: entry.name, cert_type: entry.cert_type }, 'no files for an entry whose name cannot be a file name');
    }
    this.state.skipped = skipped;
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

const running = new WeakMap<App, CertificateFiles>();

/** Starts keeping this host's files in the daemon (never in workers); null when CERTIFICATES_WRITE is false. */
export function startCertificateFiles(app: App): CertificateFiles | null {
  if (!app.config.certificatesWrite) return null;
  const files = new CertificateFiles(app);
  running.set(app, files);
  files.request();
  return files;
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
