import type { KeyObject } from 'node:crypto';
import { In, IsNull, LessThan, MoreThan, Not, type FindOptionsWhere } from 'typeorm';
import type { CallContext } from '../api/call-context.js';
import type { JobProgressReporter } from '../api/jobs.js';
import type { App } from '../app.js';
import { NAMESPACE } from '../certs/certificate-service.js';
import { certificateDetails, detailColumns } from '../certs/details.js';
import { CertificateEntity, type CertificateRow } from '../certs/entities.js';
import { renewableHere, renewInternalCertificate } from '../certs/internal-renewal.js';
import { openKey, sealKey } from '../certs/store.js';
import { keepPreviousVersion, refreshSuperseded } from '../certs/versions.js';
import { createCsr, parseCsr } from '../crypto/certificates.js';
import { defaultExtensions } from '../crypto/extensions.js';
import { generatePrivateKey, sameKeySpec, type KeySpec } from '../crypto/keys.js';
import { parseSan } from '../crypto/san.js';
import { withChanges } from '../db/entity-events.js';
import { CallError } from '../errors/call-error.js';
import { describeJobFailure } from '../errors/job-failure.js';
import { isExpectedError } from '../errors/to-rpc-error.js';
import { AcmeRegistrationEntity } from './entities.js';
import { issueAcmeCertificate } from './issue.js';
import { transportOf } from './registration.js';
import { ariCertificateId, fetchSuggestedWindow, windowSaysRenew } from './renewal-info.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** TrueNAS's default `renew_days` for ACME certificates. */
const DEFAULT_RENEW_DAYS = 10;
/** The largest `renew_days` the API takes: no certificate further from expiry is due by its date. */
const MAX_RENEW_DAYS = 30;
/** Rows read at a time by the renewal sweep. */
const SWEEP_PAGE = 500;

/** What `certificate.renew_certs` did: the ids it renewed and those whose renewal failed. */
export interface RenewalResult {
  renewed: number[];
  failed: number[];
}

/**
 * `certificate.renew_certs`: renews every ACME certificate, and every certificate signed here that
 * opted in (`auto_renew`), that is due, one after the other, each with its share of the progress.
 * A failure is recorded on its certificate (which keeps its current certificate) and never stops
 * the others. Each renewal keeps the version it replaced until its uses have the new one.
 */
export async function renewCertificates(ctx: CallContext): Promise<RenewalResult> {
  const { app } = ctx;
  const job = ctx.job!;
  const now = new Date();
  const due: Array<{ row: CertificateRow; reason: string }> = [];
  for await (const row of renewalCandidates(app, now)) {
    const reason = await renewalReason(app, row, now, job.signal);
    if (reason) due.push({ row, reason });
  }
  job.progress(5, due.length === 0 ? 'No certificate is due for renewal' : `${due.length} certificate(s) due for renewal`);
  const result: RenewalResult = { renewed: [], failed: [] };
  for (const [index, { row, reason }] of due.entries()) {
    const share = shareOf(job, 5 + (95 * index) / due.length, 5 + (95 * (index + 1)) / due.length, row.name);
    share.progress(0, `Renewing (${reason})`);
    try {
      if (renewableHere(row)) {
        // False: another run renewed or revoked it meanwhile; nothing of this run's to report.
        if (!(await renewInternalCertificate(app, row, share))) continue;
      } else {
        await renewCertificate(app, row, share);
      }
      result.renewed.push(row.id);
      share.progress(100, 'Renewed');
      await settleVersions(app, row.id);
    } catch (error) {
      // At shutdown the job ends ABORTED; that is no failure of the certificate's.
      if (job.signal.aborted) throw error;
      const text = await recordFailure(app, row, error, now);
      result.failed.push(row.id);
      share.progress(100, `Renewal failed: ${text}`);
    }
  }
  job.progress(100, `Renewed ${result.renewed.length}, failed ${result.failed.length}`);
  return result;
}

/** Certificates that could be renewed: issued, not revoked, and ACME or signed here with `auto_renew`. */
const RENEWABLE: Array<FindOptionsWhere<CertificateRow>> = [
  { acme_id: Not(IsNull()), revoked_date: IsNull(), certificate: Not(IsNull()) },
  { acme_id: IsNull(), auto_renew: true, signedby_id: Not(IsNull()), revoked_date: IsNull(), certificate: Not(IsNull()) },
];

/**
 * The renewable rows that can be due at `now`, in pages: those expiring within the largest
 * `renew_days` (through the index on not_after), and ACME ones whose CA suggests renewal windows
 * (RFC 9773), which only the CA can say are due (through the index on acme_id). Their ids are read
 * first: a page by id range (`id > last`) would be read in id order through the whole table.
 * The rest of the table is never read; a row that stopped being renewable meanwhile is left out.
 */
