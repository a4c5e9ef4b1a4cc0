import { stringify } from '../client/ejson.js';

/**
 * A method result already written as ejson text; replies splice it in as it is. Anything that
 * serialises it some other way gets the value it stands for.
 */
export class JsonText {
  /** The text in pieces, in order: a long list stays a list of entry texts instead of one copy of them all. */
  constructor(readonly chunks: readonly string[]) {}

  get text(): string {
    return this.chunks.join('');
  }

  toJSON(): unknown {
    return JSON.parse(this.text);
  }
}

/**
 * A method result written as ejson text while its rows are read, page by page: the reply goes out
 * in fragments as it is written, so a long list is never held whole. Only a reply can carry it.
 */
export class JsonStream {
  /** Its pieces: whole pages of entries as UTF-8 bytes, or text. */
  constructor(readonly pieces: AsyncIterable<Buffer | string>) {}

  toJSON(): never {
    throw new Error('A streamed result can only be sent as a reply');
  }
}

/** The text of a nested object written once per reply; its UTF-8 bytes are made once, when it is written again. */
class SharedText {
  private encoded: Buffer | null = null;

  constructor(readonly text: string) {}

  get bytes(): Buffer {
    return (this.encoded ??= Buffer.from(this.text));
  }
}

/** An entry's text in order: its own text, and the texts of objects written before (a nested CA entry). */
type Piece = string | SharedText;

/**
 * Writes query entries as `stringify` would, character for character, but each object that
 * several entries share (a CA nested as `signedby` and `issuer` in every certificate it signed)
 * is written once per reply and its text reused (in a page of bytes, its bytes copied), and plain
 * values go to `JSON.stringify` without a replacer.
 */
class EntriesWriter {
  private readonly written = new Written();
  private count = 0;

  /** The text of the next entries of the list, each with the bracket or comma before it. */
  entries(entries: readonly unknown[]): string[] {
    // Array.from visits holes (as undefined, written null), which map skips.
    return Array.from(entries, (entry) => {
      const pieces: Piece[] = [];
      this.entryPieces(entry, pieces);
      return joinPieces(pieces);
    });
  }

  /**
   * The UTF-8 bytes of the next entries of the list, as `entries` writes them, in chunks of about
   * FRAGMENT_LENGTH that end between entries: a chunk is a fragment of the reply as it is.
   */
  page(entries: Iterable<unknown>): Buffer[] {
    const chunks: Buffer[] = [];
    let pieces: Piece[] = [];
    let length = 0;
    for (const entry of entries) {
      const first = pieces.length;
      this.entryPieces(entry, pieces);
      for (let i = first; i < pieces.length; i++) length += pieceLength(pieces[i]!);
      if (length < FRAGMENT_LENGTH) continue;
      chunks.push(piecesBytes(pieces));
      pieces = [];
      length = 0;
    }
    if (pieces.length > 0) chunks.push(piecesBytes(pieces));
    return chunks;
  }

  /** What closes the list. */
  end(): string {
    return this.count === 0 ? '[]' : ']';
  }

  value(value: unknown): string {
    return encode(value, this.written);
  }

  /** Adds the next entry's pieces to `pieces`, the bracket or comma before it first. */
  private entryPieces(entry: unknown, pieces: Piece[]): void {
    pieces.push(this.count++ === 0 ? '[' : ',');
    // An entry itself is written once: only what it nests is kept for reuse.
    if (skipped(entry)) pieces.push('null');
    else if (entry === null || typeof entry !== 'object' || !isPlainObject(entry)) pieces.push(encode(entry, this.written));
    else objectPieces(entry, this.written, pieces);
  }
}

/** What one reply has written so far. */
class Written {
  /**
   * Texts of the nested objects. Weak: the objects of one page's entries (and their texts) go once
   * the page is sent, while a CA entry the context holds for the whole reply stays.
   */
  readonly objects = new WeakMap<object, SharedText>();
  /** Keys as written before their values (`"name":`): entries repeat the same few dozen. */
  private readonly keys = new Map<string, string>();

