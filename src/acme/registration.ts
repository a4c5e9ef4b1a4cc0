/**
 * ACME accounts (RFC 8555 §7.3): one per directory, created on first use or through
 * `acme.registration.create`. The account key is sealed at rest and never shown (TrueNAS returns the
 * JWK in clear; certmid shows "********"). A private CA's TLS trust is kept with the registration,
 * so workers on other hosts read the same trust from the database.
 */
import type acme from 'acme-client';
import type { EntityManager } from 'typeorm';
import { z } from 'zod';
import type { App } from '../app.js';
import { parseCertificate } from '../crypto/certificates.js';
import { generateKeyOffThread } from '../crypto/crypto-pool.js';
import { splitPem } from '../crypto/pem.js';
import { withChanges } from '../db/entity-events.js';
import { CallError } from '../errors/call-error.js';
import { ValidationErrors } from '../errors/validation-errors.js';
import { REDACTED } from '../secrets.js';
import { ACME_REQUEST_TIMEOUT_MS, accountClient, acmeStep, fetchDirectory, withTransport, type AcmeTransport } from './client.js';
import { AcmeRegistrationEntity, type AcmeRegistrationRow } from './entities.js';

/** The wire namespace of ACME accounts. */
export const REGISTRATION_NAMESPACE = 'acme.registration';
const SCHEMA = 'acme_registration_create';

/** `acme_registration_create` (§1.5) with certmid's External Account Binding and trust fields. */
export const AcmeRegistrationCreate = z
  .strictObject({
    tos: z.boolean().default(false).describe("The ACME server's terms of service are accepted."),
    JWK_create: z
      .strictObject({
        key_size: z.number().int().min(2048).max(8192).default(2048).describe('RSA modulus size of the account key in bits.'),
        public_exponent: z.number().int().min(3).default(65537).describe('RSA public exponent of the account key.'),
      })
      .default({ key_size: 2048, public_exponent: 65537 })
      .describe('The account key to generate.'),
    // The bounds of the columns they are stored in: PostgreSQL refuses longer values.
    acme_directory_uri: z.string().min(1).max(500).describe('The ACME directory URL.'),
    eab_kid: z.string().min(1).max(256).optional().describe('External Account Binding key id, for CAs that require one (RFC 8555 §7.3.4).'),
    eab_hmac_key: z.string().min(1).optional().describe('External Account Binding HMAC key (base64url); used once to register, never stored.'),
    ca_bundle: z.string().optional().describe("PEM CA certificates that the ACME server's TLS certificate chains to (a private ACME CA); Node's public roots when omitted."),
  })
  .describe('The ACME account to register.');

export type AcmeRegistrationCreate = z.output<typeof AcmeRegistrationCreate>;

const TERMS_SCHEMA = 'acme_registration_terms_of_service';

/** `acme.registration.terms_of_service`'s argument: the directory to read, as `acme_registration_create` names it. */
export const AcmeRegistrationTermsOfService = z
  .strictObject({
    acme_directory_uri: z.string().min(1).describe('The ACME directory URL (http or https).'),
    ca_bundle: z
      .string()
      .optional()
      .describe(
        "PEM CA certificates that the ACME server's TLS certificate chains to (a private ACME CA); when omitted, the CA bundle of this directory's registration if there is one, else Node's public roots.",
      ),
  })
  .describe('The ACME directory whose terms of service to read.');

export type AcmeRegistrationTermsOfService = z.output<typeof AcmeRegistrationTermsOfService>;

/** What an ACME directory's `meta` object says (RFC 8555 §7.1.1). */
export interface DirectoryMeta {
  terms_of_service: string | null;
  website: string | null;
  external_account_required: boolean;
}

/** External Account Binding credentials (RFC 8555 §7.3.4). */
export interface ExternalAccountBinding {
  kid: string;
  hmacKey: string;
}

/** TrueNAS stores directories with a trailing "/" and GETs them without it. */
const storedDirectory = (uri: string): string => (uri.endsWith('/') ? uri : `${uri}/`);
const requestDirectory = (stored: string): string => stored.replace(/\/+$/, '');

/** The registration row without its key: the `acme` object of ACME certificate entries. */
export type RegistrationSummary = {
  id: number;
  uri: string;
  directory: string;
  tos: string;
  new_account_uri: string;
  new_nonce_uri: string;
  new_order_uri: string;
  revoke_cert_uri: string;
  renewal_info_uri: string | null;
  eab_kid: string | null;
  status: string;
};

/** An `acme.registration.query` entry: TrueNAS's shape with the account in `body`, plus certmid's fields. */
export type RegistrationEntry = Omit<RegistrationSummary, 'status'> & {
  ca_bundle: string | null;
  body: { id: number; status: string; key: string };
};