async function* renewalCandidates(app: App, now: Date): AsyncGenerator<CertificateRow> {
  const registrations = await app.db.getRepository(AcmeRegistrationEntity).find({ select: { id: true, renewal_info_uri: true } });
  const suggestingWindows = registrations.filter((registration) => registration.renewal_info_uri).map((registration) => registration.id);
  const horizon = new Date(now.getTime() + MAX_RENEW_DAYS * DAY_MS);
  const where: Array<FindOptionsWhere<CertificateRow>> = RENEWABLE.map((renewable) => ({ ...renewable, not_after: LessThan(horizon) }));
  if (suggestingWindows.length > 0) where.push({ ...RENEWABLE[0], acme_id: In(suggestingWindows) });
  const certificates = app.db.getRepository(CertificateEntity);
  const ids = (await certificates.find({ select: { id: true }, where })).map((row) => row.id).sort((a, b) => a - b);
  for (let start = 0; start < ids.length; start += SWEEP_PAGE) {
    const page = ids.slice(start, start + SWEEP_PAGE);
    yield* await certificates.find({ where: where.map((condition) => ({ ...condition, id: In(page) })), order: { id: 'ASC' } });
  }
}

/** Marks the replaced version superseded when nothing holds it; a failure here is no failure of the renewal. */
async function settleVersions(app: App, certificateId: number): Promise<void> {
  try {
    await refreshSuperseded(app, certificateId);
  } catch (error) {
    app.logger.error({ err: error, certificate: certificateId }, 'could not check whether the replaced certificate is still in use');
  }
}

/**
 * When a renewal run that started at `since` leaves a failed renewal to be tried again: the
 * earliest `renewal_next_attempt` after `since`, or null. Earlier ones were that run's to try; one
 * that stays in the past belongs to a certificate that was not due, and must not call for a run.
 */
export async function nextRetryAfter(app: App, since: Date): Promise<Date | null> {
  const row = await app.db.getRepository(CertificateEntity).findOne({
    select: { id: true, renewal_next_attempt: true },
    where: RENEWABLE.map((where) => ({ ...where, renewal_next_attempt: MoreThan(since) })),
    order: { renewal_next_attempt: 'ASC' },
  });
  return row?.renewal_next_attempt ?? null;
}

/**
 * Why `row` is due now, or null: backing off after a failure, else fewer than `renew_days` whole
 * days left (TrueNAS's rule), else inside the CA's suggested window (RFC 9773), whichever comes first.
 */
async function renewalReason(app: App, row: CertificateRow, now: Date, signal: AbortSignal): Promise<string | null> {
  if (row.renewal_next_attempt && row.renewal_next_attempt > now) return null;
  const renewDays = row.renew_days ?? DEFAULT_RENEW_DAYS;
  if (row.not_after) {
    const daysLeft = Math.floor((row.not_after.getTime() - now.getTime()) / DAY_MS);
    if (daysLeft < renewDays) return `${daysLeft} day(s) left, renewing ${renewDays} day(s) before expiry`;
  }
  // Only an ACME CA suggests a window.
  if (row.acme_id === null) return null;
  return (await insideSuggestedWindow(app, row, now, signal)) ? 'inside the renewal window the CA suggests (RFC 9773)' : null;
}

/** Whether the CA's renewalInfo says to renew now; false when it offers none or cannot be asked (renew_days still applies). */
async function insideSuggestedWindow(app: App, row: CertificateRow, now: Date, signal: AbortSignal): Promise<boolean> {
  const registration = await app.db.getRepository(AcmeRegistrationEntity).findOneBy({ id: row.acme_id! });
  const certificateId = registration?.renewal_info_uri ? ariCertificateId(row.certificate!) : null;
  if (!registration?.renewal_info_uri || !certificateId) return false;
  try {
    const window = await fetchSuggestedWindow(registration.renewal_info_uri, certificateId, transportOf(registration, signal));
    const renew = windowSaysRenew(window, new Date(now.getTime() + app.config.renewalIntervalSeconds * 1000));
    // RFC 9773 §4.2: the explanation is for the operator.
    if (renew) app.logger.info({ certificate: row.id, window }, 'the ACME CA suggests renewing now');
    return renew;
  } catch (error) {
    if (signal.aborted) throw error;
    app.logger.warn({ certificate: row.id, error: (error as Error).message }, 'ACME renewal information unavailable; renew_days applies');
    return false;
  }
}

/**
 * Issues the certificate again from its stored CSR (or a new key and CSR with `rotate_key`) and
 * stores the result in the same row: id, name, signedby and mapping stay, so everything that
 * refers to the certificate follows it.
 */
