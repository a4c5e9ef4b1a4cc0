/**
 * The SAN input's check of one entry, as the server reads them (src/crypto/san.ts): `DNS:`, `IP:`,
 * `email:` and `URI:` prefixes, or bare names, addresses, e-mail addresses and URIs.
 */

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const URI_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
const DNS_LABEL = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/;

const isIpv6 = (text: string) => text.includes(':') && /^[0-9a-f:.]+$/i.test(text) && URL.canParse(`http://[${text}]/`);
const isIp = (text: string) => IPV4.test(text) || isIpv6(text);

function dnsProblem(name: string): string | null {
  // Internationalized names go as punycode, as the server converts them.
  const ascii = /[^\x20-\x7e]/.test(name) && URL.canParse(`http://${name}/`) ? new URL(`http://${name}/`).hostname : name;
  if (ascii.length > 253) return 'a DNS name has at most 253 characters';
  const labels = ascii.split('.');
  for (const [i, label] of labels.entries()) {
    if (label === '*' && i === 0 && labels.length > 1) continue;
    if (!DNS_LABEL.test(label)) return label === '' ? 'a DNS name has no empty parts' : `"${label}" is not a valid part of a DNS name`;
  }
  return null;
}

/** Why an entry is not a SAN, or null when it is one. */
export function sanProblem(raw: string): string | null {
  // "IP Address:" is how openssl prints them, and the server takes it back.
  const text = raw.trim().replace(/^IP Address:/i, 'IP:');
  if (/\s/.test(text)) return `"${text}" contains a space: enter one name at a time (comma or Enter after each)`;
  const typed = /^(DNS|IP|email|URI):(.*)$/i.exec(text);
  const [kind, value] = typed ? [typed[1]!.toUpperCase(), typed[2]!] : [null, text];
  if (!value) return `"${text}" has nothing after its prefix`;
  if (kind === 'IP' || (!kind && isIp(value))) return isIp(value) ? null : `"${value}" is not an IPv4 or IPv6 address`;
  if (kind === 'EMAIL' || (!kind && value.includes('@') && !value.includes('/'))) {
    const at = value.lastIndexOf('@');
    return at > 0 && at < value.length - 1 ? null : `"${value}" is not an e-mail address`;
  }
  if (kind === 'URI' || (!kind && URI_SCHEME.test(value))) return URI_SCHEME.test(value) && URL.canParse(value) ? null : `"${value}" is not a URI such as https://nas.example.com/`;
  const problem = dnsProblem(value);
  return problem ? `"${value}" is not a DNS name: ${problem}` : null;
}