/** The row without the sealed key, the trust bundle and the creation time (TrueNAS's `acme` object has none of them). */
export function registrationSummary(row: AcmeRegistrationRow): RegistrationSummary {
  const { account_key: _key, ca_bundle: _bundle, created_at: _created, ...summary } = row;
  return summary;
}

/** The registration as `acme.registration.query` shows it: the key as "********", plus the trust bundle. */
export function registrationEntry(row: AcmeRegistrationRow): RegistrationEntry {
  const { status, ...summary } = registrationSummary(row);
  return { ...summary, ca_bundle: row.ca_bundle, body: { id: row.id, status, key: REDACTED } };
}

/** How to reach a registration's ACME server: its trust, the request timeout, the job's signal. */
export function transportOf(row: AcmeRegistrationRow, signal?: AbortSignal): AcmeTransport {
  return { caBundle: row.ca_bundle, timeoutMs: ACME_REQUEST_TIMEOUT_MS, signal };
}

/** The acme-client `Client` of a stored account; use it inside `withTransport(transportOf(…))`. */
export function registrationClient(app: App, row: AcmeRegistrationRow): Promise<acme.Client> {
  return accountClient({ directoryUrl: requestDirectory(row.directory), accountKeyPem: app.secrets.decrypt(row.account_key), accountUrl: row.uri });
}

/** The registration for a directory (with or without its trailing "/"), or null. */
export function findRegistration(app: App, directoryUri: string): Promise<AcmeRegistrationRow | null> {
  return app.db.getRepository(AcmeRegistrationEntity).findOneBy({ directory: storedDirectory(directoryUri) });
}

function isCertificateBundle(pem: string): boolean {
  const blocks = splitPem(pem);
  if (blocks.length === 0 || blocks.some((block) => block.label !== 'CERTIFICATE')) return false;
  try {
    blocks.forEach((block) => parseCertificate(block.pem));
    return true;
  } catch {
    return false;
  }
}

/** The checks that need no network, in TrueNAS's order (ToS, then the duplicate), then ours. */
async function validateCreate(app: App, input: AcmeRegistrationCreate): Promise<void> {
  const errors = new ValidationErrors();
  if (!input.tos) errors.add(`${SCHEMA}.tos`, 'Please agree to the terms of service');
  if (await findRegistration(app, input.acme_directory_uri)) {
    errors.add(`${SCHEMA}.acme_directory_uri`, 'A registration with the specified directory uri already exists');
  }
  if ((input.eab_kid === undefined) !== (input.eab_hmac_key === undefined)) {
    errors.add(`${SCHEMA}.${input.eab_kid === undefined ? 'eab_kid' : 'eab_hmac_key'}`, 'External Account Binding needs both eab_kid and eab_hmac_key');
  }
  if (input.ca_bundle !== undefined && !isCertificateBundle(input.ca_bundle)) {
    errors.add(`${SCHEMA}.ca_bundle`, 'Please provide one or more PEM certificates');
  }
  errors.check();
}

/** RFC 8555 §7.1.1: the resources an account and its orders need, and what `meta` says. */
interface Directory {
  newAccount: string;
  newNonce: string;
  newOrder: string;
  revokeCert: string;
  renewalInfo: string | null;
  termsOfService: string | null;
  website: string | null;
  externalAccountRequired: boolean;
}

async function readDirectory(url: string): Promise<Directory> {
  const raw = await fetchDirectory(url);
  const meta = (raw.meta ?? {}) as Record<string, unknown>;
  const resource = (name: string): string => {
    const value = raw[name];
    if (typeof value !== 'string') throw new CallError(`The ACME directory at ${url} has no ${name} URL`);
    return value;
  };
  return {
    newAccount: resource('newAccount'),
    newNonce: resource('newNonce'),
    newOrder: resource('newOrder'),
    revokeCert: resource('revokeCert'),
    renewalInfo: typeof raw.renewalInfo === 'string' ? raw.renewalInfo : null,
    termsOfService: typeof meta.termsOfService === 'string' && meta.termsOfService !== '' ? meta.termsOfService : null,
    website: typeof meta.website === 'string' && meta.website !== '' ? meta.website : null,
    externalAccountRequired: meta.externalAccountRequired === true,
  };
}