async function renewCertificate(app: App, row: CertificateRow, job: JobProgressReporter): Promise<void> {
  const registration = await app.db.getRepository(AcmeRegistrationEntity).findOneBy({ id: row.acme_id! });
  if (!registration) throw new CallError(`ACME registration ${row.acme_id} of certificate ${row.name} does not exist`, 'ENOENT');
  if (!row.CSR) throw new CallError(`Certificate ${row.name} has no stored CSR to renew with`, 'ENOENT');
  const rotated = row.rotate_key ? await rotatedKey(app, row, job.signal) : null;
  // RFC 9773 §5: a CA that offers renewalInfo learns which certificate the order replaces.
  const replaces = registration.renewal_info_uri ? (ariCertificateId(row.certificate!) ?? undefined) : undefined;
  const issued = await issueAcmeCertificate(
    app,
    { csrPem: rotated?.csrPem ?? row.CSR, directoryUri: registration.directory, tos: true, dnsMapping: storedMapping(app, row), replaces },
    job,
  );
  const details = certificateDetails(issued.fullchainPem, rotated?.key ?? openKey(app, row));
  await withChanges(app, async (manager, changes) => {
    await keepPreviousVersion(manager, row, new Date());
    await manager.getRepository(CertificateEntity).update({ id: row.id }, {
      certificate: issued.fullchainPem,
      acme_uri: issued.orderUri,
      acme_id: issued.registrationId,
      ...(rotated ? { privatekey: sealKey(app, rotated.key), CSR: rotated.csrPem } : {}),
      ...detailColumns(details),
      renewal_error: null,
      renewal_attempts: 0,
      renewal_next_attempt: null,
    } as never);
    changes.changed(NAMESPACE, row.id);
  });
}

/** The certificate's `dns_mapping`, as stored (sealed) at issuance. */
function storedMapping(app: App, row: CertificateRow): Record<string, number> {
  return row.domains_authenticators ? (JSON.parse(app.secrets.decrypt(row.domains_authenticators)) as Record<string, number>) : {};
}

/** A new key of the same type and size, and a CSR for it with the stored CSR's subject and SANs. */
async function rotatedKey(app: App, row: CertificateRow, signal: AbortSignal): Promise<{ key: KeyObject; csrPem: string }> {
  const current = openKey(app, row);
  if (!current) throw new CallError(`Certificate ${row.name} has no private key to rotate`, 'ENOENT');
  const key = await generatePrivateKey(sameKind(current), signal);
  const { common, country, state, city, organization, organizational_unit, email, san } = parseCsr(row.CSR!);
  const csrPem = await createCsr({
    subject: { common, country, state, city, organization, organizational_unit, email },
    san: parseSan(san),
    privateKey: key,
    digest: 'SHA256',
    extensions: defaultExtensions(),
  });
  return { key, csrPem };
}

/** What to generate to replace `key`: the same algorithm, size or curve. */
function sameKind(key: KeyObject): KeySpec {
  const spec = sameKeySpec(key);
  if (!spec) throw new CallError(`Cannot rotate a ${key.asymmetricKeyType ?? 'unknown'} key; renew with rotate_key off`, 'EINVAL');
  return spec;
}

/**
 * Leaves the failure on the certificate: the job error text, one more attempt, and no new attempt
 * before the backoff has passed. Returns the text.
 */
async function recordFailure(app: App, row: CertificateRow, error: unknown, now: Date): Promise<string> {
  // The text a failed job would show; unexpected errors are logged and shown as an internal error.
  const text = describeJobFailure(error).error;
  if (!isExpectedError(error)) app.logger.error({ err: error, certificate: row.id }, 'certificate renewal failed unexpectedly');
  const attempts = row.renewal_attempts + 1;
  await withChanges(app, async (manager, changes) => {
    await manager.getRepository(CertificateEntity).update({ id: row.id }, {
      renewal_error: text,
      renewal_attempts: attempts,
      renewal_next_attempt: new Date(now.getTime() + renewalBackoffMs(attempts, app.config.renewalRetrySeconds * 1000)),
    });
    changes.changed(NAMESPACE, row.id);
  });
  return text;
}

/**
 * The wait after the `attempts`-th failure in a row: `firstMs` (RENEWAL_RETRY_SECONDS, an hour by
 * default), then twice that, four times … capped at 24 h, less up to 20 % jitter so that retries
 * of many certificates spread out, and a capped wait never misses the next daily run.
 */
export function renewalBackoffMs(attempts: number, firstMs: number, random: () => number = Math.random): number {
  const base = Math.min(DAY_MS, firstMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (1 - 0.2 * random()));
}

/** A reporter for one certificate's part of the job: its 0–100 maps onto `from`–`to`, its text is prefixed with the name. */
function shareOf(job: JobProgressReporter, from: number, to: number, name: string): JobProgressReporter {
  return {
    id: job.id,
    signal: job.signal,
    progress(percent, description, extra) {
      const scaled = percent === null || percent === undefined ? percent : from + ((to - from) * percent) / 100;
      job.progress(scaled, description === null || description === undefined ? description : `${name}: ${description}`, extra);
    },
  };
}
