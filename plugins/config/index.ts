import { z } from 'zod';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin } from '../../src/api/define-plugin.js';
import { decodeBackup, encodeBackup, PASSPHRASE_ATTRIBUTE } from '../../src/backup/archive.js';
import { exportBackup } from '../../src/backup/export.js';
import { masterKeyOnlyInDataDir } from '../../src/backup/master-key.js';
import { restoreBackup } from '../../src/backup/restore.js';
import { CallError } from '../../src/errors/call-error.js';
import { ValidationErrors } from '../../src/errors/validation-errors.js';
import { jobFiles } from '../../src/transfer/job-files.js';
import type { App } from '../../src/app.js';
import type { CollectionUpdate } from '../../src/events/event-bus.js';

const Passphrase = z.string().min(8).max(1024);

const SaveOptions = z
  .strictObject({
    secretseed: z
      .boolean()
      .default(false)
      .describe('Include the master key, which every private key and credential is sealed with; the file is then encrypted with `passphrase`.'),
    passphrase: Passphrase.nullable()
      .default(null)
      .describe('Encrypts the file (AES-256-GCM, key from scrypt). Required with secretseed; without it the file is not encrypted.'),
    pool_keys: z.boolean().default(false).describe('Accepted for compatibility; there are no pool keys.'),
    root_authorized_keys: z.boolean().default(false).describe('Accepted for compatibility; there are no SSH keys to include.'),
  })
  .default({ secretseed: false, passphrase: null, pool_keys: false, root_authorized_keys: false })
  .describe('What the backup holds and how it is protected.');

const UploadOptions = z
  .strictObject({
    passphrase: Passphrase.nullable().default(null).describe('The passphrase of an encrypted backup.'),
  })
  .default({ passphrase: null })
  .describe('How to open the backup.');

/** A backup made without its master key must be restorable somewhere: where MASTER_KEY gives the key. */
function checkSaveOptions(app: App, options: z.output<typeof SaveOptions>): void {
  const errors = new ValidationErrors();
  if (options.secretseed && options.passphrase === null) {
    errors.add(PASSPHRASE_ATTRIBUTE, 'A passphrase is required with secretseed: the backup then holds the master key, and with it every private key');
  }
  if (!options.secretseed && masterKeyOnlyInDataDir(app.config)) {
    errors.add(
      'options.secretseed',
      'The master key is kept only in the data directory, so a backup without it could not be restored once that is lost: ' +
        'set secretseed (with a passphrase), or run the daemon with MASTER_KEY and keep that key safe',
    );
  }
  errors.check();
}

const save = defineMethod({
  name: 'config.save',
  description:
    'Back up every user, API key, certificate, CSR, certificate authority, ACME account and DNS authenticator, and the settings, as a ' +
    'file to download: call it through core.download. The private keys in it stay sealed with the master key, which is included only ' +
    'with secretseed (the file is then encrypted with the passphrase). Restore it with config.upload.',
  params: { options: SaveOptions },
  result: z.null(),
  roles: ['FULL_ADMIN'],
  job: { inDaemon: true, pipes: ['output'] },
  handler: async (ctx, { options }) => {
    checkSaveOptions(ctx.app, options);
    ctx.job!.progress(10, 'Reading the database');
    const document = await exportBackup(ctx.app, { includeMasterKey: options.secretseed });
    ctx.job!.progress(60, options.passphrase === null ? 'Compressing' : 'Compressing and encrypting');
    jobFiles(ctx.app).writeOutput(ctx.job!.id, await encodeBackup(document, options.passphrase));
    ctx.app.logger.info({ job: ctx.job!.id, secretseed: options.secretseed, encrypted: options.passphrase !== null }, 'backup made');
    ctx.job!.progress(100, 'Backup ready to download');
    return null;
  },
});

/**
 * Sends the restore's entity events once the job has ended and its outcome has gone out, so that
 * the caller learns it even when its own session then ends because the restored accounts no longer
 * hold its login.
 */
function announceAfterJob(app: App, jobId: number, changes: readonly CollectionUpdate[]): void {
  void app.jobs
    .wait(jobId)
    .catch(() => undefined)
    .then(async () => {
      for (const change of changes) await app.events.publish(change);
    })
    .catch((error: unknown) => app.logger.error({ err: error }, 'could not announce the restored data'));
}

const upload = defineMethod({
  name: 'config.upload',
  description:
    'Restore a backup made by config.save, replacing every user, API key, certificate, CSR, certificate authority, ACME account, DNS ' +
    'authenticator and setting in one transaction: all or nothing. Send the file to /_upload (multipart: a "data" part ' +
    '{"method": "config.upload", "params": [options]} and a "file" part). A backup from a newer schema is refused; one from an older ' +
    'schema is brought up to date. Sessions whose login the restored accounts no longer accept are closed.',
  params: { options: UploadOptions },
  result: z.null(),
  roles: ['FULL_ADMIN'],
  job: { inDaemon: true, pipes: ['input'], lock: 'config_upload' },
  handler: async (ctx, { options }) => {
    const job = ctx.job!;
    const file = await jobFiles(ctx.app).takeInput(job.id);
    if (!file) throw new CallError('config.upload restores the file sent with it to /_upload; no file came with this call', 'EINVAL');
    job.progress(5, 'Reading the backup');
    const document = await decodeBackup(file, options.passphrase);
    const outcome = await restoreBackup(ctx.app, document, (percent, description) => job.progress(percent, description));
    announceAfterJob(ctx.app, job.id, outcome.changes);
    ctx.app.logger.info({ job: job.id, rows: outcome.counts, source: document.source.database, made: document.created_at }, 'backup restored');
    job.progress(100, 'Backup restored');
    return null;
  },
});

/** TrueNAS's config namespace: the backup of everything, and its restore. */
export const configPlugin = definePlugin({
  namespace: 'config',
  description: 'Back up and restore the whole configuration.',
  // TrueNAS 25.04 validates config.save and config.upload with pydantic models (api/v25_04_2/config.py).
  validation: 'pydantic',
  // Its backup holds the tables of these.
  dependsOn: ['user', 'api_key', 'certificate', 'certificateauthority', 'acme.dns.authenticator', 'acme.registration'],
  methods: [save, upload],
});
