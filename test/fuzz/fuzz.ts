/**
 * Shared parts of the property-based fuzz suite: a fixed seed (every run replays the same cases),
 * the seed files, arbitraries that damage valid inputs (random bytes rarely get past the first
 * tag), and the check that a parser failed only in the way its callers expect.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { childrenOf, parseDer, readNode, tlv, type DerNode } from '../helpers/tlv.js';
import { splitPem, toPem } from '../../src/crypto/pem.js';

/**
 * The suite always replays the same cases. To hunt for new counterexamples locally, set
 * `FUZZ_SEED` to another number and `FUZZ_SCALE` to run each property that many times as often;
 * every counterexample found gets a fix and a regression test holding it.
 */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20251207);
const FUZZ_SCALE = Number(process.env.FUZZ_SCALE ?? 1);

/** Runs of one property: a few hundred by default. */
export const runs = (count = 300): number => Math.round(count * FUZZ_SCALE);

fc.configureGlobal({ seed: FUZZ_SEED, numRuns: runs() });

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** A seed file made by `fixtures/make.sh`. */
export function fixture(name: string): Buffer {
  return fs.readFileSync(path.join(FIXTURES, name));
}

/** The passphrase of every encrypted seed file. */
export const FIXTURE_PASSPHRASE = 'fuzz-pass';

/** The DER inside the first PEM block of a seed file. */
export function fixtureDer(name: string): Buffer {
  const block = splitPem(fixture(name).toString())[0];
  if (!block) throw new Error(`${name} holds no PEM block`);
  return block.der;
}

// ---------------------------------------------------------------------------------------------
// Failing the expected way

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * An error raised by a bug rather than by the input: TypeError, RangeError (stack overflow among
 * them) or ReferenceError from JavaScript itself. Node's own errors carry a `code` (`ERR_OSSL_…`,
 * `ERR_INVALID_ARG_VALUE`) and are how its parsers refuse bytes.
 */
function isCrash(error: unknown): boolean {
  const crashClass = error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError;
  return crashClass && typeof (error as { code?: unknown }).code !== 'string';
}

/** Throws unless `error` is one of `allowed`, with no crash anywhere in its `cause` chain. */
export function assertExpectedFailure(error: unknown, allowed: readonly ErrorClass[]): void {
  if (!allowed.some((type) => error instanceof type)) throw error;
  for (let cause = (error as Error).cause; cause !== undefined && cause !== null; cause = (cause as Error).cause) {
    if (isCrash(cause)) throw new Error(`${(error as Error).name} wraps a crash: ${String(cause)}`, { cause });
  }
}

/** Runs a parser: it may return anything or throw one of `allowed`. */
export function parsesOrRefuses<T>(allowed: readonly ErrorClass[], parse: () => T): T | undefined {
  try {
    return parse();
  } catch (error) {
    assertExpectedFailure(error, allowed);
    return undefined;
  }
}

/** `parsesOrRefuses` for asynchronous parsers. */
export async function parsesOrRefusesAsync<T>(allowed: readonly ErrorClass[], parse: () => Promise<T>): Promise<T | undefined> {
  try {
    return await parse();
  } catch (error) {
    assertExpectedFailure(error, allowed);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Damaged inputs

/** Bytes that often mean something in a TLV header: lengths (short, long, indefinite, huge), tags. */
const HEADER_BYTES = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0x13, 0x17, 0x18, 0x1e, 0x1f, 0x24, 0x30, 0x31, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x88, 0xa0, 0xa3, 0xff];

/** Offsets of every tag and length byte in valid DER (found with the reader on input it handles). */
export function headerOffsets(der: Buffer): number[] {
  const offsets: number[] = [];
  const pending: Array<{ start: number; end: number }> = [{ start: 0, end: der.length }];
  while (pending.length > 0) {
    const { start, end } = pending.pop()!;
    for (let offset = start; offset < end; ) {
      const node = readNode(der, offset);
      const bodyStart = offset + node.raw.length - node.body.length;
      for (let i = offset; i < bodyStart; i++) offsets.push(i);
      if (node.constructed) pending.push({ start: bodyStart, end: bodyStart + node.body.length });
      offset += node.raw.length;
    }
  }
  return offsets.sort((a, b) => a - b);
}

function copyWith(seed: Buffer, edits: ReadonlyArray<{ at: number; value: number }>): Buffer {
  const out = Buffer.from(seed);
  for (const { at, value } of edits) out[at % out.length] = value;
  return out;
}

/**
 * `seed` damaged one way: bytes overwritten anywhere or in TLV headers, cut short, extended,
 * a slice replaced or repeated.
 */
export function damagedBytes(seed: Buffer): fc.Arbitrary<Buffer> {
  const headers = headerOffsetsOrNone(seed);
  const anyByte = fc.record({ at: fc.nat({ max: seed.length - 1 }), value: fc.integer({ min: 0, max: 255 }) });
  const headerByte = fc.record({ at: fc.constantFrom(...headers), value: fc.constantFrom(...HEADER_BYTES) });
  const slice = fc.tuple(fc.nat({ max: seed.length }), fc.nat({ max: seed.length })).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as const);
  return fc.oneof(
    fc.array(anyByte, { minLength: 1, maxLength: 6 }).map((edits) => copyWith(seed, edits)),
    fc.array(headerByte, { minLength: 1, maxLength: 3 }).map((edits) => copyWith(seed, edits)),
    fc.nat({ max: seed.length }).map((length) => seed.subarray(0, length)),
    fc.uint8Array({ minLength: 1, maxLength: 48 }).map((tail) => Buffer.concat([seed, tail])),
    fc.tuple(slice, fc.uint8Array({ maxLength: 16 })).map(([[from, to], bytes]) => Buffer.concat([seed.subarray(0, from), bytes, seed.subarray(to)])),
    fc.tuple(slice, fc.integer({ min: 2, max: 40 })).map(([[from, to], times]) =>
      Buffer.concat([seed.subarray(0, from), ...Array<Buffer>(times).fill(seed.subarray(from, to)), seed.subarray(to)]),
    ),
  );
}

