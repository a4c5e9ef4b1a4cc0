import { parseCertificate } from '../crypto/certificates.js';
import { integerOctets } from '../crypto/asn1.js';
import { loadAcmeClient, withTransport, type AcmeTransport } from './client.js';

/** RFC 9773 §4.2: when the CA suggests renewing a certificate. */
export interface SuggestedWindow {
  start: Date;
  end: Date;
  /** A page explaining the window (for example after a mass revocation), for the operator. */
  explanationUrl: string | null;
}

/**
 * The RFC 9773 §4.1 certificate identifier: base64url(AKI keyIdentifier) "." base64url(serial
 * number content octets), or null when the certificate has no authority key identifier to name it by.
 */
export function ariCertificateId(certificatePem: string): string | null {
  const { authority_key_identifier: keyId, serial } = parseCertificate(certificatePem);
  if (!keyId || serial === null) return null;
  const keyIdentifier = Buffer.from(keyId.replace(/:/g, ''), 'hex');
  // The DER INTEGER's content octets, leading 0x00 included when the top bit is set.
  const serialOctets = Buffer.from(integerOctets(BigInt(serial)));
  return `${keyIdentifier.toString('base64url')}.${serialOctets.toString('base64url')}`;
}

/**
 * Asks the CA's renewalInfo resource for a certificate's suggested window (RFC 9773 §4.1: an
 * unauthenticated GET of `<renewalInfo>/<certID>`), through the registration's transport so the
 * CA's trust, the timeout and the job's abort apply as to every other ACME request.
 *
 * @throws Error naming the server when it cannot be reached or answers an error, or the URL when
 * the answer is not a usable window.
 */
export async function fetchSuggestedWindow(renewalInfoUrl: string, certificateId: string, transport: AcmeTransport): Promise<SuggestedWindow> {
  const url = `${renewalInfoUrl.replace(/\/+$/, '')}/${certificateId}`;
  const { axios } = await loadAcmeClient();
  const response = await withTransport(transport, () => axios.get<unknown>(url));
  return parseWindow(url, response.data);
}

/** RFC 9773 §4.2: the RenewalInfo object (acme-client's axios has parsed JSON already). */
function parseWindow(url: string, data: unknown): SuggestedWindow {
  const info = (typeof data === 'object' && data !== null ? data : {}) as { suggestedWindow?: { start?: unknown; end?: unknown }; explanationURL?: unknown };
  const start = new Date(String(info.suggestedWindow?.start));
  const end = new Date(String(info.suggestedWindow?.end));
  // A window that ends before it starts is no advice at all.
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end < start) {
    throw new Error(`GET ${url} answered no valid suggestedWindow`);
  }
  return { start, end, explanationUrl: typeof info.explanationURL === 'string' ? info.explanationURL : null };
}

/**
 * RFC 9773 §4.2: pick a uniformly random time in the window; renew now when it has passed or comes
 * before `nextCheck`, the next time the renewal job would look again.
 */
export function windowSaysRenew(window: SuggestedWindow, nextCheck: Date, random: () => number = Math.random): boolean {
  const chosen = window.start.getTime() + random() * (window.end.getTime() - window.start.getTime());
  return chosen <= nextCheck.getTime();
}
