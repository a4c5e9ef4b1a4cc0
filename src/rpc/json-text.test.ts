import { describe, expect, it } from 'vitest';
import { CalendarDate, stringify, TimeOfDay } from '../client/ejson.js';
import { entriesStream, entriesText, JsonStream, JsonText, messageFragments, messageText } from './json-text.js';

/** A CA entry as certificate entries nest it, with what `stringify` writes in its own forms. */
const ca = {
  id: 1,
  name: 'root',
  revoked_date: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)),
  revoked_certs: [{ id: 9, revoked_date: new Date(Date.UTC(2026, 0, 1)), serial: 12 }],
  extensions: { BasicConstraints: 'CA:TRUE', '2': 'numeric key' },
  signedby: null,
};

function certificate(id: number): Record<string, unknown> {
  return {
    id,
    name: `leaf-${id}`,
    certificate: '-----BEGIN CERTIFICATE-----\n"quoted" \\ \u2028\n',
    privatekey: '********',
    revoked_date: id % 2 ? null : new Date(Date.UTC(2026, 5, id)),
    signedby: ca,
    skipped: undefined,
    issuer: ca,
    chain_list: ['a', 'b'],
    san: ['DNS:x', undefined],
    nested: { deeper: { when: new Date(0), days: new Set([1, 2]), on: new CalendarDate(2026, 2, 28), at: new TimeOfDay(1, 2, 3) } },
    ['__proto__']: 'a key, not a prototype',
    days_left: -0,
    expired: false,
  };
}

describe('entriesText', () => {
  it('writes a list of entries exactly as stringify does, each shared CA once', () => {
    const entries = [certificate(1), certificate(2), certificate(3)];
    // A "__proto__" key given as a computed key is an own property, as the database could give it.
    expect(Object.keys(entries[0]!)).toContain('__proto__');
    expect(entriesText(entries).text).toBe(stringify(entries));
  });

  it('writes one entry, a count and an empty list as stringify does', () => {
    expect(entriesText(certificate(4)).text).toBe(stringify(certificate(4)));
    expect(entriesText(17).text).toBe('17');
    expect(entriesText([]).text).toBe('[]');
    expect(entriesText({}).text).toBe('{}');
  });

  it('refuses an invalid date as stringify does', () => {
    expect(() => entriesText([{ when: new Date(Number.NaN) }])).toThrow(RangeError);
  });

  it('stands for its value wherever it is serialised another way', () => {
    const text = entriesText([certificate(5)]);
    expect(JSON.parse(JSON.stringify({ result: text })).result).toEqual(JSON.parse(stringify([certificate(5)])));
  });
});

describe('messageText', () => {
  it('splices a written result into the reply, keeping the reply order', () => {
    const entries = [certificate(6)];
    expect(messageText({ jsonrpc: '2.0', result: entriesText(entries), id: 'x"1' })).toBe(stringify({ jsonrpc: '2.0', result: entries, id: 'x"1' }));
    expect(messageText({ id: 7, msg: 'result', result: entriesText(entries) })).toBe(stringify({ id: 7, msg: 'result', result: entries }));
  });

  it('cuts a long reply into fragments that join into the whole text', () => {
    const entries = Array.from({ length: 400 }, (_, i) => ({ ...certificate(i), certificate: 'x'.repeat(2000) }));
    const fragments = messageFragments({ jsonrpc: '2.0', result: entriesText(entries), id: 3 }) as string[];
    expect(fragments.length).toBeGreaterThan(1);
    expect(fragments.join('')).toBe(stringify({ jsonrpc: '2.0', result: entries, id: 3 }));
  });

  it('writes any other message with stringify', () => {
    const message = { jsonrpc: '2.0', method: 'collection_update', params: { fields: { when: new Date(5000) } } };
    expect(messageText(message)).toBe(stringify(message));
    expect(new JsonText(['[1', ']']).toJSON()).toEqual([1]);
  });
});

describe('entriesStream', () => {
  async function* pagesOf(pages: unknown[][]): AsyncGenerator<unknown[]> {
    yield* pages;
  }

  it('writes a list of pages as stringify writes the whole list, each shared CA once per reply', async () => {
    // Characters of two to four UTF-8 bytes, so that bytes and characters differ in count.
    const entries = Array.from({ length: 7 }, (_, i) => ({ ...certificate(i), name: `naïve ✓ 🔒 ${i}`, certificate: 'x'.repeat(100_000) }));
    const streamed = await entriesStream(pagesOf([entries.slice(0, 3), entries.slice(3, 6), entries.slice(6)]));
    expect(streamed).toBeInstanceOf(JsonStream);
    const fragments: Buffer[] = [];
    for await (const fragment of messageFragments({ jsonrpc: '2.0', result: streamed, id: 4 }) as AsyncIterable<Buffer>) fragments.push(fragment);
    expect(fragments.length).toBeGreaterThan(1);
    // Each fragment is whole characters, and the fragments are the message's UTF-8 bytes.
    for (const fragment of fragments) expect(Buffer.from(fragment.toString())).toEqual(fragment);
    expect(Buffer.concat(fragments).toString()).toBe(stringify({ jsonrpc: '2.0', result: entries, id: 4 }));
    expect(() => JSON.stringify(streamed)).toThrow('A streamed result can only be sent as a reply');
  });

  it('gives plain text for one page or none', async () => {
    const one = await entriesStream(pagesOf([[certificate(1)]]));
    expect(one).toBeInstanceOf(JsonText);
    expect((one as JsonText).text).toBe(stringify([certificate(1)]));
    expect(((await entriesStream(pagesOf([]))) as JsonText).text).toBe('[]');
  });
});