function headerOffsetsOrNone(seed: Buffer): number[] {
  try {
    const offsets = headerOffsets(seed);
    return offsets.length > 0 ? offsets : [0];
  } catch {
    return [0];
  }
}

/** Any of `seeds`, damaged. */
export function damagedOf(seeds: readonly Buffer[]): fc.Arbitrary<Buffer> {
  return fc.oneof(...seeds.map(damagedBytes));
}

/** PEM text damaged as text: lines dropped, repeated or cut, a label changed, junk or headers inserted. */
export function damagedPemText(seed: string): fc.Arbitrary<string> {
  const lines = seed.trimEnd().split('\n');
  const at = fc.nat({ max: lines.length - 1 });
  const junk = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.constantFrom('-----BEGIN CERTIFICATE-----', '-----END CERTIFICATE-----', 'Proc-Type: 4,ENCRYPTED', 'DEK-Info: AES-128-CBC,00', '====', '-----', '\r', ''),
  );
  const edit = (change: (copy: string[]) => void) => {
    const copy = [...lines];
    change(copy);
    return copy.join('\n') + '\n';
  };
  return fc.oneof(
    at.map((i) => edit((copy) => copy.splice(i, 1))),
    fc.tuple(at, junk).map(([i, text]) => edit((copy) => copy.splice(i, 0, text))),
    fc.tuple(at, fc.nat({ max: 80 })).map(([i, cut]) => edit((copy) => (copy[i] = copy[i]!.slice(0, cut)))),
    fc.tuple(at, fc.integer({ min: 2, max: 30 })).map(([i, times]) => edit((copy) => copy.splice(i, 0, ...Array<string>(times).fill(copy[i]!)))),
    fc.constantFrom('ENCRYPTED PRIVATE KEY', 'PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'CERTIFICATE', 'X509 CRL', 'CERTIFICATE REQUEST').map((label) =>
      seed.replace(/-----(BEGIN|END) [^-]+-----/g, `-----$1 ${label}-----`),
    ),
    fc.nat({ max: seed.length }).map((length) => seed.slice(0, length)),
  );
}

/** A PEM seed with its DER damaged and armoured again under its own label. */
export function damagedPem(seed: string): fc.Arbitrary<string> {
  const block = splitPem(seed)[0]!;
  const headers = block.pem.split('\n').filter((line) => line.includes(':'));
  return damagedBytes(block.der).map((der) => {
    const pem = toPem(block.label, der);
    // Legacy encrypted keys keep their Proc-Type and DEK-Info headers in front of the body.
    return headers.length === 0 ? pem : pem.replace('-----\n', `-----\n${headers.join('\n')}\n\n`);
  });
}

/** DER trees with random tags, definite and indefinite lengths: they get deeper into parsers than random bytes. */
export const randomDer: fc.Arbitrary<Buffer> = fc.letrec<{ node: Buffer }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(fc.constantFrom(0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0x13, 0x16, 0x17, 0x18, 0x1e, 0x80, 0x81, 0x82, 0x86, 0x87), fc.uint8Array({ maxLength: 24 })).map(
      ([tag, body]) => Buffer.concat([Buffer.from([tag, body.length]), body]),
    ),
    fc.tuple(fc.constantFrom(0x30, 0x31, 0x24, 0x23, 0xa0, 0xa1, 0xa3), fc.array(tie('node'), { maxLength: 4 }), fc.boolean()).map(([tag, children, indefinite]) => {
      const body = Buffer.concat(children);
      if (indefinite) return Buffer.concat([Buffer.from([tag, 0x80]), body, Buffer.from([0, 0])]);
      return body.length < 0x80 ? Buffer.concat([Buffer.from([tag, body.length]), body]) : Buffer.concat([Buffer.from([tag, 0x82, body.length >> 8, body.length & 0xff]), body]);
    }),
  ),
})).node;