  key(key: string): string {
    let text = this.keys.get(key);
    if (text === undefined) this.keys.set(key, (text = `${JSON.stringify(key)}:`));
    return text;
  }
}

/** How long a piece is: in characters for text, in bytes for a shared text (either is near enough for a fragment's length). */
const pieceLength = (piece: Piece): number => (typeof piece === 'string' ? piece.length : piece.bytes.length);

const joinPieces = (pieces: readonly Piece[]): string => pieces.map((piece) => (typeof piece === 'string' ? piece : piece.text)).join('');

/** The UTF-8 bytes of `pieces`: strings encoded, shared texts copied from their bytes. */
function piecesBytes(pieces: readonly Piece[]): Buffer {
  let length = 0;
  for (const piece of pieces) length += typeof piece === 'string' ? Buffer.byteLength(piece) : piece.bytes.length;
  const bytes = Buffer.allocUnsafe(length);
  let offset = 0;
  for (const piece of pieces) offset += typeof piece === 'string' ? bytes.write(piece, offset) : piece.bytes.copy(bytes, offset);
  return bytes;
}

/** `result` as `EntriesWriter` writes it: a list stays a list of entry texts instead of one copy of them all. */
export function entriesText(result: unknown): JsonText {
  const writer = new EntriesWriter();
  if (!Array.isArray(result) || result.length === 0) return new JsonText([writer.value(result)]);
  return new JsonText([...writer.entries(result), writer.end()]);
}

/**
 * A list read in pages, as `EntriesWriter` writes it, each page as chunks of UTF-8 bytes. The first page
 * is read here, so that a query that fails, fails before any of its reply is sent; a list of one
 * page is plain `JsonText`. Each page is iterated whole before the next is asked for (see `queryPages`).
 */
export async function entriesStream(pages: AsyncIterator<Iterable<unknown>>): Promise<JsonText | JsonStream> {
  const writer = new EntriesWriter();
  const first = await pages.next();
  const firstEntries = first.done ? [] : [...first.value];
  const second = first.done ? first : await pages.next();
  if (second.done) return new JsonText([...writer.entries(firstEntries), writer.end()]);
  const firstChunks = writer.page(firstEntries);
  async function* pieces(): AsyncGenerator<Buffer | string> {
    yield* firstChunks;
    for (let page = second; !page.done; page = await pages.next()) yield* writer.page(page.value);
    yield writer.end();
  }
  return new JsonStream(pieces());
}

/** What JSON leaves out of objects and writes as null in arrays. */
const skipped = (value: unknown): boolean => value === undefined || typeof value === 'function' || typeof value === 'symbol';

