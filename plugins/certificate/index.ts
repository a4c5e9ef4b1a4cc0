import { z } from 'zod';
import { renewCertificates } from '../../src/acme/renewal.js';
import { defineMethod } from '../../src/api/define-method.js';
import { previewImport } from '../../src/certs/import-preview.js';
import { definePlugin, queryEvent } from '../../src/api/define-plugin.js';
import {
  createCertificate,
  deleteCertificate,
  getCertificate,
  NAMESPACE,
  queryCertificates,
  updateCertificate,
} from '../../src/certs/certificate-service.js';
import { COUNTRIES } from '../../src/certs/countries.js';
import { CertificateAuthorityEntity, CertificateEntity } from '../../src/certs/entities.js';
import { ensureDefaultCertificate, renewDefaultCertificate, SettingEntity } from '../../src/certs/default-certificate.js';
import { certificateFilesStatus } from '../../src/certs/files/certificate-files.js';
import { ExportedFileSchema, exportCertificate, ExportRequest } from '../../src/certs/export.js';
import { CERTIFICATE_PROFILES, CSR_PROFILES } from '../../src/certs/profiles.js';
import { CertificateCreate, CertificateUpdate, DIGESTS, EC_CURVES, EKU_NAMES, KEY_LENGTHS, KEY_TYPES } from '../../src/certs/schemas.js';
import { keyAccessOf } from '../../src/certs/store.js';
import { CertificateVersionEntity, watchSuperseded } from '../../src/certs/versions.js';
import { QueryFilters, QueryOptions } from '../../src/query/schemas.js';
import { entriesText } from '../../src/rpc/json-text.js';

const Id = z.number().int().describe('The certificate id.');
const Entry = z.record(z.string(), z.unknown()).describe('A certificate entry: stored PEMs, parsed subject and validity, type flags, chain.');
const Choices = z.record(z.string(), z.string()).describe('Value → label.');
const identity = (values: readonly (string | number)[]) => Object.fromEntries(values.map((v) => [String(v), String(v)]));

const query = defineMethod({
  name: 'certificate.query',
  description: 'Certificates and CSRs, filtered with the query language. Private keys show as "********" without CERTIFICATE_WRITE, and those of the signing CAs nested in signedby and issuer without CERTIFICATE_AUTHORITY_WRITE.',
  params: { filters: QueryFilters, options: QueryOptions },
  result: z.unknown(),
  roles: ['CERTIFICATE_READ'],
  handler: (ctx, { filters, options }) => queryCertificates(ctx, filters, options),
});

const getInstanceMethod = defineMethod({
  name: 'certificate.get_instance',
  description: 'One certificate or CSR by id.',
  params: { id: Id, options: QueryOptions },
  result: Entry,
  roles: ['CERTIFICATE_READ'],
  // Written as a list entry is: the signing CA nested twice (signedby, issuer) is written once.
  handler: async (ctx, { id }) => entriesText(await getCertificate(ctx.app, id, keyAccessOf(ctx.caller))),
});

const create = defineMethod({
  name: 'certificate.create',
  description:
    'Create a certificate signed by a CA on this system, a CSR with a new key, or import a certificate (PEM, DER or PKCS#12) or a CSR with its key. Runs as a job.',
  params: { certificate_create: CertificateCreate },
  result: Entry,
  roles: ['CERTIFICATE_WRITE'],
  // Per name rather than TrueNAS's single cert_create lock: issuance runs in parallel, and two
  // creates of the same name still cannot race. Abortable: an ACME order can wait minutes on DNS.
  job: { lock: ({ certificate_create }) => `cert_create:${certificate_create.name}`, abortable: true },
  handler: (ctx, { certificate_create }) => createCertificate(ctx, certificate_create),
});

const update = defineMethod({
  name: 'certificate.update',
  description: 'Rename, revoke (with a reason; cannot be undone), or change the trusted-store flag or ACME renew days. Runs as a job.',
  params: { id: Id, certificate_update: CertificateUpdate },
  result: Entry,
  roles: ['CERTIFICATE_WRITE'],
  job: { lock: ({ id }) => `cert_update:${id}` },
  handler: (ctx, { id, certificate_update }) => updateCertificate(ctx, id, certificate_update),
});

const remove = defineMethod({
  name: 'certificate.delete',
  description: 'Delete a certificate or CSR. Runs as a job.',
  params: { id: Id, force: z.boolean().default(false).describe('Delete even if revoking at the ACME server fails.') },
  result: z.literal(true),
  roles: ['CERTIFICATE_WRITE'],
  job: { lock: ({ id }) => `cert_delete:${id}` },
  handler: (ctx, { id, force }) => deleteCertificate(ctx, id, force),
});

const exportMethod = defineMethod({
  name: 'certificate.export',
  description: 'A certificate (or CSR) as PEM, DER, full-chain PEM or password-protected PKCS#12 (AES-256), with or without its key.',
  params: { id: Id, certificate_export: ExportRequest },
  result: ExportedFileSchema,
  roles: ['CERTIFICATE_READ'],
  audit: true,
  handler: (ctx, { id, certificate_export }) => exportCertificate(ctx, CertificateEntity, id, certificate_export),
});

