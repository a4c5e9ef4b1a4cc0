import { z } from 'zod';
import { httpCall } from '../http.js';
import { DnsProviderError, type DnsProvider, type ProviderContext, type ProviderDefinition } from '../provider.js';

const KEY = 'acme-dns';

const schema = z.object({
  api_url: z.url({ protocol: /^https?$/ }).describe('acme-dns API URL, e.g. https://auth.example.org'),
  username: z.string().min(1).describe('acme-dns username (X-Api-User), from /register'),
  password: z.string().min(1).describe('acme-dns password (X-Api-Key), from /register'),
  subdomain: z.string().min(1).describe('acme-dns subdomain that _acme-challenge CNAMEs point to, from /register'),
});

type AcmeDnsAttributes = z.output<typeof schema>;

/** The `{"error": …}` codes of acme-dns `/update` (api/auth.go, api/update.go), with what they mean here. */
const UPDATE_ERRORS: Record<string, string> = {
  forbidden: 'wrong username or password, a subdomain this account does not own, or an address outside its allowfrom list',
  bad_txt: 'the value is not 43 characters of base64url',
  bad_subdomain: 'the subdomain is not a valid label',
  db_error: 'the server could not store the value',
};

/** acme-dns's own formats (api/util.go): a UUID username and a 40-character key. */
const USERNAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PASSWORD = /^[A-Za-z0-9_-]{40}$/;

/**
 * joohoi/acme-dns: one subdomain per account, updated with `POST /update`. The user's
 * `_acme-challenge.<domain>` is a CNAME to `<subdomain>.<acme-dns domain>` (the issuance code follows
 * it), so every name this authenticator serves is written to the same subdomain.
 */
class AcmeDns implements DnsProvider {
  private readonly baseUrl: string;

  constructor(
    private readonly attributes: AcmeDnsAttributes,
    private readonly context: ProviderContext,
  ) {
    this.baseUrl = (context.baseUrl ?? attributes.api_url).replace(/\/$/, '');
  }

  async createTxt(_fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    const response = await httpCall(KEY, this.context, {
      method: 'POST',
      url: `${this.baseUrl}/update`,
      headers: { 'x-api-user': this.attributes.username, 'x-api-key': this.attributes.password },
      body: { subdomain: this.attributes.subdomain, txt: value },
      signal,
    });
    if (response.status === 200) return;
    const code = (response.json as { error?: string } | undefined)?.error;
    const meaning = code === undefined ? undefined : UPDATE_ERRORS[code];
    throw new DnsProviderError(KEY, code ? `${code}${meaning ? `: ${meaning}` : ''}` : `HTTP ${response.status} from POST /update`, response.status);
  }

  /**
   * acme-dns has no delete: each subdomain holds the two most recent values (so an apex and a
   * wildcard challenge can be live at once) and every update pushes out the oldest. A leftover
   * value is a spent single-use token, so there is nothing to clean up.
   */
  deleteTxt(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Credentials can only be proven by an update, which would push out a value a running
   * challenge may still need; so this checks their shape and that the server answers `GET /health`.
   */
  async verify(signal?: AbortSignal): Promise<void> {
    if (!USERNAME.test(this.attributes.username)) throw new DnsProviderError(KEY, 'the username is not an acme-dns account id (a UUID)');
    if (!PASSWORD.test(this.attributes.password)) throw new DnsProviderError(KEY, 'the password is not an acme-dns key (40 characters)');
    const response = await httpCall(KEY, this.context, { method: 'GET', url: `${this.baseUrl}/health`, signal });
    if (response.status !== 200) throw new DnsProviderError(KEY, `GET /health answered HTTP ${response.status} (acme-dns before v0.7 has no /health)`, response.status);
  }
}

/** An acme-dns server (joohoi/acme-dns or compatible) holding delegated `_acme-challenge` names. */
export const acmeDnsProvider: ProviderDefinition<typeof schema> = {
  key: KEY,
  label: 'acme-dns',
  schema: schema,
  secretFields: ['password'],
  create: (attributes, context) => new AcmeDns(attributes, context),
};
