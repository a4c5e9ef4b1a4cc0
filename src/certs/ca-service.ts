import { createPublicKey, randomInt } from 'node:crypto';
import type { CallContext } from '../api/call-context.js';
import type { App } from '../app.js';
import { issueCertificate, parseCertificate, parseCsr, type Digest } from '../crypto/certificates.js';
import { generatePrivateKey } from '../crypto/keys.js';
import { parseSan } from '../crypto/san.js';
import { withChanges } from '../db/entity-events.js';
import { transaction } from '../db/transaction.js';
import { CallError } from '../errors/call-error.js';
import { ValidationErrors } from '../errors/validation-errors.js';
import { getInstance, runQuery } from '../query/sql-query.js';
import { entriesText, type JsonText } from '../rpc/json-text.js';
import { caSigner, issuerLinks, regenerateCrl, revokeCaSubtree, takeSerial } from './authority.js';
import { DEFAULT_LIFETIME_DAYS, getCertificate, keySpecOf, revocationReasonProblem, subjectOf } from './certificate-service.js';
import { certificateDetails, detailColumns } from './details.js';
import {
  CA_TYPE_EXISTING,
  CA_TYPE_INTERMEDIATE,
  CA_TYPE_INTERNAL,
  CERT_TYPE_CSR,
  CERT_TYPE_INTERNAL,
  CertificateAuthorityEntity,
  CertificateEntity,
  type CertificateAuthorityRow,
} from './entities.js';
import { caSubtree, type Entry } from './entry.js';
import { CertExtensions, type CaCreate, type CaSignCsr, type CaUpdate } from './schemas.js';
import { caSpec, entryContext, keyAccessOf, openKey, sealKey, type KeyAccess } from './store.js';
import { checkCaExtensions, checkName, rejectFields, requireFields, validateCommon, writingName } from './validation.js';
import { certificateUses } from './usage.js';

export const CA_NAMESPACE = 'certificateauthority';
const DAY_MS = 86_400_000;

export async function queryCas(ctx: CallContext, filters: unknown, options: unknown): Promise<JsonText> {
  const entries = await entryContext(ctx.app, keyAccessOf(ctx.caller), undefined, 'authority');
  return entriesText(await runQuery(caSpec(ctx.app, entries), filters, options));
}

/** TrueNAS names the service by its class ("CertificateAuthority 7 does not exist"). */
const caNotFound = (id: number) => `CertificateAuthority ${id} does not exist`;

/** One CA entry; `keys` as `keyAccessOf` the caller, or false for none. */
export async function getCa(app: App, id: number, keys: KeyAccess | false): Promise<Entry> {
  return getInstance(caSpec(app, await entryContext(app, keys, undefined, 'authority')), id, caNotFound(id));
}

/** Inserts a CA row, gives it a first CRL and announces it, all after one commit. */
async function insertCa(app: App, row: Omit<Partial<CertificateAuthorityRow>, 'details'> & { certificate: string }, key: ReturnType<typeof openKey>): Promise<number> {
  const details = certificateDetails(row.certificate, key);
  return writingName('certificate_authority_create.name', () =>
    withChanges(app, async (manager, changes) => {
      const result = await manager.getRepository(CertificateAuthorityEntity).insert({
        ...row,
        ...detailColumns(details),
        // Serials this CA hands out start above its own, as TrueNAS's allocation does.
        next_serial: Number(BigInt(details.serial ?? '0') % 1_000_000_000n) + 1,
        crl_number: 0,
        created_at: new Date(),
      } as never);
      const id = Number(result.identifiers[0]!.id);
      await regenerateCrl(app, id, manager);
      changes.added(CA_NAMESPACE, id);
      if (row.signedby_id) changes.changed(CA_NAMESPACE, row.signedby_id);
      return id;
    }),
  );
}

