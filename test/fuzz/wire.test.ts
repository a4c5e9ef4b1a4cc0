/**
 * The wire: envelope checks (src/rpc/envelope.ts), ejson (src/client/ejson.ts), and the path
 * every call's params take before a handler runs (screen, ejson decode, zod validation and its
 * TrueNAS wording) for every method of every plugin, with params generated from the methods' own
 * JSON Schemas and then spoiled: wrong types, hostile keys (`__proto__`, `constructor`), NUL
 * characters, tagged ejson forms, deep nesting. Only ValidationErrors may come out, and no
 * prototype may change.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { parseParams } from '../../src/api/params.js';
import { screenParams } from '../../src/api/screen.js';
import { decode, parse, stringify } from '../../src/client/ejson.js';
import { ValidationErrors } from '../../src/errors/validation-errors.js';
import { checkEnvelope } from '../../src/rpc/envelope.js';
import { parsesOrRefuses, runs } from './fuzz.js';
import { paramsFor, registry } from './params-grammar.js';

const METHODS = registry.allMethods();
const calls = fc.oneof(...METHODS.map((method) => paramsFor(method).map((params) => ({ method, params }))));

afterEach(() => {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});

describe('params of every method', () => {
  it(`covers all ${METHODS.length} methods`, () => {
    expect(METHODS.length).toBeGreaterThan(50);
  });

  it('are screened, decoded and validated into params or ValidationErrors, never anything else', () => {
    fc.assert(
      fc.property(calls, ({ method, params }) => {
        const raw = JSON.parse(params) as unknown[];
        parsesOrRefuses([ValidationErrors], () => {
          screenParams(method, raw);
          return parseParams(method, decode(raw) as unknown[]);
        });
      }),
      { numRuns: runs(3000) },
    );
  });
});

describe('envelope', () => {
  it('checks any JSON message into a request or a JSON-RPC error, never throwing', () => {
    const message = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record(
        { jsonrpc: fc.oneof(fc.constant('2.0'), fc.jsonValue({ maxDepth: 1 })), id: fc.jsonValue({ maxDepth: 1 }), method: fc.jsonValue({ maxDepth: 1 }), params: fc.jsonValue({ maxDepth: 2 }) },
        { requiredKeys: [] },
      ),
    );
    fc.assert(
      fc.property(message, (value) => {
        const check = checkEnvelope(value);
        if (check.ok) {
          expect(typeof check.request.method).toBe('string');
          expect(Array.isArray(check.request.params)).toBe(true);
        } else {
          expect([-32700, -32600]).toContain(check.error.code);
        }
      }),
    );
  });
});

describe('ejson', () => {
  const tagged = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.record({ $date: fc.oneof(fc.double(), fc.integer(), fc.string()) }),
    fc.record({ $time: fc.oneof(fc.string({ maxLength: 16 }), fc.constantFrom('12:00:00', '23:59:59.999999', '24:00:00')) }),
    fc.record({ $set: fc.oneof(fc.array(fc.jsonValue({ maxDepth: 1 })), fc.jsonValue({ maxDepth: 1 })) }),
    fc.record({ $type: fc.constantFrom('date', 'x'), $value: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('2024-02-29', '2023-02-29', '0000-01-01')) }),
  );

  it('decodes any JSON value and encodes the result again without throwing', () => {
    fc.assert(
      fc.property(fc.array(tagged, { maxLength: 4 }), (value) => {
        const decoded = decode(value);
        expect(typeof stringify(decoded)).toBe('string');
      }),
    );
  });

  it('parses any text into a value or throws SyntaxError', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.array(tagged, { maxLength: 3 }).map((value) => JSON.stringify(value))), (text) => void parsesOrRefuses([SyntaxError], () => parse(text))));
  });
});
