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
  constructor(readonly pieces: AsyncIterable<string>) {}

  toJSON(): never {
    throw new Error('A streamed result can only be sent as a reply');
  }
}

/**
 * Writes query entries as `stringify` would, character for character, but each object that
 * several entries share (a CA nested as `signedby` and `issuer` in every certificate it signed)
 * is written once per reply and its text reused, and runs of plain values go to `JSON.stringify`
 * without a replacer.
 */
class EntriesWriter {
  private readonly written = new Map<object, string>();
  private count = 0;

  /** The text of the next entries of the list, each with the bracket or comma before it. */
  entries(entries: readonly unknown[]): string[] {
    return entries.map((entry) => `${this.count++ === 0 ? '[' : ','}${skipped(entry) ? 'null' : encode(entry, this.written)}`);
  }

  /** What closes the list. */
  end(): string {
    return this.count === 0 ? '[]' : ']';
  }

  value(value: unknown): string {
    return encode(value, this.written);
  }
}

/** `result` as `EntriesWriter` writes it: a list stays a list of entry texts instead of one copy of them all. */
export function entriesText(result: unknown): JsonText {
  const writer = new EntriesWriter();
  if (!Array.isArray(result) || result.length === 0) return new JsonText([writer.value(result)]);
  return new JsonText([...writer.entries(result), writer.end()]);
}

/**
 * A list read in pages, as `EntriesWriter` writes it. The first page is read here, so that a query
 * that fails, fails before any of its reply is sent; a list of one page is plain `JsonText`.
 */
export async function entriesStream(pages: AsyncIterator<readonly unknown[]>): Promise<JsonText | JsonStream> {
  const writer = new EntriesWriter();
  const first = await pages.next();
  const firstText = first.done ? [] : writer.entries(first.value);
  const second = first.done ? first : await pages.next();
  if (second.done) return new JsonText([...firstText, writer.end()]);
  async function* pieces(): AsyncGenerator<string> {
    yield firstText.join('');
    for (let page = second; !page.done; page = await pages.next()) yield writer.entries(page.value).join('');
    yield writer.end();
  }
  return new JsonStream(pieces());
}

/** What JSON leaves out of objects and writes as null in arrays. */
const skipped = (value: unknown): boolean => value === undefined || typeof value === 'function' || typeof value === 'symbol';

function encode(value: unknown, written: Map<object, string>): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((item) => (skipped(item) ? 'null' : encode(item, written))).join(',')}]`;
  if (!isPlainObject(value)) return stringify(value);
  const known = written.get(value);
  if (known !== undefined) return known;
  const parts: string[] = [];
  // Consecutive plain values are written in one native call; a prototype-less holder keeps a "__proto__" key a key.
  let run: Record<string, unknown> | null = null;
  for (const key of Object.keys(value)) {
    const item = value[key];
    if (skipped(item)) continue;
    if (item === null || typeof item !== 'object') {
      (run ??= Object.create(null) as Record<string, unknown>)[key] = item;
      continue;
    }
    if (run) parts.push(JSON.stringify(run).slice(1, -1));
    run = null;
    parts.push(`${JSON.stringify(key)}:${encode(item, written)}`);
  }
  if (run) parts.push(JSON.stringify(run).slice(1, -1));
  const text = `{${parts.join(',')}}`;
  written.set(value, text);
  return text;
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
export function messageFragments(message: object): string[] | AsyncIterable<string> {
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

async function* streamedFragments(message: object, result: JsonStream): AsyncGenerator<string> {
  const joiner = new FragmentJoiner();
  for (const piece of messagePieces(message, result)) {
    for await (const text of piece === RESULT ? result.pieces : [piece]) {
      const fragment = joiner.add(text);
      if (fragment !== null) yield fragment;
    }
  }
  yield joiner.rest();
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

/** The whole text of `messageFragments`. */
export function messageText(message: object): string {
  const fragments = messageFragments(message);
  if (!Array.isArray(fragments)) throw new Error('A streamed reply has no text until it is sent');
  return fragments.join('');
}