/** `certificateauthority.create` (not a job in TrueNAS): internal root, intermediate, or imported. */
export async function createCa(ctx: CallContext, data: CaCreate): Promise<Entry> {
  const { app } = ctx;
  const type = data.create_type;
  const errors = new ValidationErrors();
  const cas = app.db.getRepository(CertificateAuthorityEntity);
  const signer = data.signedby === undefined ? null : await cas.findOneBy({ id: data.signedby });
  const loaded = await validateCommon(
    data,
    'certificate_authority_create',
    {
      signedbyGiven: data.signedby !== undefined,
      signedbyValid: Boolean(signer?.certificate && signer.privatekey),
      csrIdGiven: false,
      generatesKey: type !== 'CA_CREATE_IMPORTED',
    },
    errors,
  );
  checkCaExtensions(data.cert_extensions, 'certificate_authority_create', errors);
  // A second error on top of "Not a valid certificate", as TrueNAS reports both.
  if (type === 'CA_CREATE_IMPORTED' && data.certificate !== undefined && !loaded.certificatePem) {
    errors.add('certificate_authority_create.certificate', 'Unable to parse certificate');
  }
  await checkName(cas as never, data.name, 'certificate_authority_create.name', errors);
  errors.check();

  if (type === 'CA_CREATE_IMPORTED') {
    const perType = new ValidationErrors();
    if (!loaded.certificatePem) requireFields(data, ['certificate'], 'ca_create_imported', perType);
    else if (!parseCertificate(loaded.certificatePem).is_ca) perType.add('ca_create_imported.certificate', 'The certificate is not a certificate authority (BasicConstraints CA:TRUE missing)');
    perType.check();
    const id = await insertCa(
      app,
      { type: CA_TYPE_EXISTING, name: data.name, certificate: loaded.certificatePem!, privatekey: loaded.privateKey ? sealKey(app, loaded.privateKey) : null, CSR: null, signedby_id: null, add_to_trusted_store: data.add_to_trusted_store },
      loaded.privateKey,
    );
    return getCa(app, id, keyAccessOf(ctx.caller));
  }

  const schema = type === 'CA_CREATE_INTERNAL' ? 'ca_create_internal' : 'ca_create_intermediate';
  // Required fields in `ca_create`'s field order, which is how TrueNAS reports them.
  const perType = new ValidationErrors();
  requireFields(data, [...(type === 'CA_CREATE_INTERMEDIATE' ? ['signedby'] : []), 'lifetime', 'city', 'country', 'email', 'organization', 'state'], schema, perType);
  perType.check();
  // The generator's own schema (certificate_cert_info) and certmid's signer checks come after.
  const generatorErrors = new ValidationErrors();
  if (data.san.length === 0) generatorErrors.add('certificate_cert_info.san', 'Empty value not allowed');
  if (signer?.revoked_date) generatorErrors.add('certificate_authority_create.signedby', 'The signing certificate authority has been revoked');
  const parentPathLength = signer?.details.extensions.BasicConstraints?.match(/pathlen:(\d+)/)?.[1];
  if (parentPathLength === '0') generatorErrors.add('certificate_authority_create.signedby', 'The signing certificate authority may not sign other certificate authorities (path length 0)');
  generatorErrors.check();

  const key = await generatePrivateKey(keySpecOf(data));
  const now = new Date();
  const request = {
    subject: subjectOf(data),
    san: loaded.san,
    publicKey: createPublicKey(key),
    notBefore: now,
    notAfter: new Date(now.getTime() + data.lifetime! * DAY_MS),
    digest: (data.digest_algorithm ?? 'SHA256') as Digest,
    extensions: data.cert_extensions,
  };
  let certificate: string;
  if (type === 'CA_CREATE_INTERNAL') {
    certificate = await issueCertificate({ ...request, signer: { privateKey: key, certificatePem: null }, serial: BigInt(randomInt(1, 2 ** 24)) });
  } else {
    const parent = signer!;
    certificate = await transaction(app.db, async (manager) =>
      issueCertificate({
        ...request,
        signer: caSigner(app, parent),
        serial: await takeSerial(manager, parent.id),
        ...issuerLinks(app, parent.id),
      }),
    );
  }
  const id = await insertCa(
    app,
    {
      type: type === 'CA_CREATE_INTERNAL' ? CA_TYPE_INTERNAL : CA_TYPE_INTERMEDIATE,
      name: data.name,
      certificate,
      privatekey: sealKey(app, key),
      CSR: null,
      signedby_id: type === 'CA_CREATE_INTERMEDIATE' ? data.signedby! : null,
      add_to_trusted_store: data.add_to_trusted_store,
    },
    key,
  );
  return getCa(app, id, keyAccessOf(ctx.caller));
}

/**
 * The legacy CA_SIGN_CSR update as TrueNAS runs it: the CA being updated signs, and the rest of
 * the data must fit the `ca_sign_csr` schema (no revocation fields, csr_cert_id and name required).
 */
function legacySignRequest(id: number, data: CaUpdate): CaSignCsr {
  const errors = new ValidationErrors();
  rejectFields(data, ['revoked', 'revoked_reason', 'add_to_trusted_store'], 'ca_sign_csr', errors);
  requireFields(data, ['csr_cert_id', 'name'], 'ca_sign_csr', errors);
  errors.check();
  return { ca_id: id, csr_cert_id: data.csr_cert_id!, name: data.name!, cert_extensions: data.cert_extensions ?? CertExtensions.parse({}) };
}

