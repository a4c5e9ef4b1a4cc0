import { z } from 'zod';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin, queryEvent } from '../../src/api/define-plugin.js';
import {
  AuthenticatorCreate,
  AuthenticatorEntry,
  AuthenticatorUpdate,
  AuthenticatorVerify,
  authenticatorSchemas,
  createAuthenticator,
  deleteAuthenticator,
  getAuthenticator,
  NAMESPACE,
  queryAuthenticators,
  READ_ROLES,
  updateAuthenticator,
  verifyAuthenticator,
  VerifyResult,
  WRITE_ROLES,
} from '../../src/acme/authenticators.js';
import { DnsAuthenticatorEntity } from '../../src/acme/entities.js';
import { QueryFilters, QueryOptions } from '../../src/query/schemas.js';

const Id = z.number().int().describe('The authenticator id.');

/** A pydantic-model namespace in TrueNAS 25.04: its argument errors read as pydantic's. */
const VALIDATION = 'pydantic';

const query = defineMethod({
  name: 'acme.dns.authenticator.query',
  description: 'DNS authenticators, filtered with the query language. Secret attributes read "********" without NETWORK_INTERFACE_WRITE or ACME_WRITE.',
  params: { filters: QueryFilters, options: QueryOptions },
  result: z.unknown(),
  roles: READ_ROLES,
  validation: VALIDATION,
  handler: (ctx, { filters, options }) => queryAuthenticators(ctx, filters, options),
});

const getInstanceMethod = defineMethod({
  name: 'acme.dns.authenticator.get_instance',
  description: 'One DNS authenticator by id.',
  params: { id: Id, options: QueryOptions },
  result: AuthenticatorEntry,
  roles: READ_ROLES,
  validation: VALIDATION,
  handler: (ctx, { id, options }) => getAuthenticator(ctx, id, options),
});

const create = defineMethod({
  name: 'acme.dns.authenticator.create',
  description: 'Save DNS provider credentials under a name, for ACME DNS-01 challenges. Attributes are encrypted at rest.',
  params: { dns_authenticator_create: AuthenticatorCreate },
  result: AuthenticatorEntry,
  roles: WRITE_ROLES,
  validation: VALIDATION,
  handler: (ctx, { dns_authenticator_create }) => createAuthenticator(ctx, dns_authenticator_create),
});

const update = defineMethod({
  name: 'acme.dns.authenticator.update',
  description: 'Rename an authenticator, replace its attributes (the provider cannot change) or change how issuance waits for propagation.',
  params: { id: Id, dns_authenticator_update: AuthenticatorUpdate },
  result: AuthenticatorEntry,
  roles: WRITE_ROLES,
  validation: VALIDATION,
  handler: (ctx, { id, dns_authenticator_update }) => updateAuthenticator(ctx, id, dns_authenticator_update),
});

const remove = defineMethod({
  name: 'acme.dns.authenticator.delete',
  description: 'Delete an authenticator, first removing it from every certificate\'s domain → authenticator mapping.',
  params: { id: Id },
  result: z.literal(true),
  roles: WRITE_ROLES,
  validation: VALIDATION,
  handler: (ctx, { id }) => deleteAuthenticator(ctx, id),
});

const schemas = defineMethod({
  name: 'acme.dns.authenticator.authenticator_schemas',
  description: 'The JSON Schema of each provider\'s `attributes`, TrueNAS\'s five first, with TrueNAS\'s form annotations.',
  params: {},
  result: z
    .array(
      z
        .object({
          key: z.string().describe('The `authenticator` value.'),
          schema: z.record(z.string(), z.unknown()).describe('JSON Schema of the `attributes` object.'),
        })
        .describe('One provider.'),
    )
    .describe('Every provider.'),
  roles: ['READONLY_ADMIN', 'ACME_READ'],
  validation: VALIDATION,
  handler: () => authenticatorSchemas(),
});

const verify = defineMethod({
  name: 'acme.dns.authenticator.verify',
  description:
    'Check an authenticator\'s credentials with its provider (API access, zones, TSIG key) without publishing anything. ' +
    'A refusal is reported as `valid: false` with the provider\'s reason.',
  params: { dns_authenticator_verify: AuthenticatorVerify },
  result: VerifyResult,
  roles: WRITE_ROLES,
  validation: VALIDATION,
  handler: (ctx, { dns_authenticator_verify }) => verifyAuthenticator(ctx, dns_authenticator_verify),
});

export const acmeDnsAuthenticatorPlugin = definePlugin({
  namespace: NAMESPACE,
  description: 'DNS authenticators: named DNS provider credentials that ACME DNS-01 challenges use.',
  dependsOn: ['certificate'],
  entities: [DnsAuthenticatorEntity],
  events: [queryEvent(NAMESPACE, READ_ROLES, 'a DNS authenticator')],
  methods: [query, getInstanceMethod, create, update, remove, schemas, verify],
});
