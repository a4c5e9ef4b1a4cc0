/**
 * Params for any method, as JSON text: generated from the method's own JSON Schema (as
 * `core.get_methods` publishes it), then spoiled with wrong types, hostile keys, NUL characters,
 * ejson tags and nesting. JSON text, so that `__proto__` stays an own key once parsed.
 */
import 'reflect-metadata';
import fc from 'fast-check';
import type { AnyMethod } from '../../src/api/define-method.js';
import { Registry } from '../../src/api/registry.js';
import { PLUGINS } from '../../plugins/index.js';
import { fixture } from './fuzz.js';

export const registry = new Registry().load(PLUGINS);

type JsonSchema = Record<string, unknown>;

/** JSON text of values that no schema expects, or that parsers meet rarely. */
const SPOILERS = [
  'null', 'true', '0', '-1', '1.5', '1e308', '-0', '9007199254740993', '""', '"x"', '"\\u0000"', '"a\\u0000b"', '[]', '{}', '[[[[[[[[[[]]]]]]]]]]',
  '{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}', '{"toString":1,"hasOwnProperty":2}',
  '{"$date":0}', '{"$date":1e300}', '{"$date":"x"}', '{"$set":[1,1]}', '{"$set":{}}', '{"$type":"date","$value":"2025-02-30"}', '{"$time":"25:61:00"}', '{"$time":"12:00:00.1234567"}',
  JSON.stringify('é'.repeat(300)), JSON.stringify('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
];
const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'a\u0000b', '', '$date', 'extra'];
/** Strings that get far into certificate parsing. */
const PEM_STRINGS = ['ec-cert.pem', 'csr.pem', 'ec-key.pem', 'ec-key-pbes2.pem'].map((name) => fixture(name).toString());

export const spoiler = fc.constantFrom(...SPOILERS);
const json = (value: unknown) => JSON.stringify(value) ?? 'null';

/** JSON text mostly matching `schema` (as zod's JSON Schema export writes it), sometimes spoiled. */
function textFor(schema: JsonSchema | undefined, depth: number): fc.Arbitrary<string> {
  if (depth > 6 || !schema) return fc.oneof(spoiler, fc.jsonValue({ maxDepth: 1 }).map(json));
  return fc.oneof({ weight: 6, arbitrary: matching(schema, depth) }, { weight: 1, arbitrary: spoiler }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map(json) });
}

function matching(schema: JsonSchema, depth: number): fc.Arbitrary<string> {
  const branches = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  if (branches) return fc.oneof(...branches.map((branch) => textFor(branch, depth + 1)));
  if ('const' in schema) return fc.constant(json(schema.const));
  if (Array.isArray(schema.enum)) return fc.constantFrom(...schema.enum.map(json));
  switch (schema.type) {
    case 'string':
      return fc.oneof(fc.string({ maxLength: 24 }).map(json), fc.constantFrom(...PEM_STRINGS, 'example.com', 'DNS:a.example', '192.0.2.1', 'admin', 'a-long-password').map(json));
    case 'integer':
      return fc.oneof(fc.integer({ min: -3, max: 5000 }), fc.constantFrom(0, 1, 2, 2048, 4294967296)).map(json);
    case 'number':
      return fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer()).map(json);
    case 'boolean':
      return fc.boolean().map(json);
    case 'null':
      return fc.constant('null');
    case 'array':
      return arrayText(schema, depth);
    case 'object':
      return objectText(schema, depth);
    default:
      return fc.jsonValue({ maxDepth: 2 }).map(json);
  }
}

function arrayText(schema: JsonSchema, depth: number): fc.Arbitrary<string> {
  const prefix = schema.prefixItems as JsonSchema[] | undefined;
  if (prefix) return fc.tuple(...prefix.map((item) => textFor(item, depth + 1))).map((items) => `[${items.join(',')}]`);
  return fc.array(textFor(schema.items as JsonSchema | undefined, depth + 1), { maxLength: 3 }).map((items) => `[${items.join(',')}]`);
}

function objectText(schema: JsonSchema, depth: number): fc.Arbitrary<string> {
  const properties = Object.entries((schema.properties ?? {}) as Record<string, JsonSchema>);
  const required = new Set((schema.required ?? []) as string[]);
  const member = ([key, property]: [string, JsonSchema]) =>
    fc.option(textFor(property, depth + 1).map((text) => `${json(key)}:${text}`), { freq: required.has(key) ? 20 : 2, nil: undefined });
  const extra = fc.tuple(fc.oneof(fc.constantFrom(...HOSTILE_KEYS), fc.string({ maxLength: 6 })), textFor(undefined, depth + 1)).map(([key, text]) => `${json(key)}:${text}`);
  return fc
    .tuple(fc.tuple(...properties.map(member)), fc.array(extra, { maxLength: 1 }))
    .map(([members, extras]) => `{${[...members.filter((m): m is string => m !== undefined), ...extras].join(',')}}`);
}

/** A call's params as JSON text: the declared ones (some left out), now and then one too many. */
export function paramsFor(method: AnyMethod): fc.Arbitrary<string> {
  const schemas = registry.schemasOf(method.name)!.params.map(({ schema }) => schema as JsonSchema);
  return fc
    .tuple(fc.tuple(...schemas.map((schema) => textFor(schema, 0))), fc.nat({ max: schemas.length }), fc.option(spoiler, { freq: 10, nil: undefined }))
    .map(([texts, given, extra]) => `[${[...texts.slice(0, given), ...(extra === undefined ? [] : [extra])].join(',')}]`);
}

