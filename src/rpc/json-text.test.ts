import { describe, expect, it } from 'vitest';
import { CalendarDate, stringify, TimeOfDay } from '../client/ejson.js';
import { entriesStream, entriesText, JsonStream, JsonText, MARKER, messageFragments, messageText } from './json-text.js';

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

describe('entriesText of any value', () => {
  it('writes it exactly as stringify does: an entry nesting its CA twice, lists, holes, scalars', () => {
    // eslint-disable-next-line no-sparse-arrays
    const holes = [1, , 3];
    for (const value of [certificate(2), [certificate(1), certificate(2)], holes, [[, 'x']], { holes }, new Date(1500), 'text', 7, null, [], {}]) {
      expect(entriesText(value).text).toBe(stringify(value));
    }
  });
});

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

/** Writes `entries` as a list both ways a reply does (whole, and in pages of bytes) and checks each against `stringify`. */
async function expectWrittenAsStringify(entries: unknown[]): Promise<void> {
  expect(entriesText(entries).text).toBe(stringify(entries));
  async function* twoPages(): AsyncGenerator<unknown[]> {
    yield entries.slice(0, 1);
    yield entries.slice(1);
  }
  const streamed = await entriesStream(twoPages());
  const bytes: Buffer[] = [];
  for await (const piece of (streamed as JsonStream).pieces) bytes.push(typeof piece === 'string' ? Buffer.from(piece) : piece);
  expect(Buffer.concat(bytes).toString()).toBe(stringify(entries));
}

/** A CA entry with no value `stringify` writes in its own forms, longer than a nested object written again each time. */
const plainCa = { id: 2, name: 'plain root', certificate: 'c'.repeat(3000), revoked_date: null, chain_list: ['a'], extensions: { KeyUsage: 'x' } };

describe('entries written by one native JSON.stringify each', () => {
  it('writes Dates, Sets, calendar dates and times of day at any depth as stringify does', async () => {
    const entry = (id: number) => ({
      id,
      revoked_date: new Date(Date.UTC(2026, 1, id, 1, 2, 3, 999)),
      previous_versions: [{ serial: id, replaced_at: new Date(id * 1000 + 1) }, { serial: null, from: 'Mon' }],
      tags: new Set(['a', id]),
      on: new CalendarDate(2026, 3, id),
      at: [new TimeOfDay(id, 0, 0, 5)],
      deep: { list: [{ when: new Date(-1500) }], plain: { n: 1 } },
      used_by: [{ type: 'UI', name: 'UI Service' }],
      // An own key, as a row could hold it: swapping its value must not set a prototype.
      ['__proto__']: new Date(7000),
    });
    await expectWrittenAsStringify([entry(1), entry(2), entry(3)]);
  });

  it('leaves out undefined, functions and symbols as stringify does, and writes them as null in arrays', async () => {
    const entry = { a: undefined, f: () => 1, s: Symbol('s'), list: [undefined, () => 1, Symbol('t'), 0], when: new Date(0), z: 'last' };
    await expectWrittenAsStringify([entry, { ...entry, a: 1 }]);
  });

  it('writes a nested object several entries share, at any depth, as stringify does', async () => {
    const entry = (id: number) => ({ id, signedby: plainCa, issuer: plainCa, nested: { ca: plainCa, other: ca }, cas: [plainCa, ca] });
    await expectWrittenAsStringify([entry(1), entry(2), { id: 3, signedby: ca, issuer: plainCa }]);
  });

  it('writes unicode, lone surrogates and characters JSON escapes as stringify does', async () => {
    const entry = { name: 'naïve ✓ 🔒 \u2028 "q" \\ \n \u0000', lone: '\ud800 and \udfff', keyed: { 'é\udc00"': new Date(0) }, when: new Date(0) };
    await expectWrittenAsStringify([entry, entry]);
  });

  it('writes empty objects and arrays, and entries of other kinds, as stringify does', async () => {
    const empty = { object: {}, array: [], nested: [{}, []], when: new Date(0) };
    await expectWrittenAsStringify([empty, {}, [], new Date(1000), new Set([1]), null, undefined, 'text', 5, Object.create(null) as object, Object.assign(Object.create(null) as object, { when: new Date(0) })]);
  });

  it('writes an entry that holds the marker text itself exactly, as stringify does', async () => {
    const entry = (id: number) => ({ id, text: MARKER, when: new Date(id * 1000), signedby: plainCa, [MARKER]: [MARKER, new Date(0)], inner: { text: MARKER, when: new Date(0) } });
    expect(JSON.stringify(MARKER)).toBe(`"${MARKER}"`);
    await expectWrittenAsStringify([entry(1), entry(2)]);
  });

  it('writes an entry whose values cannot be swapped (read-only, a getter) as stringify does, and leaves it as it was', async () => {
    const when = new Date(5000);
    const entry = Object.defineProperty({ id: 1, signedby: plainCa }, 'when', { value: when, enumerable: true, writable: false });
    const read = Object.defineProperty({ id: 3, signedby: plainCa }, 'when', { get: () => when, enumerable: true });
    await expectWrittenAsStringify([entry, Object.freeze({ id: 2, when, signedby: plainCa }), read]);
    expect(Object.getOwnPropertyDescriptor(entry, 'when')).toEqual({ value: when, enumerable: true, writable: false, configurable: false });
  });

  it('puts back every value it swapped, also when JSON.stringify throws', () => {
    const when = new Date(0);
    const entry = { when, signedby: plainCa, big: 1n };
    expect(() => entriesText([entry])).toThrow(TypeError);
    expect(entry.when).toBe(when);
    expect(entry.signedby).toBe(plainCa);
    const written = { when, signedby: plainCa, list: [when] };
    entriesText([written]);
    expect(written).toEqual({ when, signedby: plainCa, list: [when] });
    expect(written.when).toBe(when);
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