const choice = (name: string, description: string, values: () => Record<string, string>, roles: readonly ['CERTIFICATE_READ']) =>
  defineMethod({ name, description, params: {}, result: Choices, roles, handler: values });

const READ = ['CERTIFICATE_READ'] as const;

const acmeServerChoices = choice('certificate.acme_server_choices', 'Well-known ACME directories.', () => ({
  'https://acme-staging-v02.api.letsencrypt.org/directory': "Let's Encrypt Staging Directory",
  'https://acme-v02.api.letsencrypt.org/directory': "Let's Encrypt Production Directory",
}), READ);
const countryChoices = choice('certificate.country_choices', 'Countries by ISO 3166-1 alpha-2 code.', () => ({ ...COUNTRIES }), READ);
const ecCurveChoices = choice('certificate.ec_curve_choices', 'Elliptic curves for EC keys.', () => identity(EC_CURVES), READ);
const ekuChoices = choice('certificate.extended_key_usage_choices', 'Extended key usage names.', () => identity(EKU_NAMES), READ);
const keyTypeChoices = choice('certificate.key_type_choices', 'Key types.', () => identity(KEY_TYPES), READ);
const keyLengthChoices = choice('certificate.key_length_choices', 'RSA key sizes in bits.', () => identity(KEY_LENGTHS), READ);
const digestChoices = choice('certificate.digest_algorithm_choices', 'Signature digests for new certificates.', () => identity(DIGESTS), READ);

const profiles = defineMethod({
  name: 'certificate.profiles',
  description: 'Presets for new certificates (TrueNAS 24.10 name).',
  params: {},
  result: z.record(z.string(), z.unknown()),
  roles: ['CERTIFICATE_READ'],
  handler: () => CERTIFICATE_PROFILES,
});

const csrProfiles = defineMethod({
  name: 'certificate.certificate_signing_requests_profiles',
  description: 'Presets for new CSRs (TrueNAS 24.10 name).',
  params: {},
  result: z.record(z.string(), z.unknown()),
  roles: ['CERTIFICATE_READ'],
  handler: () => CSR_PROFILES,
});

const getDomainNames = defineMethod({
  name: 'certificate.get_domain_names',
  description: 'The common name and subject alternative names of a certificate or CSR.',
  params: { cert_id: Id },
  result: z.array(z.string()),
  roles: ['CERTIFICATE_READ'],
  handler: async (ctx, { cert_id }) => {
    const entry = await getCertificate(ctx.app, cert_id, false);
    return [...(entry.common ? [entry.common as string] : []), ...((entry.san as string[] | null) ?? [])];
  },
});

const filesStatus = defineMethod({
  name: 'certificate.files_status',
  description:
    "This daemon's certificate files (CERTIFICATES_DIR) and trusted store: whether it writes them, the last pass and its error, entries without files, and the trusted-store update command's last success or failure.",
  params: {},
  result: z.object({
    directory: z.string().describe('CERTIFICATES_DIR: where certificate_path, privatekey_path, csr_path and crl_path point.'),
    writing: z.boolean().describe('Whether this daemon writes the directory (CERTIFICATES_WRITE).'),
    pending: z.boolean().describe('A pass is running or due.'),
    reconciled_at: z.date().nullable().describe('When the files last matched the database.'),
    error: z.string().nullable().describe('Why the last pass failed; null once one succeeds.'),
    skipped: z
      .array(
        z.object({
          name: z.string().describe("The entry's name."),
          cert_type: z.enum(['CERTIFICATE', 'CA']).describe('Whether it is a certificate or a CA.'),
          reason: z.string().describe('Why it has no files.'),
        }),
      )
      .describe('Entries whose names cannot be file names, so they have no files.'),
    trusted_store: z.object({
      directory: z.string().describe('TRUSTED_STORE_DIR, holding {ca|cert}_<name>.crt.'),
      bundle: z.string().describe('Every trusted chain in one PEM file (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, curl --cacert).'),
      entries: z.array(z.string()).describe('The files in the trusted store.'),
      update_command: z.array(z.string()).nullable().describe('TRUSTED_STORE_UPDATE_COMMAND.'),
      updated_at: z.date().nullable().describe('When the update command last succeeded.'),
      error: z.string().nullable().describe("\"Failed to update system's trusted certificate store: …\" while its last run failed."),
    }).describe('The trusted store: entries with add_to_trusted_store that are not revoked.'),
  }),
  roles: ['CERTIFICATE_READ'],
  handler: (ctx) => certificateFilesStatus(ctx.app),
});

