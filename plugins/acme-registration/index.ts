import { z } from 'zod';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin, queryEvent } from '../../src/api/define-plugin.js';
import type { App } from '../../src/app.js';
import { AcmeRegistrationEntity, type AcmeRegistrationRow } from '../../src/acme/entities.js';
import {
  AcmeRegistrationCreate,
  AcmeRegistrationTermsOfService,
  createRegistration,
  readDirectoryMeta,
  REGISTRATION_NAMESPACE,
  registrationEntry,
} from '../../src/acme/registration.js';
import { getInstance, runQuery, type SqlQuerySpec } from '../../src/query/sql-query.js';
import { QueryFilters, QueryOptions } from '../../src/query/schemas.js';

const Id = z.number().int().describe('The registration id.');

const RegistrationEntry = z
  .object({
    id: Id,
    uri: z.string().describe('The account URL at the ACME server.'),
    directory: z.string().describe('The ACME directory URL, with a trailing "/".'),
    tos: z.string().describe("The server's terms-of-service URL, or empty."),
    new_account_uri: z.string().describe('The newAccount resource.'),
    new_nonce_uri: z.string().describe('The newNonce resource.'),
    new_order_uri: z.string().describe('The newOrder resource.'),
    revoke_cert_uri: z.string().describe('The revokeCert resource.'),
    renewal_info_uri: z.string().nullable().describe('The ACME Renewal Information (RFC 9773) resource, when the server has one.'),
    eab_kid: z.string().nullable().describe('The External Account Binding key id used to register, if any.'),
    ca_bundle: z.string().nullable().describe("PEM CA certificates trusted for the server's TLS; null for Node's public roots."),
    body: z
      .object({
        id: Id,
        status: z.string().describe('The account status: valid, deactivated or revoked.'),
        key: z.string().describe('Always "********": the account key is sealed at rest and never shown.'),
      })
      .describe('The account (TrueNAS keeps it in a separate table).'),
  })
  .describe('An ACME account.');

function querySpec(app: App): SqlQuerySpec<AcmeRegistrationRow, z.input<typeof RegistrationEntry>> {
  return {
    dataSource: app.db,
    entity: AcmeRegistrationEntity,
    columns: {
      id: { column: 'id', kind: 'number' },
      uri: { column: 'uri', kind: 'string' },
      directory: { column: 'directory', kind: 'string' },
      tos: { column: 'tos', kind: 'string' },
    },
    toEntry: registrationEntry,
  };
}

const fetchRegistration = (app: App, id: number) => getInstance(querySpec(app), id, `ACME registration ${id} does not exist`);

const query = defineMethod({
  name: 'acme.registration.query',
  description: 'ACME accounts, one per directory, filtered with the query language. Account keys show as "********".',
  params: { filters: QueryFilters, options: QueryOptions },
  result: z.unknown(),
  roles: ['ACME_READ'],
  handler: (ctx, { filters, options }) => runQuery(querySpec(ctx.app), filters, options),
});

const getInstanceMethod = defineMethod({
  name: 'acme.registration.get_instance',
  description: 'One ACME account by id.',
  params: { id: Id, options: QueryOptions },
  result: RegistrationEntry,
  roles: ['ACME_READ'],
  handler: (ctx, { id }) => fetchRegistration(ctx.app, id),
});

const create = defineMethod({
  name: 'acme.registration.create',
  description:
    'Register an account with an ACME server, accepting its terms of service, with External Account Binding for CAs that need it and the CA certificates to trust for a private ACME server. Issuing a certificate registers on first use too.',
  params: { acme_registration_create: AcmeRegistrationCreate },
  result: RegistrationEntry,
  roles: ['ACME_WRITE'],
  handler: async (ctx, { acme_registration_create }) => fetchRegistration(ctx.app, (await createRegistration(ctx.app, acme_registration_create)).id),
});

const DirectoryMeta = z
  .object({
    terms_of_service: z.string().nullable().describe("The URL of the server's terms of service (meta.termsOfService), or null when it names none."),
    website: z.string().nullable().describe("The URL of the CA's website (meta.website), or null when it names none."),
    external_account_required: z.boolean().describe('New accounts need External Account Binding (meta.externalAccountRequired): eab_kid and eab_hmac_key from the CA.'),
  })
  .describe("What the ACME directory's meta object says (RFC 8555 §7.1.1).");

const termsOfService = defineMethod({
  name: 'acme.registration.terms_of_service',
  description:
    "Read an ACME directory's terms of service, website and whether it requires External Account Binding, without registering: what to show before accepting the terms. Same timeouts and TLS trust as acme.registration.create.",
  params: { acme_registration_terms_of_service: AcmeRegistrationTermsOfService },
  result: DirectoryMeta,
  // It makes the daemon fetch a URL of the caller's choosing: only for those who may order certificates.
  roles: ['ACME_WRITE', 'CERTIFICATE_WRITE'],
  handler: (ctx, { acme_registration_terms_of_service }) => readDirectoryMeta(ctx.app, acme_registration_terms_of_service),
});

export const acmeRegistrationPlugin = definePlugin({
  namespace: REGISTRATION_NAMESPACE,
  description: 'ACME accounts (RFC 8555), one per directory.',
  dependsOn: ['certificate'],
  // A pydantic-model namespace in TrueNAS 25.04 (api/v25_04_2/acme_registration.py).
  validation: 'pydantic',
  entities: [AcmeRegistrationEntity],
  events: [queryEvent(REGISTRATION_NAMESPACE, ['ACME_READ'], 'an ACME account')],
  methods: [query, getInstanceMethod, create, termsOfService],
});
