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
 * Writes query entries as `stringify` would, character for character, but each object that
 * several entries share (a CA nested as `signedby` and `issuer` in every certificate it signed)
 * is written once and its text reused, and runs of plain values go to `JSON.stringify` without a
 * replacer.
 */
export function entriesText(result: unknown): JsonText {
  const written = new Map<object, string>();
  if (!Array.isArray(result) || result.length === 0) return new JsonText([encode(result, written)]);
  return new JsonText(result.map((entry, i) => `${i === 0 ? '[' : ','}${skipped(entry) ? 'null' : encode(entry, written)}${i === result.length - 1 ? ']' : ''}`));
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
 * rather than first copied into one string.
 */
export function messageFragments(message: object): string[] {
  const result = (message as { result?: unknown }).result;
  if (!(result instanceof JsonText)) return [stringify(message)];
  const pieces: string[] = [];
  for (const [key, value] of Object.entries(message)) {
    if (value === undefined) continue;
    pieces.push(`${pieces.length === 0 ? '{' : ','}${JSON.stringify(key)}:`);
    if (value instanceof JsonText) pieces.push(...value.chunks);
    else pieces.push(stringify(value));
  }
  pieces.push('}');
  const fragments: string[] = [];
  let fragment = '';
  for (const piece of pieces) {
    fragment += piece;
    if (fragment.length >= FRAGMENT_LENGTH) {
      fragments.push(fragment);
      fragment = '';
    }
  }
  if (fragment !== '' || fragments.length === 0) fragments.push(fragment);
  return fragments;
}

/** The whole text of `messageFragments`. */
export function messageText(message: object): string {
  return messageFragments(message).join('');
}