const PreviewedCertificate = z
  .object({
    subject: z.string().describe('The subject on one line, in the certificate\'s order: "CN=nas, O=Home, C=US".'),
    issuer: z.string().describe('The issuer, likewise.'),
    self_signed: z.boolean().describe('Issued by itself (subject equals issuer and its own key verifies it).'),
    is_ca: z.boolean().describe('BasicConstraints CA:TRUE.'),
    from: z.string().describe('notBefore, as entries show it.'),
    until: z.string().describe('notAfter, as entries show it.'),
    not_before: z.date().describe('notBefore.'),
    not_after: z.date().describe('notAfter.'),
    expired: z.boolean().describe('notAfter has passed.'),
    san: z.array(z.string()).describe('Subject alternative names as openssl prints them ("DNS:nas.example.com").'),
    serial: z.string().describe('The serial number in decimal.'),
    serial_hex: z.string().describe('The serial number in hex, as openssl prints it.'),
    key_type: z.string().describe('RSA, EC or ED25519.'),
    key_length: z.number().describe('Key size in bits.'),
    fingerprint_sha256: z.string().describe('SHA-256 fingerprint, upper-case hex with colons.'),
  })
  .describe('One certificate of the input.');

const importPreview = defineMethod({
  name: 'certificate.import_preview',
  description:
    'Read what CERTIFICATE_CREATE_IMPORTED would import, without saving anything: each certificate (leaf first, then its chain) with subject, issuer, validity, SANs, serial and key, and whether the private key matches the leaf and whether the passphrase opened it. Takes PEM, base64 DER, or a base64 PKCS#12 bundle with its passphrase.',
  params: {
    certificate_import_preview: z
      .strictObject({
        certificate: z.string().max(1_048_576).optional().describe('PEM (or base64 DER) certificate, optionally followed by its chain.'),
        privatekey: z.string().max(1_048_576).optional().describe('The private key: PEM or base64 DER, encrypted or not.'),
        passphrase: z.string().max(1024).optional().describe('The passphrase of an encrypted key or of the PKCS#12 bundle.'),
        pkcs12: z.string().max(1_048_576).optional().describe('A base64 PKCS#12 bundle instead of certificate and privatekey.'),
      })
      .describe('The input as certificate.create would take it.'),
  },
  result: z
    .object({
      format: z.enum(['PEM', 'DER', 'PKCS12']).describe('How the input was given.'),
      certificates: z.array(PreviewedCertificate).describe('The leaf first, then the chain as given.'),
      private_key: z
        .object({
          key_type: z.string().describe('RSA, EC or ED25519.'),
          key_length: z.number().describe('Key size in bits.'),
          matches_certificate: z.boolean().describe('The key belongs to the leaf certificate.'),
          passphrase_opened: z.boolean().describe('The key or bundle was encrypted and the passphrase opened it.'),
        })
        .nullable()
        .describe('The private key, when one was given.'),
    })
    .describe('What the import would bring in.'),
  roles: ['CERTIFICATE_WRITE'],
  // Reads only what the caller sends: nothing changes, nothing stored is revealed.
  audit: false,
  handler: (_ctx, { certificate_import_preview }) => previewImport(certificate_import_preview),
});

const renewCerts = defineMethod({
  name: 'certificate.renew_certs',
  description:
    'Renew the certificates that are due: ACME ones with fewer than renew_days days left or inside the renewal window the CA suggests (RFC 9773), those signed by a CA on this system with auto_renew and fewer than renew_days days left, and the default self-signed certificate when fewer than 5 days remain. Each renewal keeps the replaced version (previous_versions). Failures are left on the certificate and retried with backoff. Runs at start and daily, once at a time across daemons (lock acme_cert_renewal); a job.',
  params: {},
  result: z.object({
    renewed: z.array(Id).describe('Certificates renewed.'),
    failed: z.array(Id).describe('Certificates whose renewal failed (see their renewal_error).'),
  }),
  roles: ['FULL_ADMIN'],
  private: true,
  job: { lock: 'acme_cert_renewal', abortable: true },
  handler: async (ctx) => {
    const result = await renewCertificates(ctx);
    // The daemon's own self-signed certificate is renewed here too, as TrueNAS does.
    const ui = await renewDefaultCertificate(ctx.app);
    return ui === null ? result : { ...result, renewed: [...result.renewed, ui] };
  },
});

export const certificatePlugin = definePlugin({
  namespace: NAMESPACE,
  description: 'Certificates and certificate signing requests.',
  entities: [CertificateEntity, CertificateAuthorityEntity, SettingEntity, CertificateVersionEntity],
  setup: async (app) => {
    await ensureDefaultCertificate(app);
    return watchSuperseded(app);
  },
  events: [queryEvent(NAMESPACE, ['CERTIFICATE_READ'], 'a certificate or CSR')],
  methods: [
    importPreview,
    query,
    getInstanceMethod,
    create,
    update,
    remove,
    exportMethod,
    acmeServerChoices,
    countryChoices,
    ecCurveChoices,
    ekuChoices,
    keyTypeChoices,
    keyLengthChoices,
    digestChoices,
    profiles,
    csrProfiles,
    getDomainNames,
    renewCerts,
    filesStatus,
  ],
});