/** `certificateauthority.update`: rename, revoke the whole subtree, trusted-store flag, or the legacy CA_SIGN_CSR path. */
export async function updateCa(ctx: CallContext, id: number, data: CaUpdate): Promise<Entry> {
  const { app } = ctx;
  if (data.create_type === 'CA_SIGN_CSR') return signCsr(ctx, legacySignRequest(id, data), 'certificate_authority_update');
  await getCa(app, id, false);
  const cas = app.db.getRepository(CertificateAuthorityEntity);
  const old = (await cas.findOneBy({ id }))!;
  const errors = new ValidationErrors();
  if (data.name !== undefined && data.name !== old.name) await checkName(cas as never, data.name, 'certificate_authority_update.name', errors, id);
  const wasRevoked = old.revoked_date !== null;
  if (data.revoked === true && !wasRevoked && old.privatekey === null) {
    errors.add('certificate_authority_update.revoked', 'Only Certificate Authorities with a privatekey can be marked as revoked.');
  } else if (data.revoked === false && wasRevoked) {
    errors.add('certificate_authority_update.revoked', 'Certificate Authority has already been revoked and this cannot be reversed');
  }
  if (errors.isEmpty && (data.revoked ?? wasRevoked) && (data.add_to_trusted_store ?? old.add_to_trusted_store)) {
    errors.add('certificate_authority_update.add_to_trusted_store', "Revoked certificates cannot be added to system's trusted store");
  }
  // certmid's own check, after TrueNAS's (it does not hold them back).
  const reasonProblem = revocationReasonProblem(data, old, 'certificate authority');
  if (reasonProblem) errors.add('certificate_authority_update.revoked_reason', reasonProblem);
  if (data.revoked === true && !wasRevoked) await refuseRevokingUsedBelow(app, id, errors);
  errors.check();
  await writingName('certificate_authority_update.name', () =>
    withChanges(app, async (manager, changes) => {
      const patch: Partial<CertificateAuthorityRow> = {};
      if (data.name !== undefined) patch.name = data.name;
      if (data.add_to_trusted_store !== undefined) patch.add_to_trusted_store = data.add_to_trusted_store;
      if (Object.keys(patch).length > 0) await manager.getRepository(CertificateAuthorityEntity).update({ id }, patch as never);
      changes.changed(CA_NAMESPACE, id);
    }),
  );
  if (data.revoked === true && !wasRevoked) await revokeCaSubtree(app, id, data.revoked_reason ?? null);
  return getCa(app, id, keyAccessOf(ctx.caller));
}

/**
 * certmid's own check: revoking a CA revokes every certificate below it, so not while a service
 * (the UI, a deploy target) uses one of them.
 */
async function refuseRevokingUsedBelow(app: App, caId: number, errors: ValidationErrors): Promise<void> {
  const uses = await certificateUses(app);
  if (uses.size === 0) return;
  const cas = new Map((await app.db.getRepository(CertificateAuthorityEntity).find()).map((row): [number, CertificateAuthorityRow] => [row.id, row]));
  const subtree = new Set(caSubtree(caId, cas));
  const used = await app.db.getRepository(CertificateEntity).find({ where: [...uses.keys()].map((id) => ({ id })), select: { id: true, name: true, signedby_id: true } });
  for (const certificate of used.filter((row) => row.signedby_id !== null && subtree.has(row.signedby_id))) {
    const names = uses.get(certificate.id)!.map((use) => use.name).join(', ');
    errors.add('certificate_authority_update.revoked', `Certificate '${certificate.name}' below this certificate authority is being used by ${names} and cannot be revoked`);
  }
}

/** Entries a refused CA deletion names in its reason; `extra.dependencies` lists them all. */
const MAX_NAMED = 10;

