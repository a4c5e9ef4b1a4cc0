import { stringify } from '../client/ejson.js';

/**
 * A method result already written as ejson text; replies splice it in as it is. Anything that
 * serialises it some other way gets the value it stands for.
 */
export class JsonText {
  constructor(readonly text: string) {}

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
  return new JsonText(encode(result, new Map()));
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

/**
 * A reply or notification as text: `stringify`, except that a `result` given as `JsonText` is
 * spliced in as written.
 */
export function messageText(message: object): string {
  const result = (message as { result?: unknown }).result;
  if (!(result instanceof JsonText)) return stringify(message);
  const parts: string[] = [];
  for (const [key, value] of Object.entries(message)) {
    if (value === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${value instanceof JsonText ? value.text : stringify(value)}`);
  }
  return `{${parts.join(',')}}`;
}
