/** One `-----BEGIN <label>-----` block. */
export interface PemBlock {
  label: string;
  /** Decoded body (for legacy encrypted keys: the ciphertext; the RFC 1421 headers are skipped). */
  der: Buffer;
  /** The block exactly as found, from BEGIN through END, without a trailing newline. */
  pem: string;
}

const PEM_BLOCK = /-----BEGIN ([^\r\n-]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

/** Every PEM block in `text`, in order; `[]` when there is none. */
export function splitPem(text: string): PemBlock[] {
  return [...text.matchAll(PEM_BLOCK)].map(([pem, label = '', body = '']) => ({
    label,
    der: Buffer.from(stripHeaders(body).replace(/\s+/g, ''), 'base64'),
    pem,
  }));
}

/** Drops RFC 1421 headers such as `Proc-Type: 4,ENCRYPTED` and `DEK-Info: …`. */
function stripHeaders(body: string): string {
  return body
    .split(/\r?\n/)
    .filter((line) => !line.includes(':'))
    .join('\n');
}

/** PEM text: 64-column base64 with a trailing newline. */
export function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}${lines.length ? '\n' : ''}-----END ${label}-----\n`;
}