/** `certificateauthority.delete`: refused with EBUSY while anything it signed exists. */
export async function deleteCa(ctx: CallContext, id: number): Promise<true> {
  const { app } = ctx;
  await getCa(app, id, false);
  const certificates = await app.db.getRepository(CertificateEntity).find({ where: { signedby_id: id }, select: { id: true, name: true } });
  const cas = await app.db.getRepository(CertificateAuthorityEntity).find({ where: { signedby_id: id }, select: { id: true, name: true } });
  if (certificates.length > 0 || cas.length > 0) {
    const services = [certificates.length > 0 ? "'certificate' Service" : null, cas.length > 0 ? "'certificateauthority' Service" : null].filter(Boolean);
    // TrueNAS's text first (clients match it), then the entries by name, so the reason says what to remove.
    const named = [...certificates.map((c) => `'${c.name}' (certificate)`), ...cas.map((c) => `'${c.name}' (certificate authority)`)];
    const shown = named.length > MAX_NAMED ? [...named.slice(0, MAX_NAMED), `and ${named.length - MAX_NAMED} more`] : named;
    const text = `This object is being used by following service(s):\n${services.map((s, i) => `${i + 1}) ${s}`).join('\n')}\nSigned by it: ${shown.join(', ')}\n`;
    throw new CallError(text, 'EBUSY', {
      dependencies: [
        ...(certificates.length ? [{ datastore: 'system.certificate', service: 'certificate', objects: certificates.map((c) => ({ id: c.id, name: c.name })) }] : []),
        ...(cas.length ? [{ datastore: 'system.certificateauthority', service: 'certificateauthority', objects: cas.map((c) => ({ id: c.id, name: c.name })) }] : []),
      ],
    });
  }
  await withChanges(app, async (manager, changes) => {
    await manager.getRepository(CertificateAuthorityEntity).delete({ id });
    changes.removed(CA_NAMESPACE, id);
  });
  return true;
}

/** `certificateauthority.ca_sign_csr`: a CSR on this system signed by a CA with its key. */
export async function signCsr(ctx: CallContext, data: CaSignCsr, schema = 'certificate_authority_update'): Promise<Entry> {
  const { app } = ctx;
  const errors = new ValidationErrors();
  const ca = await app.db.getRepository(CertificateAuthorityEntity).findOneBy({ id: data.ca_id });
  if (!ca) errors.add(`${schema}.ca_id`, `No Certificate Authority found for id ${data.ca_id}`);
  else if (!ca.privatekey) errors.add(`${schema}.ca_id`, 'Please use a CA which has a private key assigned');
  else if (ca.revoked_date) errors.add(`${schema}.ca_id`, 'The certificate authority has been revoked');
  const certificates = app.db.getRepository(CertificateEntity);
  const csrRow = await certificates.findOneBy({ id: data.csr_cert_id });
  let csr: ReturnType<typeof parseCsr> | null = null;
  if (!csrRow) errors.add(`${schema}.csr_cert_id`, `No Certificate found for id ${data.csr_cert_id}`);
  else if (!csrRow.CSR) errors.add(`${schema}.csr_cert_id`, 'No CSR has been filed by this certificate');
  else {
    try {
      csr = parseCsr(csrRow.CSR);
      if (!csr.signature_valid) throw new Error('bad signature');
    } catch {
      errors.add(`${schema}.csr_cert_id`, 'CSR not valid');
    }
    if (!csrRow.privatekey) errors.add(`${schema}.csr_cert_id`, 'Private key not found for specified CSR.');
  }
  if (await certificates.existsBy({ name: data.name })) errors.add(`${schema}.name`, 'A certificate with this name already exists');
  if (data.lifetime !== undefined && data.lifetime < 1) errors.add(`${schema}.lifetime`, 'Lifetime must be at least one day.');
  errors.check();
  const now = new Date();
  const id = await writingName(`${schema}.name`, () =>
    withChanges(app, async (manager, changes) => {
      const certificate = await issueCertificate({
        subject: subjectOf(csr!),
        san: parseSan(csr!.san),
        publicKey: csr!.public_key,
        signer: caSigner(app, ca!),
        serial: await takeSerial(manager, ca!.id),
        notBefore: now,
        notAfter: new Date(now.getTime() + (data.lifetime ?? DEFAULT_LIFETIME_DAYS) * DAY_MS),
        digest: (data.digest_algorithm ?? (/^SHA(224|256|384|512)$/.test(ca!.details.digest_algorithm ?? '') ? ca!.details.digest_algorithm : 'SHA256')) as Digest,
        extensions: data.cert_extensions,
        ...issuerLinks(app, ca!.id),
      });
      const key = openKey(app, csrRow!);
      const details = certificateDetails(certificate, key);
      const result = await manager.getRepository(CertificateEntity).insert({
        type: CERT_TYPE_INTERNAL,
        name: data.name,
        certificate,
        privatekey: csrRow!.privatekey,
        CSR: null,
        signedby_id: ca!.id,
        add_to_trusted_store: false,
        // Should it opt in to automatic renewal, a new key each time unless asked to keep it.
        rotate_key: true,
        ...detailColumns(details),
        created_at: new Date(),
      } as never);
      const newId = Number(result.identifiers[0]!.id);
      changes.added('certificate', newId);
      changes.signedChanged(CA_NAMESPACE, ca!.id);
      return newId;
    }),
  );
  return getCertificate(app, id, keyAccessOf(ctx.caller));
}

export { CERT_TYPE_CSR };