async function generateAccountKey(spec: AcmeRegistrationCreate['JWK_create']): Promise<string> {
  const privateKey = await generateKeyOffThread({ type: 'rsa', options: { modulusLength: spec.key_size, publicExponent: spec.public_exponent } });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

async function insertRegistration(app: App, row: Omit<AcmeRegistrationRow, 'id'>): Promise<AcmeRegistrationRow> {
  return withChanges(app, async (manager: EntityManager, changes) => {
    // Another job may have registered the directory meanwhile: one account per directory wins.
    const existing = await manager.getRepository(AcmeRegistrationEntity).findOneBy({ directory: row.directory });
    if (existing) return existing;
    const result = await manager.getRepository(AcmeRegistrationEntity).insert(row as never);
    const id = Number(result.identifiers[0]!.id);
    changes.added(REGISTRATION_NAMESPACE, id);
    return { ...row, id };
  });
}

/**
 * `acme.registration.create` (§1.5): reads the directory, generates the RSA account key, creates
 * the account with the terms of service agreed (RFC 8555 §7.3) and External Account Binding when
 * given, and stores it with the key sealed.
 */
export async function createRegistration(app: App, input: AcmeRegistrationCreate, signal?: AbortSignal): Promise<AcmeRegistrationRow> {
  await validateCreate(app, input);
  const directory = storedDirectory(input.acme_directory_uri);
  const transport: AcmeTransport = { caBundle: input.ca_bundle ?? null, timeoutMs: ACME_REQUEST_TIMEOUT_MS, signal };
  return withTransport(transport, async () => {
    // TrueNAS's text, space before the colon included.
    const resources = await acmeStep('Unable to retrieve directory ', () => readDirectory(requestDirectory(directory)), signal);
    if (resources.externalAccountRequired && input.eab_kid === undefined) {
      throw new ValidationErrors().add(`${SCHEMA}.eab_kid`, 'This ACME server requires External Account Binding: please provide eab_kid and eab_hmac_key');
    }
    const accountKeyPem = await generateAccountKey(input.JWK_create);
    const eab = input.eab_kid !== undefined ? { kid: input.eab_kid, hmacKey: input.eab_hmac_key! } : undefined;
    const client = await accountClient({ directoryUrl: requestDirectory(directory), accountKeyPem, externalAccountBinding: eab });
    const account = await acmeStep('Failed to register with the ACME server', () => client.createAccount({ termsOfServiceAgreed: true }), signal);
    return insertRegistration(app, {
      uri: client.getAccountUrl(),
      directory,
      tos: resources.termsOfService ?? '',
      new_account_uri: resources.newAccount,
      new_nonce_uri: resources.newNonce,
      new_order_uri: resources.newOrder,
      revoke_cert_uri: resources.revokeCert,
      renewal_info_uri: resources.renewalInfo,
      status: account.status,
      account_key: app.secrets.encrypt(accountKeyPem),
      eab_kid: input.eab_kid ?? null,
      ca_bundle: input.ca_bundle ?? null,
      created_at: new Date(),
    });
  });
}

const isHttpUrl = (value: string): boolean => URL.canParse(value) && ['http:', 'https:'].includes(new URL(value).protocol);

/**
 * `acme.registration.terms_of_service`: reads the directory's `meta` (terms of service, website,
 * whether External Account Binding is required) without registering, over the same transport as
 * registration: the request timeout, and the given CA bundle, else the registration's, else
 * Node's public roots.
 */
export async function readDirectoryMeta(app: App, input: AcmeRegistrationTermsOfService): Promise<DirectoryMeta> {
  const errors = new ValidationErrors();
  if (!isHttpUrl(input.acme_directory_uri)) errors.add(`${TERMS_SCHEMA}.acme_directory_uri`, 'Input should be a valid URL with the http or https scheme');
  if (input.ca_bundle !== undefined && !isCertificateBundle(input.ca_bundle)) errors.add(`${TERMS_SCHEMA}.ca_bundle`, 'Please provide one or more PEM certificates');
  errors.check();
  const caBundle = input.ca_bundle ?? (await findRegistration(app, input.acme_directory_uri))?.ca_bundle ?? null;
  const transport: AcmeTransport = { caBundle, timeoutMs: ACME_REQUEST_TIMEOUT_MS };
  return withTransport(transport, async () => {
    // The same words as registration's first step.
    const directory = await acmeStep('Unable to retrieve directory ', () => readDirectory(requestDirectory(storedDirectory(input.acme_directory_uri))));
    return { terms_of_service: directory.termsOfService, website: directory.website, external_account_required: directory.externalAccountRequired };
  });
}

/** What issuance asks of the account of a directory. */
export interface RegistrationRequest {
  directoryUri: string;
  /** Needed only when the account does not exist yet. */
  tos: boolean;
  eab?: ExternalAccountBinding | undefined;
}

/** The account of a directory, registered first if there is none (TrueNAS's `get_acme_client_and_key_payload`). */
export async function registrationFor(app: App, request: RegistrationRequest, signal?: AbortSignal): Promise<AcmeRegistrationRow> {
  const existing = await findRegistration(app, request.directoryUri);
  if (existing) return existing;
  const input = AcmeRegistrationCreate.parse({
    tos: request.tos,
    acme_directory_uri: request.directoryUri,
    ...(request.eab ? { eab_kid: request.eab.kid, eab_hmac_key: request.eab.hmacKey } : {}),
  });
  try {
    return await createRegistration(app, input, signal);
  } catch (error) {
    // Another job registered the directory meanwhile: use that account.
    const raced = await findRegistration(app, request.directoryUri);
    if (raced) return raced;
    throw error;
  }
}
