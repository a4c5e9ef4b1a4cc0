import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ValidationErrors } from '../errors/validation-errors.js';
import { parseParams } from './params.js';
import { parseOrThrow, type ValidationStyle } from './validate.js';

/** The `[attribute, message]` pairs parsing `value` raises, or [] when it parses. */
function problems(schema: z.ZodType, value: unknown, root: string, style?: ValidationStyle): Array<[string | null, string]> {
  try {
    parseOrThrow(schema, value, root, style);
    return [];
  } catch (error) {
    if (!(error instanceof ValidationErrors)) throw error;
    return error.errors.map(([attribute, message]) => [attribute, message]);
  }
}

const Shell = z.strictObject({
  authenticator: z.literal('shell'),
  script: z.string().regex(/^\//, { error: 'The script must be an absolute path' }),
  user: z.string().min(1).default('nobody'),
  timeout: z.int().min(5).default(60),
});
const Route53 = z.strictObject({ authenticator: z.literal('route53'), access_key_id: z.string().min(1), secret_access_key: z.string().min(1) });
const Ovh = z.strictObject({ authenticator: z.literal('OVH'), endpoint: z.enum(['ovh-eu', 'ovh-ca', 'kimsufi-eu']) });
const Attributes = z.discriminatedUnion('authenticator', [Route53, Ovh, Shell]);
const Create = z.strictObject({ name: z.string().max(64), attributes: Attributes, tags: z.array(z.string()).max(1).optional() });
const Update = z.strictObject({ name: z.string().optional(), attributes: Attributes.optional() });

describe('pydantic style', () => {
  const pydantic = (value: unknown, schema: z.ZodType = Create) => problems(schema, value, 'dns_authenticator_create', 'pydantic');

  it('names a missing field, with the discriminated member\'s tag in the path', () => {
    expect(pydantic({ name: 'n', attributes: { authenticator: 'route53', access_key_id: 'id' } })).toEqual([
      ['dns_authenticator_create.attributes.route53.secret_access_key', 'Field required'],
    ]);
    expect(pydantic({ attributes: { authenticator: 'route53', access_key_id: 'id', secret_access_key: 's' } })).toEqual([
      ['dns_authenticator_create.name', 'Field required'],
    ]);
  });

  it('reports a missing discriminator on it and an unknown one on the union', () => {
    expect(pydantic({ name: 'n', attributes: {} })).toEqual([['dns_authenticator_create.attributes.authenticator', 'Field required']]);
    expect(pydantic({ name: 'n', attributes: { authenticator: 'bind' } })).toEqual([
      ['dns_authenticator_create.attributes', "Input tag 'bind' found using 'authenticator' does not match any of the expected tags: 'route53', 'OVH', 'shell'"],
    ]);
    expect(pydantic({ name: 'n', attributes: { authenticator: null } })).toEqual([
      ['dns_authenticator_create.attributes', "Input tag 'None' found using 'authenticator' does not match any of the expected tags: 'route53', 'OVH', 'shell'"],
    ]);
    expect(pydantic({ name: 'n', attributes: 'route53' })).toEqual([['dns_authenticator_create.attributes', 'Input should be a valid dictionary']]);
  });

  it('refuses extra keys at every level, one error each', () => {
    expect(pydantic({ name: 'n', attributes: { authenticator: 'OVH', endpoint: 'ovh-eu', region: 'eu', zone: 'z' }, token: 'x' })).toEqual([
      ['dns_authenticator_create.attributes.OVH.region', 'Extra inputs are not permitted'],
      ['dns_authenticator_create.attributes.OVH.zone', 'Extra inputs are not permitted'],
      ['dns_authenticator_create.token', 'Extra inputs are not permitted'],
    ]);
  });

  it('words wrong types, empty strings, bounds and literals as pydantic does', () => {
    expect(pydantic({ name: 5, attributes: { authenticator: 'shell', script: '/x', user: '', timeout: 'ten' }, tags: 'a' })).toEqual([
      ['dns_authenticator_create.name', 'Input should be a valid string'],
      ['dns_authenticator_create.attributes.shell.user', 'String should have at least 1 character'],
      ['dns_authenticator_create.attributes.shell.timeout', 'Input should be a valid integer'],
      ['dns_authenticator_create.tags', 'Input should be a valid list'],
    ]);
    expect(pydantic({ name: 'n'.repeat(65), attributes: { authenticator: 'shell', script: '/x', timeout: 4.5, user: null }, tags: ['a', 'b'] })).toEqual([
      ['dns_authenticator_create.name', 'String should have at most 64 characters'],
      ['dns_authenticator_create.attributes.shell.user', 'Input should be a valid string'],
      ['dns_authenticator_create.attributes.shell.timeout', 'Input should be a valid integer'],
      ['dns_authenticator_create.tags', 'List should have at most 1 item after validation, not 2'],
    ]);
    expect(pydantic({ name: 'n', attributes: { authenticator: 'shell', script: '/x', timeout: 4 } })).toEqual([
      ['dns_authenticator_create.attributes.shell.timeout', 'Input should be greater than or equal to 5'],
    ]);
    expect(pydantic({ name: 'n', attributes: { authenticator: 'OVH', endpoint: 'ovh-us' } })).toEqual([
      ['dns_authenticator_create.attributes.OVH.endpoint', "Input should be 'ovh-eu', 'ovh-ca' or 'kimsufi-eu'"],
    ]);
    expect(pydantic({ name: 'n', attributes: { authenticator: 'OVH' } })).toEqual([['dns_authenticator_create.attributes.OVH.endpoint', 'Field required']]);
    expect(pydantic('not a dict')).toEqual([['dns_authenticator_create', 'Input should be a valid dictionary']]);
  });

  it('calls every integer schema an integer and shows patterns as pydantic does', () => {
    const Numbers = z.strictObject({ a: z.number().int().min(1), b: z.int(), c: z.number(), d: z.string().regex(/^a+$/), e: z.boolean(), f: z.record(z.string(), z.string()) });
    expect(problems(Numbers, { a: 'q', b: 1.5, c: 'q', d: 'b', e: 'yes', f: [] }, 'n', 'pydantic')).toEqual([
      ['n.a', 'Input should be a valid integer'],
      ['n.b', 'Input should be a valid integer'],
      ['n.c', 'Input should be a valid number'],
      ['n.d', "String should match pattern '^a+$'"],
      ['n.e', 'Input should be a valid boolean'],
      ['n.f', 'Input should be a valid dictionary'],
    ]);
  });

  it('keeps messages a schema sets itself', () => {
    expect(pydantic({ name: 'n', attributes: { authenticator: 'shell', script: 'relative' } })).toEqual([
      ['dns_authenticator_create.attributes.shell.script', 'The script must be an absolute path'],
    ]);
  });

  it('follows optional wrappers', () => {
    expect(problems(Update, { attributes: { authenticator: 'route53' } }, 'dns_authenticator_update', 'pydantic')).toEqual([
      ['dns_authenticator_update.attributes.route53.access_key_id', 'Field required'],
      ['dns_authenticator_update.attributes.route53.secret_access_key', 'Field required'],
    ]);
  });

  it('applies per method through parseParams', () => {
    const method = { params: { id: z.int(), dns_authenticator_update: Update }, validation: 'pydantic' as const };
    expect(() => parseParams(method, ['1', { bogus: true }])).toThrow(
      expect.objectContaining({
        errors: [
          ['id', 'Input should be a valid integer', 22],
          ['dns_authenticator_update.bogus', 'Extra inputs are not permitted', 22],
        ],
      }),
    );
    expect(() => parseParams(method, [1, {}, 3])).toThrow(expect.objectContaining({ errors: [['', 'Too many arguments (expected 2, found 3)', 22]] }));
  });
});

describe('legacy style stays the default', () => {
  it('words the same input as TrueNAS\'s legacy schema layer', () => {
    const value = { name: 5, attributes: { authenticator: 'route53', access_key_id: '', region: 'eu' }, token: 'x' };
    const expected = [
      ['dns_authenticator_create.name', 'Not a string'],
      ['dns_authenticator_create.attributes.access_key_id', 'Empty value not allowed'],
      ['dns_authenticator_create.attributes.secret_access_key', 'attribute required'],
      ['dns_authenticator_create.attributes.region', 'Field was not expected'],
      ['dns_authenticator_create.token', 'Field was not expected'],
    ];
    expect(problems(Create, value, 'dns_authenticator_create')).toEqual(expected);
    expect(problems(Create, value, 'dns_authenticator_create', 'legacy')).toEqual(expected);
    const method = { params: { data: Create } };
    expect(() => parseParams(method, [{ attributes: {} }])).toThrow(
      expect.objectContaining({
        errors: [
          ['data.name', 'attribute required', 22],
          ['data.attributes.authenticator', "Invalid choice: expected one of route53, OVH, shell", 22],
        ],
      }),
    );
  });
});
