/**
 * Broken variants of a corpus file, the same for the same seed: truncated at several points, the
 * outer length corrupted, the outer tag wrong, garbage appended, and for PEM a body that is not
 * base64. The DER is broken inside its armour, so that a PEM file stays PEM and a DER file stays DER.
 */
import type { Chooser } from './generate.js';

export interface Variant {
  /** What was broken, for messages. */
  name: string;
  /** The broken file: PEM text, or DER bytes. */
  bytes: Buffer;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]+?)-----END \1-----\r?\n?/;

/** DER with the outer length grown by one, in whichever length form it has. */
function withLongerLength(der: Buffer): Buffer {
  const copy = Buffer.from(der);
  const first = copy[1]!;
  // Short form: the length itself; long form: its last byte (0xff rolls over to a shorter length, still wrong).
  const at = first < 0x80 ? 1 : 1 + (first & 0x7f);
  copy[at] = (copy[at]! + 1) & 0xff;
  return copy;
}

/** DER-level breakages of one structure, each at positions drawn from `rng`. */
function brokenDers(der: Buffer, rng: Chooser): Array<[string, Buffer]> {
  const cut = (at: number): [string, Buffer] => [`truncated to ${at} of ${der.length} bytes`, der.subarray(0, at)];
  const garbage = Buffer.from(Array.from({ length: rng.int(1, 16) }, () => rng.int(0, 255)));
  return [
    cut(rng.int(1, Math.max(1, Math.floor(der.length / 2)))),
    cut(rng.int(Math.floor(der.length / 2), der.length - 1)),
    cut(der.length - 1),
    ['outer length corrupted', withLongerLength(der)],
    ['outer tag SET instead of SEQUENCE', Buffer.concat([Buffer.from([der[0]! === 0x30 ? 0x31 : 0x30]), der.subarray(1)])],
    [`${garbage.length} garbage bytes appended`, Buffer.concat([der, garbage])],
  ];
}

const armour = (label: string, headers: string, der: Buffer): string =>
  `-----BEGIN ${label}-----\n${headers}${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n?$/, '\n')}-----END ${label}-----\n`;

/**
 * The variants of a file. For PEM only its first block is broken (a chain keeps its other blocks),
 * plus two bodies that are not base64: a character dropped and one inserted that base64 lacks.
 */
export function malformedVariants(file: Buffer, format: 'PEM' | 'DER', rng: Chooser): Variant[] {
  if (format === 'DER') return brokenDers(file, rng).map(([name, bytes]) => ({ name, bytes }));
  const text = file.toString('utf8');
  const match = PEM_BLOCK.exec(text);
  if (!match) throw new Error('a PEM corpus file without a PEM block');
  const [block, label, body] = match as unknown as [string, string, string];
  const replaceBlock = (replacement: string) => Buffer.from(text.replace(block, replacement));
  // Encrypted traditional keys carry `Proc-Type`/`DEK-Info` headers and a blank line before the base64.
  const split = body.indexOf('\n\n');
  const headers = split >= 0 ? body.slice(0, split + 2) : '';
  const der = Buffer.from(body.slice(headers.length).replace(/\s+/g, ''), 'base64');
  // Under such headers the body is ciphertext, not DER: only a cut breaks it for sure (a changed
  // byte or a whole block more decrypts to garbage that could, by chance, look padded).
  const broken = brokenDers(der, rng).filter(([name]) => !headers || name.startsWith('truncated'));
  const variants = broken.map(([name, bytes]) => ({ name, bytes: replaceBlock(armour(label, headers, bytes)) }));
  // Headers such as Proc-Type stay; only base64 lines are touched.
  const lines = body.split('\n');
  const base64Lines = lines.map((line, index) => (/^[A-Za-z0-9+/=]{8,}$/.test(line) ? index : -1)).filter((index) => index >= 0);
  const lineIndex = rng.pick(base64Lines);
  const line = lines[lineIndex]!;
  const position = rng.int(1, line.length - 2);
  const edit = (replacement: string) => replaceBlock(block.replace(body, lines.map((l, i) => (i === lineIndex ? replacement : l)).join('\n')));
  variants.push({ name: `base64 character dropped on body line ${lineIndex + 1}`, bytes: edit(line.slice(0, position) + line.slice(position + 1)) });
  // Lenient base64 decoders skip the "*" and read the original bytes; openssl refuses the block.
  variants.push({ name: `"*" inserted in body line ${lineIndex + 1}`, bytes: edit(`${line.slice(0, position)}*${line.slice(position)}`) });
  return variants;
}