/**
 * Constructed values nested `depth` deep, as deep as a 64 KB message allows: indefinite lengths
 * (`30 80 … 00 00`) or definite ones, with a chosen tag, around `core`.
 */
export function nestedDer(depth: number, tag: number, indefinite: boolean, core: Buffer = Buffer.from([0x05, 0x00])): Buffer {
  if (indefinite) return Buffer.concat([Buffer.from(Array.from({ length: depth }, () => [tag, 0x80]).flat()), core, Buffer.alloc(depth * 2)]);
  // Headers from the innermost out, each counting what it wraps; written outermost first.
  const headers: number[][] = [];
  let length = core.length;
  for (let level = 0; level < depth; level++) {
    const header = length < 0x80 ? [tag, length] : length < 0x100 ? [tag, 0x81, length] : length < 0x10000 ? [tag, 0x82, length >> 8, length & 0xff] : [tag, 0x83, length >> 16, (length >> 8) & 0xff, length & 0xff];
    headers.push(header);
    length += header.length;
  }
  return Buffer.concat([Buffer.from(headers.reverse().flat()), core]);
}

// ---------------------------------------------------------------------------------------------
// Structure-aware damage: one value deep inside is changed and every length around it is fixed,
// so the input gets past the outer layers to the field readers.

interface Tree {
  tag: number;
  body: Buffer | Tree[];
}

function toTree(node: DerNode): Tree {
  return { tag: node.tag, body: node.constructed ? childrenOf(node).map(toTree) : node.body };
}

function encode(tree: Tree): Buffer {
  return Array.isArray(tree.body) ? tlv(tree.tag, tree.body.map(encode)) : tlv(tree.tag, tree.body);
}

function preorder(tree: Tree): Tree[] {
  const nodes: Tree[] = [];
  const pending = [tree];
  while (pending.length > 0) {
    const node = pending.pop()!;
    nodes.push(node);
    if (Array.isArray(node.body)) pending.push(...[...node.body].reverse());
  }
  return nodes;
}

type TreeEdit = (node: Tree) => void;

const UNIVERSAL_TAGS = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0a, 0x0c, 0x12, 0x13, 0x14, 0x16, 0x17, 0x18, 0x1a, 0x1c, 0x1e, 0x30, 0x31, 0x80, 0x81, 0x82, 0x86, 0x87, 0x88, 0xa0, 0xa3];

/** Bodies that sit at the edges of what field readers accept: empty, lone high bits, odd lengths, bad times. */
const EDGE_BODIES = [
  '', '00', '80', 'ff', '0000', '00ff', 'ffff', '8000000000000000', '7fffffffffffffffff', '01', '0001', '3939393931323331323335393539', '393939393132333132333539355a',
  '3030303030303030303030305a', '313330323239303030303030305a', '0000d800', '0011ffff', 'd800', '2a864886f70d', '2a', '80808080808080808001', 'c0c1', 'ffd8',
].map((hex) => Buffer.from(hex, 'hex'));

const treeEdits: fc.Arbitrary<TreeEdit> = fc.oneof(
  fc.uint8Array({ maxLength: 24 }).map((bytes): TreeEdit => (node) => void (node.body = Buffer.from(bytes))),
  fc.constantFrom(...EDGE_BODIES).map((body): TreeEdit => (node) => void (node.body = body)),
  fc.constantFrom(...UNIVERSAL_TAGS).map((tag): TreeEdit => (node) => void (node.tag = Array.isArray(node.body) ? tag | 0x20 : tag & ~0x20)),
  fc.nat().map((i): TreeEdit => (node) => void (Array.isArray(node.body) && node.body.length > 0 && node.body.splice(i % node.body.length, 1))),
  fc.nat().map((i): TreeEdit => (node) => void (Array.isArray(node.body) && node.body.length > 0 && node.body.splice(i % node.body.length, 0, node.body[i % node.body.length]!))),
  randomDer.map((der): TreeEdit => (node) => void (Array.isArray(node.body) ? node.body.push(toTree(parseDer(der))) : (node.body = der))),
);

/** `seed` (valid DER) with one to three values inside changed, lengths kept consistent. */
export function damagedTree(seed: Buffer): fc.Arbitrary<Buffer> {
  const size = preorder(toTree(parseDer(seed))).length;
  return fc.array(fc.tuple(fc.nat({ max: size - 1 }), treeEdits), { minLength: 1, maxLength: 3 }).map((edits) => {
    const tree = toTree(parseDer(seed));
    for (const [index, edit] of edits) {
      const nodes = preorder(tree);
      edit(nodes[index % nodes.length]!);
    }
    return encode(tree);
  });
}
