/** One `-----BEGIN <label>-----` block. */
export interface PemBlock {
  label: string;
  /** Decoded body (for legacy encrypted keys: the ciphertext; the RFC 1421 headers are skipped). */
  der: Buffer;
  /** The block exactly as found, from BEGIN through END, without a trailing newline. */
  pem: string;
}

const BEGIN_LINE = /-----BEGIN ([^\r\n-]+)-----\r?\n/y;
const END_MARKER = /-----END ([^\r\n-]+)-----/y;

/**
 * Every PEM block in `text`, in order; `[]` when there is none. A block runs from a BEGIN line to
 * the first `-----END <same label>-----` after it. Linear in the text: END markers are indexed
 * once, so thousands of BEGIN lines without an END do not each rescan the rest of the text.
 */
export function splitPem(text: string): PemBlock[] {
  const ends = endMarkers(text);
  const blocks: PemBlock[] = [];
  for (let from = 0; ; ) {
    const begin = text.indexOf('-----BEGIN ', from);
    if (begin === -1) return blocks;
    BEGIN_LINE.lastIndex = begin;
    const header = BEGIN_LINE.exec(text);
    const label = header?.[1];
    const bodyStart = begin + (header?.[0].length ?? 0);
    const end = label === undefined ? undefined : firstAtOrAfter(ends.get(label) ?? [], bodyStart);
    if (label === undefined || end === undefined) {
      from = begin + 1;
      continue;
    }
    const stop = end + `-----END ${label}-----`.length;
    blocks.push({ label, der: decodeBody(stripHeaders(text.slice(bodyStart, end))), pem: text.slice(begin, stop) });
    from = stop;
  }
}

/** Where each label's END markers start, ascending; markers may overlap (`-----END A-----END A-----`). */
function endMarkers(text: string): Map<string, number[]> {
  const ends = new Map<string, number[]>();
  for (let at = text.indexOf('-----END '); at !== -1; at = text.indexOf('-----END ', at + 1)) {
    END_MARKER.lastIndex = at;
    const label = END_MARKER.exec(text)?.[1];
    if (label === undefined) continue;
    const positions = ends.get(label) ?? [];
    positions.push(at);
    ends.set(label, positions);
  }
  return ends;
}

/** The first of ascending `positions` at or after `start`. */
function firstAtOrAfter(positions: readonly number[], start: number): number | undefined {
  let low = 0;
  let high = positions.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (positions[middle]! < start) low = middle + 1;
    else high = middle;
  }
  return positions[low];
}

/** Whole base64 groups, padding only at the end. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * A body that is not base64 decodes to nothing, which no reader accepts: Buffer.from would skip a
 * stray character and read the block as if it were intact, where openssl refuses it.
 */
function decodeBody(body: string): Buffer {
  const compact = body.replace(/\s+/g, '');
  return BASE64.test(compact) ? Buffer.from(compact, 'base64') : Buffer.alloc(0);
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

