import { z } from 'zod';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin, queryEvent } from '../../src/api/define-plugin.js';
import { CA_NAMESPACE, createCa, deleteCa, getCa, queryCas, signCsr, updateCa } from '../../src/certs/ca-service.js';
import { refreshDueCrls } from '../../src/certs/authority.js';
import { crlRoutes } from '../../src/certs/crl-routes.js';
import { CertificateAuthorityEntity } from '../../src/certs/entities.js';
import { ExportedFileSchema, exportCertificate, ExportRequest } from '../../src/certs/export.js';
import { CA_PROFILES } from '../../src/certs/profiles.js';
import { CaCreate, CaSignCsr, CaUpdate } from '../../src/certs/schemas.js';
import { keyAccessOf } from '../../src/certs/store.js';
import { QueryFilters, QueryOptions } from '../../src/query/schemas.js';
import { entriesText } from '../../src/rpc/json-text.js';

const Id = z.number().int().describe('The certificate authority id.');
const Entry = z.record(z.string(), z.unknown()).describe('A certificate authority entry, with its CRL URL and revoked subtree.');

/** How often the daemon checks for CRLs close to their nextUpdate. */
const CRL_CHECK_INTERVAL_MS = 15 * 60_000;

const query = defineMethod({
  name: 'certificateauthority.query',
  description: 'Certificate authorities, filtered with the query language.',
  params: { filters: QueryFilters, options: QueryOptions },
  result: z.unknown(),
  roles: ['CERTIFICATE_AUTHORITY_READ'],
  handler: (ctx, { filters, options }) => queryCas(ctx, filters, options),
});

const getInstanceMethod = defineMethod({
  name: 'certificateauthority.get_instance',
  description: 'One certificate authority by id.',
  params: { id: Id, options: QueryOptions },
  result: Entry,
  roles: ['CERTIFICATE_AUTHORITY_READ'],
  // Written as a list entry is, without ejson's replacer pass over every value.
  handler: async (ctx, { id }) => entriesText(await getCa(ctx.app, id, keyAccessOf(ctx.caller))),
});

const create = defineMethod({
  name: 'certificateauthority.create',
  description: 'Create a root CA, an intermediate CA signed by a CA on this system, or import a CA (with or without its key).',
  params: { ca_create: CaCreate },
  result: Entry,
  roles: ['CERTIFICATE_AUTHORITY_WRITE'],
  handler: (ctx, { ca_create }) => createCa(ctx, ca_create),
});

const update = defineMethod({
  name: 'certificateauthority.update',
  description: 'Rename, revoke (the CA and everything below it; cannot be undone), change the trusted-store flag, or sign a CSR (create_type CA_SIGN_CSR).',
  params: { id: Id, ca_update: CaUpdate },
  result: Entry,
  roles: ['CERTIFICATE_AUTHORITY_WRITE'],
  handler: (ctx, { id, ca_update }) => updateCa(ctx, id, ca_update),
});

const remove = defineMethod({
  name: 'certificateauthority.delete',
  description: 'Delete a certificate authority; refused while certificates or CAs it signed exist.',
  params: { id: Id },
  result: z.literal(true),
  roles: ['CERTIFICATE_AUTHORITY_WRITE'],
  handler: (ctx, { id }) => deleteCa(ctx, id),
});

const caSignCsr = defineMethod({
  name: 'certificateauthority.ca_sign_csr',
  description: 'Sign a CSR on this system with a CA that has its key; returns the new certificate.',
  params: { ca_sign_csr: CaSignCsr },
  result: Entry,
  roles: ['CERTIFICATE_AUTHORITY_WRITE'],
  handler: (ctx, { ca_sign_csr }) => signCsr(ctx, ca_sign_csr),
});

const exportMethod = defineMethod({
  name: 'certificateauthority.export',
  description: 'A CA certificate as PEM, DER, full chain or PKCS#12, with or without its key.',
  params: { id: Id, certificateauthority_export: ExportRequest },
  result: ExportedFileSchema,
  roles: ['CERTIFICATE_AUTHORITY_READ'],
  audit: true,
  handler: (ctx, { id, certificateauthority_export }) => exportCertificate(ctx, CertificateAuthorityEntity as never, id, certificateauthority_export),
});

const profiles = defineMethod({
  name: 'certificateauthority.profiles',
  description: 'Presets for new certificate authorities (TrueNAS 24.10 name).',
  params: {},
  result: z.record(z.string(), z.unknown()),
  roles: ['CERTIFICATE_AUTHORITY_READ'],
  handler: () => CA_PROFILES,
});

export const certificateAuthorityPlugin = definePlugin({
  namespace: CA_NAMESPACE,
  description: 'Certificate authorities: private roots and intermediates, signing, revocation and CRLs.',
  dependsOn: ['certificate'],
  events: [queryEvent(CA_NAMESPACE, ['CERTIFICATE_AUTHORITY_READ'], 'a certificate authority')],
  methods: [query, getInstanceMethod, create, update, remove, caSignCsr, exportMethod, profiles],
  routes: crlRoutes,
  setup: async (app) => {
    await refreshDueCrls(app);
    const timer = setInterval(() => void refreshDueCrls(app), CRL_CHECK_INTERVAL_MS);
    timer.unref();
    return () => clearInterval(timer);
  },
});
