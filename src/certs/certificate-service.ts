import { createPublicKey, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import type { EntityManager } from 'typeorm';
import { DnsAuthenticatorEntity } from '../acme/entities.js';
import { issueAcmeCertificate } from '../acme/issue.js';
import { revokeAcmeCertificate } from '../acme/revoke.js';
import type { CallContext } from '../api/call-context.js';
import type { App } from '../app.js';
import { createCsr, issueDescribedCertificate, parseCertificate, parseCsr, type Digest } from '../crypto/certificates.js';
import type { SubjectFields } from '../crypto/subject.js';
import { describeKeySpec, keySpecLabel, publicKeysEqual, type EcCurve, type KeySpec } from '../crypto/keys.js';
import { withChanges } from '../db/entity-events.js';
import { insertRow, selectRows } from '../db/row-statements.js';
import { CallError } from '../errors/call-error.js';
import { ValidationErrors } from '../errors/validation-errors.js';
import { getById, queryPages, runQuery } from '../query/sql-query.js';
import { entriesStream, entriesText, type JsonStream, type JsonText } from '../rpc/json-text.js';
import { caSigner, issuerLinks, regenerateCrl, takeSerial } from './authority.js';
import { certificateDetails, csrDetails, detailColumns, issuedCertificateDetails } from './details.js';
import {
  CERT_TYPE_CSR,
  CERT_TYPE_EXISTING,
  CERT_TYPE_INTERNAL,
  CertificateAuthorityEntity,
  CertificateEntity,
  type CertificateAuthorityRow,
  type CertificateRow,
  type StoredDetails,
} from './entities.js';
import type { Entry } from './entry.js';
import type { CertificateCreate, CertificateUpdate } from './schemas.js';
import { caRenewalProblem, renewableHere } from './internal-renewal.js';
import { inUseText, revokeInUseText, usesOf } from './usage.js';
import { deleteVersions } from './versions.js';
import { certificateSpec, entryContext, keyAccessOf, newCertificateEntry, openKey, sealKey, type KeyAccess } from './store.js';
import { checkName, rejectFields, rejectFieldsBut, requireFields, validateCommon, writingName, type LoadedMaterial } from './validation.js';

export const NAMESPACE = 'certificate';
const AUTO_RENEW_ONLY_SIGNED_HERE = 'Automatic renewal is only available for certificates signed by a certificate authority on this system; ACME certificates renew by renew_days';
/** renew_days when a certificate signed here opts in without one, as for ACME certificates. */
const DEFAULT_INTERNAL_RENEW_DAYS = 10;

/** Why renewing `renewDays` before expiry cannot work for a certificate valid `lifetimeDays`, or null. */
function renewDaysProblem(renewDays: number, lifetimeDays: number): string | null {
  return renewDays <= lifetimeDays
    ? null
    : `Renewing ${renewDays} day(s) before expiry needs a lifetime of at least ${renewDays} day(s); this one is ${lifetimeDays} day(s) (set a smaller renew_days)`;
}
const DAY_MS = 86_400_000;
export const DEFAULT_LIFETIME_DAYS = 397;

/**
 * Rows read at a time for a long list: a page's rows and entries (about 2.5 MB of text) mostly die
 * young, before the small young generation the daemon runs with promotes them to be collected late.
 */
const LIST_PAGE_ROWS = 100;

/** `certificate.query` for a caller (keys shown only as `keyAccessOf` allows: nested CA keys need CERTIFICATE_AUTHORITY_WRITE). */
export async function queryCertificates(ctx: CallContext, filters: unknown, options: unknown): Promise<JsonText | JsonStream> {
  const spec = certificateSpec(ctx.app, await entryContext(ctx.app, keyAccessOf(ctx.caller)));
  // A plain list is read and sent in pages, so that it is never held whole; other queries need every row at once.
  const pages = queryPages(spec, filters, options, LIST_PAGE_ROWS);
  return pages ? entriesStream(pages) : entriesText(await runQuery(spec, filters, options));
}

/** One certificate entry, or InstanceNotFound ("Certificate 7 does not exist"); `keys` as `keyAccessOf` the caller, or false for none. */
export async function getCertificate(app: App, id: number, keys: KeyAccess | false): Promise<Entry> {
  return getById(certificateSpec(app, await entryContext(app, keys)), id, `Certificate ${id} does not exist`);
}

/** A CA's columns but the CRL, which grows with every revocation and signing does not need. */
const SIGNING_COLUMNS = ['id', 'type', 'name', 'certificate', 'privatekey', 'CSR', 'signedby_id', 'revoked_date', 'revoked_reason', 'add_to_trusted_store', 'details', 'serial', 'not_after', 'created_at', 'next_serial', 'crl_number', 'crl_updated_at', 'crl_next_update'] as const;

/** A CA that can sign: it exists, holds a certificate and a key. */
async function signingCa(app: App, id: number | undefined): Promise<CertificateAuthorityRow | null> {
  if (id === undefined) return null;
  const [ca] = await selectRows(app.db.manager, CertificateAuthorityEntity, '"id" = ?', [id], SIGNING_COLUMNS);
  return ca?.certificate && ca.privatekey ? (ca as CertificateAuthorityRow) : null;
}

async function csrRow(app: App, id: number | undefined): Promise<CertificateRow | null> {
  if (id === undefined) return null;
  const row = await app.db.getRepository(CertificateEntity).findOneBy({ id });
  return row?.CSR ? row : null;
}

/** The key to generate for a create request: RSA of `key_length` bits, or EC on `ec_curve`. */
export function keySpecOf(data: { key_type: 'RSA' | 'EC'; key_length?: 2048 | 3072 | 4096 | 8192 | undefined; ec_curve: EcCurve }): KeySpec {
  return data.key_type === 'EC' ? { keyType: 'EC', curve: data.ec_curve } : { keyType: 'RSA', keyLength: data.key_length ?? 2048 };
}

/** What a new certificate row holds in the columns its insert does not set otherwise. */
const NEW_ROW_DEFAULTS = {
  revoked_date: null,
  revoked_reason: null,
  add_to_trusted_store: false,
  acme_uri: null,
  domains_authenticators: null,
  renew_days: null,
  acme_id: null,
  rotate_key: false,
  auto_renew: false,
  renewal_error: null,
  renewal_attempts: 0,
  renewal_next_attempt: null,
} satisfies Partial<CertificateRow>;

/** A new certificate row's columns: those without a default are required. */
type NewCertificate = Omit<CertificateRow, 'id' | keyof typeof NEW_ROW_DEFAULTS> & Partial<CertificateRow>;

/** Inserts a certificate row with every column given (an undefined one takes its default), so that the caller holds the row as stored. */
async function storeCertificate(manager: EntityManager, values: NewCertificate): Promise<CertificateRow> {
  const given = Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as NewCertificate;
  const row = { ...NEW_ROW_DEFAULTS, ...given };
  return { ...row, id: await insertRow(manager, CertificateEntity, row as never) };
}

/** The row fields every stored certificate or CSR has. */
function rowFields(details: StoredDetails) {
  return { ...detailColumns(details), created_at: new Date() };
}

/**
 * `certificate.create` (a job, as in TrueNAS): validates in TrueNAS's order and with its messages,
 * then creates the certificate or CSR of `create_type`, reporting TrueNAS's progress steps.
 */
export async function createCertificate(ctx: CallContext, data: CertificateCreate): Promise<Entry> {
  const { app } = ctx;
  const job = ctx.job!;
  const type = data.create_type;
  // TrueNAS drops the extensions and SANs of these types before validating them.
  const importing = type === 'CERTIFICATE_CREATE_IMPORTED' || type === 'CERTIFICATE_CREATE_IMPORTED_CSR' || type === 'CERTIFICATE_CREATE_ACME';
  const errors = new ValidationErrors();
  const signer = await signingCa(app, data.signedby);
  const csrSource = await csrRow(app, data.csr_id);
  const loaded = await validateCommon(
    { ...data, cert_extensions: importing ? undefined : data.cert_extensions, san: importing ? undefined : data.san },
    'certificate_create',
    {
      signedbyGiven: data.signedby !== undefined,
      signedbyValid: signer !== null,
      csrIdGiven: data.csr_id !== undefined,
      csrIdValid: csrSource !== null,
      generatesKey: type === 'CERTIFICATE_CREATE_INTERNAL' || type === 'CERTIFICATE_CREATE_CSR',
    },
    errors,
  );
  if (data.add_to_trusted_store && (type === 'CERTIFICATE_CREATE_CSR' || type === 'CERTIFICATE_CREATE_IMPORTED_CSR')) {
    errors.add('certificate_create.add_to_trusted_store', 'Cannot add CSR to trusted store');
  }
  // A second error on top of "Not a valid certificate", as TrueNAS reports both.
  if (type === 'CERTIFICATE_CREATE_IMPORTED' && data.certificate !== undefined && !loaded.certificatePem) {
    errors.add('certificate_create.certificate', 'Unable to parse certificate');
  }
  await checkName(app.db.getRepository(CertificateEntity) as never, data.name, 'certificate_create.name', errors);
  // certmid's own: automatic renewal here is for certificates a CA on this system signs; ACME ones renew by renew_days.
  if (data.auto_renew !== undefined && type !== 'CERTIFICATE_CREATE_INTERNAL') {
    errors.add('certificate_create.auto_renew', AUTO_RENEW_ONLY_SIGNED_HERE);
  }
  if (data.rotate_key !== undefined && type !== 'CERTIFICATE_CREATE_INTERNAL' && type !== 'CERTIFICATE_CREATE_ACME') {
    errors.add('certificate_create.rotate_key', 'Key rotation on renewal is only supported for ACME certificates and certificates signed by a CA on this system');
  }
  errors.check();
  job.progress(10, 'Initial validation complete');

  switch (type) {
    case 'CERTIFICATE_CREATE_INTERNAL':
      return createInternal(ctx, data, signer!, loaded);
    case 'CERTIFICATE_CREATE_CSR':
      return createSigningRequest(ctx, data, loaded);
    case 'CERTIFICATE_CREATE_IMPORTED':
      return importCertificate(ctx, data, loaded, csrSource);
    case 'CERTIFICATE_CREATE_IMPORTED_CSR':
      return importSigningRequest(ctx, data, loaded);
    case 'CERTIFICATE_CREATE_ACME':
      return createAcmeCertificate(ctx, data, csrSource);
  }
}

/** Stores a new certificate; TrueNAS reports "Finalizing changes" first for every type but ACME. */
async function insertCertificate(ctx: CallContext, values: NewCertificate, signedBy: number | null, finalizing = true): Promise<Entry> {
  const { app } = ctx;
  const job = ctx.job!;
  if (finalizing) job.progress(90, 'Finalizing changes');
  const row = await writingName('certificate_create.name', () =>
    withChanges(app, async (manager, changes) => {
      // A job aborted meanwhile ends ABORTED, and an aborted create leaves no row.
      job.signal.throwIfAborted();
      const stored = await storeCertificate(manager, values);
      // The row and the job's success commit together: a row exists only if its job says SUCCESS.
      await job.commitEffect(manager);
      changes.added(NAMESPACE, stored.id);
      if (signedBy !== null) changes.signedChanged('certificateauthority', signedBy);
      return stored;
    }),
  );
  job.progress(100, 'Certificate created successfully');
  return newCertificateEntry(app, row, keyAccessOf(ctx.caller));
}

/** The subject fields of a create request, absent ones as null. */
export function subjectOf(data: SubjectFields): Required<{ [K in keyof SubjectFields]: string | null }> {
  return {
    common: data.common ?? null,
    country: data.country ?? null,
    state: data.state ?? null,
    city: data.city ?? null,
    organization: data.organization ?? null,
    organizational_unit: data.organizational_unit ?? null,
    email: data.email ?? null,
  };
}

/** Fields a key-generating type requires, in `certificate_create`'s field order (TrueNAS reports them so). */
const SUBJECT_FIELDS = ['city', 'country', 'email', 'organization', 'state'] as const;

/** What TrueNAS drops from imports before their per-type schema sees the data. */
const DROPPED_ON_IMPORT = ['create_type', 'key_length', 'key_type', 'ec_curve', 'cert_extensions', 'san', 'add_to_trusted_store'] as const;

/** TrueNAS drops `dns_mapping` only when empty (its default); a filled one reaches the per-type schema. */
function withoutEmptyMapping(data: CertificateCreate): Record<string, unknown> {
  return Object.keys(data.dns_mapping).length === 0 ? { ...data, dns_mapping: undefined } : data;
}

/**
 * Generates the key with a message that says so (an RSA-8192 key can take a minute, with no
 * percentage to report meanwhile), sealed for storing where it is made, off the event loop.
 */
function generateSealedWithProgress(ctx: CallContext, spec: KeySpec): Promise<{ key: KeyObject; sealed: string }> {
  ctx.job!.progress(20, `Generating ${keySpecLabel(spec)} key…`);
  return ctx.app.secrets.generateSealedKey(spec, ctx.job!.signal);
}

async function createInternal(ctx: CallContext, data: CertificateCreate, ca: CertificateAuthorityRow, loaded: LoadedMaterial): Promise<Entry> {
  const { app } = ctx;
  const perType = new ValidationErrors();
  requireFields(data, ['signedby', 'lifetime', ...SUBJECT_FIELDS], 'certificate_create_internal', perType);
  perType.check();
  // The generator's own schema (certificate_cert_info) only runs once the per-type one passed.
  const errors = new ValidationErrors();
  if (data.san.length === 0) errors.add('certificate_cert_info.san', 'Empty value not allowed');
  if (ca.revoked_date) errors.add('certificate_create.signedby', 'The signing certificate authority has been revoked');
  if (ca.not_after && ca.not_after.getTime() < Date.now()) errors.add('certificate_create.signedby', 'The signing certificate authority has expired');
  const renewDays = data.renew_days ?? (data.auto_renew ? DEFAULT_INTERNAL_RENEW_DAYS : null);
  const renewProblem = data.auto_renew && renewDays !== null ? renewDaysProblem(renewDays, data.lifetime!) : null;
  if (renewProblem) errors.add('certificate_create.renew_days', renewProblem);
  errors.check();
  const keySpec = keySpecOf(data);
  const { key, sealed } = await generateSealedWithProgress(ctx, keySpec);
  ctx.job!.progress(60, `Signing with ${ca.name}`);
  const now = new Date();
  const row = await writingName('certificate_create.name', () =>
    withChanges(app, async (manager, changes) => {
      const serial = await takeSerial(manager, ca.id);
      const signer = caSigner(app, ca);
      const issued = await issueDescribedCertificate({
        subject: subjectOf(data),
        san: loaded.san,
        // The private key stands for its public half: its SPKI came with it from where it was made.
        publicKey: key,
        signer,
        serial,
        notBefore: now,
        notAfter: new Date(now.getTime() + data.lifetime! * DAY_MS),
        digest: (data.digest_algorithm ?? 'SHA256') as Digest,
        extensions: data.cert_extensions,
        ...issuerLinks(app, ca.id),
      });
      ctx.job!.progress(90, 'Finalizing changes');
      // A job aborted meanwhile ends ABORTED, and an aborted create leaves no row.
      ctx.job!.signal.throwIfAborted();
      // Known from what was just built: reading the new certificate back would give the same.
      const details = issuedCertificateDetails(issued, describeKeySpec(keySpec));
      const stored = await storeCertificate(manager, {
        type: CERT_TYPE_INTERNAL,
        name: data.name,
        certificate: issued.pem,
        privatekey: sealed,
        CSR: null,
        signedby_id: ca.id,
        add_to_trusted_store: data.add_to_trusted_store,
        auto_renew: data.auto_renew ?? false,
        renew_days: renewDays,
        // A new key at each renewal unless asked to keep it.
        rotate_key: data.rotate_key ?? true,
        ...rowFields(details),
      });
      await ctx.job!.commitEffect(manager);
      changes.added(NAMESPACE, stored.id);
      changes.signedChanged('certificateauthority', ca.id);
      return stored;
    }),
  );
  ctx.job!.progress(100, 'Certificate created successfully');
  return newCertificateEntry(app, row, keyAccessOf(ctx.caller));
}

async function createSigningRequest(ctx: CallContext, data: CertificateCreate, loaded: LoadedMaterial): Promise<Entry> {
  const perType = new ValidationErrors();
  rejectFields(data, ['lifetime', 'signedby'], 'certificate_create_csr', perType);
  requireFields(data, SUBJECT_FIELDS, 'certificate_create_csr', perType);
  perType.check();
  // create_csr's own check, reached only once its schema accepted the data.
  if (data.cert_extensions.AuthorityKeyIdentifier.enabled) {
    new ValidationErrors().add('cert_extensions.AuthorityKeyIdentifier.enabled', 'This extension is not valid for CSR').check();
  }
  const { key, sealed } = await generateSealedWithProgress(ctx, keySpecOf(data));
  ctx.job!.progress(60, 'Making the signing request');
  const csr = await createCsr({
    subject: subjectOf(data),
    san: loaded.san,
    privateKey: key,
    digest: (data.digest_algorithm ?? 'SHA256') as Digest,
    extensions: data.cert_extensions,
  });
  ctx.job!.progress(80);
  return insertCertificate(
    ctx,
    { type: CERT_TYPE_CSR, name: data.name, certificate: null, CSR: csr, privatekey: sealed, signedby_id: null, ...rowFields(csrDetails(csr, key)) },
    null,
  );
}

async function importCertificate(ctx: CallContext, data: CertificateCreate, loaded: LoadedMaterial, csrSource: CertificateRow | null): Promise<Entry> {
  const { app } = ctx;
  const perType = new ValidationErrors();
  rejectFieldsBut(withoutEmptyMapping(data), ['csr_id', 'certificate', 'name', 'passphrase', 'privatekey', 'pkcs12'], DROPPED_ON_IMPORT, 'certificate_create_imported', perType);
  if (!loaded.certificatePem) requireFields(data, ['certificate'], 'certificate_create_imported', perType);
  perType.check();
  const errors = new ValidationErrors();
  let key: KeyObject | null = loaded.privateKey;
  if (csrSource) {
    key = openKey(app, csrSource);
    const certificateKey = loaded.certificatePem ? certificateDetailsKey(loaded.certificatePem) : null;
    if (key && certificateKey && !publicKeysEqual(certificateKey, createPublicKey(key))) {
      errors.add('certificate_create.certificate', 'The certificate was not issued for the private key of the selected CSR');
    }
  } else if (!key) {
    errors.add('certificate_create.privatekey', 'Private key is required when importing a certificate');
  }
  errors.check();
  ctx.job!.progress(50, 'Validation complete');
  const certificate = loaded.certificatePem!;
  return insertCertificate(
    ctx,
    {
      type: CERT_TYPE_EXISTING,
      name: data.name,
      certificate,
      CSR: csrSource?.CSR ?? null,
      privatekey: key ? sealKey(app, key) : null,
      signedby_id: null,
      add_to_trusted_store: data.add_to_trusted_store,
      ...rowFields(certificateDetails(certificate, key)),
    },
    null,
  );
}

function certificateDetailsKey(pem: string): KeyObject | null {
  try {
    return parseCertificate(pem).public_key;
  } catch {
    return null;
  }
}

async function importSigningRequest(ctx: CallContext, data: CertificateCreate, loaded: LoadedMaterial): Promise<Entry> {
  const perType = new ValidationErrors();
  rejectFieldsBut(withoutEmptyMapping(data), ['CSR', 'name', 'privatekey', 'passphrase'], DROPPED_ON_IMPORT, 'create_imported_csr', perType);
  requireFields(data, ['CSR', 'privatekey'], 'create_imported_csr', perType);
  perType.check();
  const errors = new ValidationErrors();
  if (loaded.csrPem && loaded.privateKey && !publicKeysEqual(parseCsr(loaded.csrPem).public_key, createPublicKey(loaded.privateKey))) {
    errors.add('certificate_create.privatekey', 'Private key does not match the CSR');
  }
  errors.check();
  ctx.job!.progress(80);
  const csr = loaded.csrPem!;
  return insertCertificate(
    ctx,
    { type: CERT_TYPE_CSR, name: data.name, certificate: null, CSR: csr, privatekey: sealKey(ctx.app, loaded.privateKey!), signedby_id: null, ...rowFields(csrDetails(csr, loaded.privateKey)) },
    null,
  );
}

/** What `acme_create` takes; certmid adds External Account Binding for a first registration. */
const ACME_CREATE_FIELDS = ['tos', 'csr_id', 'renew_days', 'acme_directory_uri', 'name', 'dns_mapping', 'eab_kid', 'eab_hmac_key', 'rotate_key'] as const;
const DEFAULT_RENEW_DAYS = 10;

/** "DNS:x" or "IP:x" rather than a bare name; an IPv6 address is bare despite its colons. */
const isPrefixed = (key: string): boolean => key.includes(':') && !isIP(key);

/** The other form of a `dns_mapping` key: "DNS:x" → "x", "x" → "DNS:x" or "IP:x" (TrueNAS's `normalize_san`). */
const otherForm = (key: string): string => (isPrefixed(key) ? key.slice(key.indexOf(':') + 1) : `${isIP(key) ? 'IP' : 'DNS'}:${key}`);

/**
 * TrueNAS's `dns_mapping` checks (§4.2 step 3, all at `acme_create.dns_mapping`): every name of the
 * CSR (its CN and each SAN) mapped to an existing authenticator, no trailing period, wildcards only
 * as a leading "*.", and no key the CSR does not name. Keys may be bare or "DNS:"-prefixed; unlike
 * TrueNAS, a bare SAN such as "*.example.com" counts as naming "DNS:*.example.com".
 */
async function checkDnsMapping(app: App, mapping: Record<string, unknown>, csr: CertificateRow): Promise<void> {
  const domains = [...(csr.details.common ? [csr.details.common] : []), ...csr.details.san];
  const covered = new Map(Object.entries(mapping));
  for (const [key, id] of Object.entries(mapping)) if (!covered.has(otherForm(key))) covered.set(otherForm(key), id);
  const authenticatorIds = new Set((await app.db.getRepository(DnsAuthenticatorEntity).find({ select: { id: true } })).map((row) => row.id));
  const errors = new ValidationErrors();
  const attribute = 'acme_create.dns_mapping';
  for (const domain of domains) {
    const id = covered.get(domain);
    if (id === undefined) errors.add(attribute, `Please provide DNS authenticator id for ${domain}`);
    else if (typeof id !== 'number' || !authenticatorIds.has(id)) errors.add(attribute, `Provided DNS Authenticator id for ${domain} does not exist`);
    if (domain.endsWith('.')) errors.add(attribute, `Domain ${domain} name cannot end with a period`);
    if (domain.includes('*') && !domain.slice(domain.indexOf(':') + 1).startsWith('*.')) {
      errors.add(attribute, 'Wildcards must be at the start of domain name followed by a period');
    }
  }
  for (const key of Object.keys(mapping)) {
    if (!domains.includes(key) && !domains.includes(otherForm(key))) errors.add(attribute, `${key} not specified in the CSR`);
  }
  errors.check();
}

/**
 * CERTIFICATE_CREATE_ACME (§1.1.1, §4.2): issues a certificate for the names of a CSR on this
 * system through DNS-01 and stores it with the CSR's key, type 0x08.
 */
async function createAcmeCertificate(ctx: CallContext, data: CertificateCreate, csr: CertificateRow | null): Promise<Entry> {
  const { app } = ctx;
  const job = ctx.job!;
  const perType = new ValidationErrors();
  const given = withoutEmptyMapping(data);
  rejectFieldsBut(given, ACME_CREATE_FIELDS, DROPPED_ON_IMPORT, 'acme_create', perType);
  requireFields(given, ['csr_id', 'acme_directory_uri', 'dns_mapping'], 'acme_create', perType);
  perType.check();
  // The common checks (a csr_id naming a row with a CSR) and the required csr_id leave a CSR here.
  const source = csr!;
  if (!source.privatekey) new ValidationErrors().add('acme_create.csr_id', 'The CSR has no private key on this system').check();
  await checkDnsMapping(app, data.dns_mapping, source);
  const eab = data.eab_kid !== undefined && data.eab_hmac_key !== undefined ? { kid: data.eab_kid, hmacKey: data.eab_hmac_key } : undefined;
  const issued = await issueAcmeCertificate(
    app,
    { csrPem: source.CSR!, directoryUri: data.acme_directory_uri!, tos: data.tos ?? false, dnsMapping: data.dns_mapping as Record<string, number>, eab },
    job,
  );
  job.progress(95, 'Final order received from ACME server');
  const row: NewCertificate = {
    type: CERT_TYPE_EXISTING,
    name: data.name,
    certificate: issued.fullchainPem,
    CSR: source.CSR,
    privatekey: source.privatekey,
    signedby_id: null,
    acme_id: issued.registrationId,
    acme_uri: issued.orderUri,
    domains_authenticators: app.secrets.encrypt(JSON.stringify(data.dns_mapping)),
    renew_days: data.renew_days ?? DEFAULT_RENEW_DAYS,
    rotate_key: data.rotate_key ?? false,
    add_to_trusted_store: data.add_to_trusted_store,
    ...rowFields(certificateDetails(issued.fullchainPem, openKey(app, source))),
  };
  return insertCertificate(ctx, row, null, false);
}

/**
 * Why a `revoked_reason` (a certmid addition; TrueNAS has none) cannot be taken, or null. It is
 * recorded when the same call revokes (`revoked: true`); a revoked row's reason stays as it was
 * revoked (its CRL entry says so), so repeating that reason is fine and another one is refused.
 * Without this, a reason sent alone was accepted and silently dropped.
 */
export function revocationReasonProblem(
  data: { revoked?: boolean | undefined; revoked_reason?: string | undefined },
  row: { revoked_date: Date | null; revoked_reason: string | null },
  what: 'certificate' | 'certificate authority',
): string | null {
  if (data.revoked_reason === undefined) return null;
  if (row.revoked_date === null) return data.revoked === true ? null : `A revocation reason can only be given when revoking the ${what} ("revoked": true)`;
  if (data.revoked_reason === row.revoked_reason) return null;
  return `The ${what} is already revoked (reason ${row.revoked_reason ?? 'not given'}); its revocation reason cannot be changed`;
}

/**
 * `certificate.update`: rename, revoke (irreversible; re-signs the issuer's CRL),
 * trusted-store flag, ACME renew days and key rotation — with TrueNAS's checks and messages.
 */
export async function updateCertificate(ctx: CallContext, id: number, data: CertificateUpdate): Promise<Entry> {
  const { app } = ctx;
  const repository = app.db.getRepository(CertificateEntity);
  await getCertificate(app, id, false);
  const old = (await repository.findOneBy({ id }))!;
  const isCsr = (old.type & CERT_TYPE_CSR) !== 0;
  const errors = new ValidationErrors();
  if (data.name !== undefined && data.name !== old.name) await checkName(repository as never, data.name, 'certificate_update.name', errors, id);
  // The 1..30 range is the schema's (certificate_update.renew_days), checked before this. Beyond
  // TrueNAS, certificates signed by a CA on this system renew too.
  const signedHere = renewableHere(old);
  if (data.renew_days !== undefined && old.acme_id === null && !signedHere) {
    errors.add('certificate_update.renew_days', 'Certificate renewal days is only supported for ACME certificates');
  }
  if (data.rotate_key !== undefined && old.acme_id === null && !signedHere) {
    errors.add('certificate_update.rotate_key', 'Key rotation on renewal is only supported for ACME certificates and certificates signed by a CA on this system');
  }
  if (data.auto_renew !== undefined && !signedHere) errors.add('certificate_update.auto_renew', AUTO_RENEW_ONLY_SIGNED_HERE);
  if (data.auto_renew && signedHere) await checkCanAutoRenew(app, old, errors);
  const renewDaysAfter = data.renew_days ?? old.renew_days ?? DEFAULT_INTERNAL_RENEW_DAYS;
  if (signedHere && (data.auto_renew ?? old.auto_renew) && (data.renew_days !== undefined || data.auto_renew)) {
    const problem = renewDaysProblem(renewDaysAfter, old.details.lifetime ?? 0);
    if (problem) errors.add('certificate_update.renew_days', problem);
  }
  if (data.revoked && isCsr) errors.add('certificate_update.revoked', 'A CSR cannot be marked as revoked.');
  if (data.add_to_trusted_store && isCsr) errors.add('certificate_update.add_to_trusted_store', "A CSR cannot be added to the system's trusted store");
  const wasRevoked = old.revoked_date !== null;
  // A CSR gets this one too: it has no signing CA, so it "cannot be revoked" either. ACME
  // certificates are revoked at their CA, a certmid addition (TrueNAS revokes them only on delete).
  if (data.revoked === true && !wasRevoked && old.signedby_id === null && old.acme_id === null) {
    errors.add('certificate_update.revoked', 'Only certificate(s) can be revoked which have a CA present on the system');
  } else if (data.revoked === false && wasRevoked) {
    errors.add('certificate_update.revoked', 'Certificate has already been revoked and this cannot be reversed');
  }
  const revokedAfter = data.revoked ?? wasRevoked;
  if (errors.isEmpty && revokedAfter && (data.add_to_trusted_store ?? old.add_to_trusted_store)) {
    errors.add('certificate_update.add_to_trusted_store', "Revoked certificates cannot be added to system's trusted store");
  }
  // certmid's own check, after TrueNAS's (it does not hold them back).
  const reasonProblem = revocationReasonProblem(data, old, 'certificate');
  if (reasonProblem) errors.add('certificate_update.revoked_reason', reasonProblem);
  const newlyRevoked = data.revoked === true && !wasRevoked;
  // certmid's too: a service presenting a revoked certificate fails its clients.
  if (newlyRevoked) await refuseRevokingInUse(app, id, errors);
  errors.check();
  if (newlyRevoked && old.acme_id !== null) await revokeAcmeCertificate(app, old, data.revoked_reason, ctx.job!.signal);
  await writingName('certificate_update.name', () =>
    withChanges(app, async (manager, changes) => {
      // Again where it counts: a service may have taken it up since.
      if (newlyRevoked) await refuseRevokingInUse(app, id, new ValidationErrors(), manager).then((late) => late.check());
      const patch: Partial<CertificateRow> = {};
      if (data.name !== undefined) patch.name = data.name;
      if (data.add_to_trusted_store !== undefined) patch.add_to_trusted_store = data.add_to_trusted_store;
      if (data.renew_days !== undefined) patch.renew_days = data.renew_days;
      if (data.rotate_key !== undefined) patch.rotate_key = data.rotate_key;
      if (data.auto_renew !== undefined) patch.auto_renew = data.auto_renew;
      if (data.auto_renew && data.renew_days === undefined && old.renew_days === null) patch.renew_days = DEFAULT_INTERNAL_RENEW_DAYS;
      // Opting out ends the retries of a failed renewal.
      if (data.auto_renew === false && old.acme_id === null) Object.assign(patch, { renewal_error: null, renewal_attempts: 0, renewal_next_attempt: null });
      if (newlyRevoked) Object.assign(patch, { revoked_date: new Date(), revoked_reason: data.revoked_reason ?? null });
      if (Object.keys(patch).length > 0) await manager.getRepository(CertificateEntity).update({ id }, patch as never);
      if (newlyRevoked && old.signedby_id !== null) {
        await regenerateCrl(app, old.signedby_id, manager);
        changes.changed('certificateauthority', old.signedby_id);
      }
      await ctx.job!.commitEffect(manager);
      changes.changed(NAMESPACE, id);
    }),
  );
  ctx.job!.progress(90, 'Finalizing changes');
  return getCertificate(app, id, keyAccessOf(ctx.caller));
}

/**
 * A certificate signed here can opt in only while its CA could sign a renewal: the CA exists with
 * its key here, is neither revoked nor expired. (One that will not cover a full lifetime is
 * accepted: that shows as the renewal's error, when renewal comes.)
 */
async function checkCanAutoRenew(app: App, row: CertificateRow, errors: ValidationErrors): Promise<void> {
  if (row.revoked_date) {
    errors.add('certificate_update.auto_renew', 'A revoked certificate cannot be renewed');
    return;
  }
  const ca = await app.db.getRepository(CertificateAuthorityEntity).findOneBy({ id: row.signedby_id! });
  const problem = caRenewalProblem(ca, 0, new Date());
  if (problem) errors.add('certificate_update.auto_renew', problem);
}

/** Adds the refusal to revoke a certificate something uses (the UI, a deploy target) to `errors`. */
async function refuseRevokingInUse(app: App, id: number, errors: ValidationErrors, manager?: EntityManager): Promise<ValidationErrors> {
  const uses = await usesOf(app, id, manager);
  if (uses.length > 0) errors.add('certificate_update.revoked', revokeInUseText(uses));
  return errors;
}

/**
 * `certificate.delete`, refused while a service uses the certificate. An ACME certificate that has
 * not expired is revoked at its CA first; with `force` a failed revocation does not stop the delete.
 * One already revoked (through `certificate.update`) is not revoked again.
 */
export async function deleteCertificate(ctx: CallContext, id: number, force: boolean): Promise<true> {
  const { app } = ctx;
  await getCertificate(app, id, false);
  await refuseDeletingInUse(app, id);
  const row = (await app.db.getRepository(CertificateEntity).findOneBy({ id }))!;
  const expired = row.not_after !== null && row.not_after.getTime() < Date.now();
  if (row.acme_id !== null && row.revoked_date === null && !expired) await revokeBeforeDelete(ctx, row, force);
  await withChanges(app, async (manager, changes) => {
    await refuseDeletingInUse(app, id, manager);
    await manager.getRepository(CertificateEntity).delete({ id });
    await deleteVersions(manager, id);
    await ctx.job!.commitEffect(manager);
    changes.removed(NAMESPACE, id);
    if (row.signedby_id !== null) changes.signedChanged('certificateauthority', row.signedby_id);
  });
  ctx.job!.progress(100);
  return true;
}

/** TrueNAS's `check_cert_deps`: EFAULT naming each service that uses the certificate. */
async function refuseDeletingInUse(app: App, id: number, manager?: EntityManager): Promise<void> {
  const uses = await usesOf(app, id, manager);
  if (uses.length > 0) throw new CallError(inUseText(uses));
}

/** TrueNAS re-raises "Failed to revoke certificate: …" unless `force`. */
async function revokeBeforeDelete(ctx: CallContext, row: CertificateRow, force: boolean): Promise<void> {
  try {
    await revokeAcmeCertificate(ctx.app, row, 'UNSPECIFIED', ctx.job!.signal);
  } catch (error) {
    if (!force || !(error instanceof CallError)) throw error;
    ctx.app.logger.warn({ certificate: row.id, error: error.message }, 'deleting an ACME certificate whose revocation failed (force)');
  }
}
