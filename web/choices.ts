/** Choices and presets from the server, fetched once per page. */
import type { Connection } from './connection.js';

/** A profile: preset create fields (webui.crypto.*_profiles). */
export interface Profile {
  key_type?: string;
  key_length?: number;
  ec_curve?: string;
  digest_algorithm?: string;
  lifetime?: number;
  cert_extensions?: Record<string, Record<string, unknown>>;
}

export interface Choices {
  country: Record<string, string>;
  ec_curve: Record<string, string>;
  key_type: Record<string, string>;
  key_length: Record<string, string>;
  digest_algorithm: Record<string, string>;
  extended_key_usage: Record<string, string>;
  acme_server: Record<string, string>;
  certificateProfiles: Record<string, Profile>;
  csrProfiles: Record<string, Profile>;
  caProfiles: Record<string, Profile>;
}

/** One provider's `attributes` as JSON Schema (acme.dns.authenticator.authenticator_schemas). */
export interface AuthenticatorSchema {
  key: string;
  schema: {
    description?: string;
    required?: string[];
    properties: Record<string, SchemaProperty>;
    _attrs_order_?: string[];
  };
}

export interface SchemaProperty {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  anyOf?: SchemaProperty[];
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  writeOnly?: boolean;
  _required_?: boolean;
}

let choices: Promise<Choices> | undefined;
let schemas: Promise<AuthenticatorSchema[]> | undefined;

/** Forgets a failed fetch so the next form tries again. */
function retryable<T>(promise: Promise<T>, reset: () => void): Promise<T> {
  return promise.catch((error: unknown) => {
    reset();
    throw error;
  });
}

export function loadChoices(conn: Connection): Promise<Choices> {
  const get = <T = Record<string, string>>(method: string) => conn.call<T>(method);
  choices ??= retryable(
    (async () => {
      const [country, ec_curve, key_type, key_length, digest_algorithm, extended_key_usage, acme_server, certificateProfiles, csrProfiles, caProfiles] =
        await Promise.all([
          get('certificate.country_choices'),
          get('certificate.ec_curve_choices'),
          get('certificate.key_type_choices'),
          get('certificate.key_length_choices'),
          get('certificate.digest_algorithm_choices'),
          get('certificate.extended_key_usage_choices'),
          get('certificate.acme_server_choices'),
          get<Record<string, Profile>>('webui.crypto.certificate_profiles'),
          get<Record<string, Profile>>('webui.crypto.csr_profiles'),
          get<Record<string, Profile>>('webui.crypto.certificateauthority_profiles'),
        ]);
      return { country, ec_curve, key_type, key_length, digest_algorithm, extended_key_usage, acme_server, certificateProfiles, csrProfiles, caProfiles };
    })(),
    () => (choices = undefined),
  );
  return choices;
}

export function loadAuthenticatorSchemas(conn: Connection): Promise<AuthenticatorSchema[]> {
  schemas ??= retryable(conn.call<AuthenticatorSchema[]>('acme.dns.authenticator.authenticator_schemas'), () => (schemas = undefined));
  return schemas;
}

interface MethodInfo {
  params: Array<{ name: string; schema: { properties?: Record<string, SchemaProperty> } }>;
}

const reasons = new Map<string, Promise<string[]>>();

/**
 * The revocation reasons `method` accepts (`certificate.update` or `certificateauthority.update`):
 * the enum of its `revoked_reason` in `core.get_methods`, without UNSPECIFIED (the page sends no
 * reason for that). Empty when the schema has none.
 */
export function loadRevocationReasons(conn: Connection, method: string): Promise<string[]> {
  let promise = reasons.get(method);
  if (!promise) {
    promise = retryable(
      conn.call<Record<string, MethodInfo>>('core.get_methods', method.slice(0, method.lastIndexOf('.'))).then((methods) => {
        const property = methods[method]?.params.map((param) => param.schema.properties?.revoked_reason).find(Boolean);
        const values = property?.enum ?? property?.anyOf?.find((option) => option.enum)?.enum ?? [];
        return values.map(String).filter((value) => value !== 'UNSPECIFIED');
      }),
      () => reasons.delete(method),
    );
    reasons.set(method, promise);
  }
  return promise;
}