function encode(value: unknown, written: Written): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${Array.from(value, (item) => (skipped(item) ? 'null' : encode(item, written))).join(',')}]`;
  if (!isPlainObject(value)) return stringify(value);
  const known = written.objects.get(value);
  if (known !== undefined) return known.text;
  const pieces: Piece[] = [];
  objectPieces(value, written, pieces);
  const text = joinPieces(pieces);
  written.objects.set(value, new SharedText(text));
  return text;
}

/**
 * Stands for a value the native `JSON.stringify` must not write while it writes the rest of an
 * object. Characters JSON writes as they are (each stand-in is written as QUOTED_MARKER), all below
 * U+0100 so that the text stays one byte a character.
 */
export const MARKER = '\x7Fpiece\x7F';
const QUOTED_MARKER = JSON.stringify(MARKER);

/**
 * Below this many characters of strings, a plain object nested in another is written again each time
 * rather than once per reply: keeping it costs more than writing it. A CA entry is about 10 KiB.
 */
const SHARED_LENGTH = 1024;

/**
 * A plain object's text: its own text in strings, and each nested object written before as its
 * `SharedText`. The object is written by one native `JSON.stringify`, the values it must not write
 * as `stringify` does (Dates at any depth, nested objects kept for reuse) standing in as markers
 * while it runs; their texts are then put where the markers are.
 */
function objectPieces(value: Record<string, unknown>, written: Written, pieces: Piece[]): void {
  const swaps = swapsOf(value, written);
  if (swaps.keys.length === 0) {
    pieces.push(JSON.stringify(value));
    return;
  }
  const parts = stringifySwapped(value, swaps)?.split(QUOTED_MARKER);
  // A marker the object held itself (or one that would not stand in) would put a text in the wrong place.
  if (parts?.length !== swaps.keys.length + 1) {
    keyByKeyPieces(value, written, pieces);
    return;
  }
  pieces.push(parts[0]!);
  for (let i = 0; i < swaps.texts.length; i++) pieces.push(swaps.texts[i]!, parts[i + 1]!);
}

/** The values of an object the native `JSON.stringify` must not write, in order: their keys, the values, their texts. */
interface Swaps {
  keys: string[];
  items: object[];
  texts: Piece[];
}

function swapsOf(value: Record<string, unknown>, written: Written): Swaps {
  const swaps: Swaps = { keys: [], items: [], texts: [] };
  // Values read all at once: cheaper than one keyed read for each of an entry's ~60 keys.
  const values = Object.values(value);
  let names: string[] | null = null;
  for (let i = 0; i < values.length; i++) {
    const item = values[i];
    if (item === null || typeof item !== 'object') continue;
    const text = nestedText(item, written);
    if (text === null) continue;
    swaps.keys.push((names ??= Object.keys(value))[i]!);
    swaps.items.push(item);
    swaps.texts.push(text);
  }
  return swaps;
}

/** The text of a value nested in an object, or null when the native `JSON.stringify` writes it as `stringify` does. */
function nestedText(item: object, written: Written): Piece | null {
  const plain = isPlainObject(item);
  const known = plain ? written.objects.get(item) : undefined;
  if (known !== undefined) return known;
  const length = plainLength(item);
  if (length < 0 || (plain && length >= SHARED_LENGTH)) return encode(item, written);
  return null;
}

/**
 * How many characters of strings `value` holds if the native `JSON.stringify` writes it as
 * `stringify` does (it holds only plain objects, arrays and primitives, at any depth), else -1.
 */
function plainLength(value: unknown): number {
  if (typeof value === 'string') return value.length;
  if (value === null || typeof value !== 'object') return 0;
  const items = Array.isArray(value) ? (value as unknown[]) : isPlainObject(value) ? Object.values(value) : null;
  if (items === null) return -1;
  let length = 0;
  for (const item of items) {
    const itemLength = plainLength(item);
    if (itemLength < 0) return -1;
    length += itemLength;
  }
  return length;
}

/**
 * `JSON.stringify(value)` with the values `swaps` names standing in as markers, put back after;
 * null when one cannot stand in (a read-only property) or is no longer the value its text is of.
 */
function stringifySwapped(value: Record<string, unknown>, { keys, items }: Swaps): string | null {
  let swapped = 0;
  try {
    for (; swapped < keys.length; swapped++) {
      if (value[keys[swapped]!] !== items[swapped]) return null;
      value[keys[swapped]!] = MARKER;
    }
    return JSON.stringify(value);
  } catch (error) {
    if (swapped < keys.length) return null;
    throw error;
  } finally {
    for (let i = 0; i < swapped; i++) value[keys[i]!] = items[i];
  }
}

/**
 * A plain object's text as `objectPieces` gives it, written key by key: each key and plain value by
 * the native `JSON.stringify`, each nested object by `encode`.
 */
function keyByKeyPieces(value: Record<string, unknown>, written: Written, pieces: Piece[]): void {
  let text = '{';
  let first = true;
  for (const key of Object.keys(value)) {
    const item = value[key];
    if (skipped(item)) continue;
    text += first ? written.key(key) : `,${written.key(key)}`;
    first = false;
    if (item === null || typeof item !== 'object') {
      text += JSON.stringify(item);
      continue;
    }
    const known = isPlainObject(item) ? written.objects.get(item) : undefined;
    if (known) {
      pieces.push(text, known);
      text = '';
    } else text += encode(item, written);
  }
  pieces.push(`${text}}`);
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(value);
  return (proto === Object.prototype || proto === null) && typeof (value as { toJSON?: unknown }).toJSON !== 'function';
}

/** Fragments of a long reply are about this long: big enough to keep frames few, small enough to stay cheap to copy. */
const FRAGMENT_LENGTH = 256 * 1024;

/**
 * A reply or notification as the text of one WebSocket message, in fragments: `stringify`, except
 * that a `result` given as `JsonText` is spliced in as written, and a long one is sent in pieces
 * rather than first copied into one string. A `JsonStream` result gives the fragments as its
 * pages are written.
 */
export function messageFragments(message: object): string[] | AsyncIterable<Buffer> {
  const result = (message as { result?: unknown }).result;
  if (result instanceof JsonStream) return streamedFragments(message, result);
  if (!(result instanceof JsonText)) return [stringify(message)];
  const joiner = new FragmentJoiner();
  const fragments: string[] = [];
  for (const piece of messagePieces(message, result)) {
    for (const text of piece === RESULT ? result.chunks : [piece]) {
      const fragment = joiner.add(text);
      if (fragment !== null) fragments.push(fragment);
    }
  }
  const rest = joiner.rest();
  if (rest !== '' || fragments.length === 0) fragments.push(rest);
  return fragments;
}

async function* streamedFragments(message: object, result: JsonStream): AsyncGenerator<Buffer> {
  const fragments = new ByteFragments();
  for (const piece of messagePieces(message, result)) {
    for await (const part of piece === RESULT ? result.pieces : [piece]) {
      const fragment = fragments.add(part);
      if (fragment) yield fragment;
    }
  }
  yield fragments.rest();
}

/** Where `messagePieces` puts the result's own pieces. */
const RESULT = Symbol('result');

/** The message's text in pieces, `result` standing as RESULT. */
function* messagePieces(message: object, result: JsonText | JsonStream): Generator<string | typeof RESULT> {
  let first = true;
  for (const [key, value] of Object.entries(message)) {
    if (value === undefined) continue;
    yield `${first ? '{' : ','}${JSON.stringify(key)}:`;
    first = false;
    yield value === result ? RESULT : stringify(value);
  }
  yield '}';
}

/** Joins pieces of text into fragments of about FRAGMENT_LENGTH. */
class FragmentJoiner {
  private fragment = '';

  /** A fragment once enough text has come, else null. */
  add(text: string): string | null {
    this.fragment += text;
    if (this.fragment.length < FRAGMENT_LENGTH) return null;
    const full = this.fragment;
    this.fragment = '';
    return full;
  }

  /** The text not yet given as a fragment. */
  rest(): string {
    return this.fragment;
  }
}

/** Gathers pieces of bytes into fragments of at least FRAGMENT_LENGTH; a piece that long is a fragment as it is. */
class ByteFragments {
  private held: Buffer[] = [];
  private length = 0;

  /** A fragment once enough bytes have come, else null. */
  add(piece: Buffer | string): Buffer | null {
    const bytes = typeof piece === 'string' ? Buffer.from(piece) : piece;
    this.held.push(bytes);
    this.length += bytes.length;
    return this.length < FRAGMENT_LENGTH ? null : this.rest();
  }

  /** The bytes not yet given as a fragment. */
  rest(): Buffer {
    const fragment = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held);
    this.held = [];
    this.length = 0;
    return fragment;
  }
}

/** The whole text of `messageFragments`. */
export function messageText(message: object): string {
  const fragments = messageFragments(message);
  if (!Array.isArray(fragments)) throw new Error('A streamed reply has no text until it is sent');
  return fragments.join('');
}
