import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from '../../src/api/registry.js';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin } from '../../src/api/define-plugin.js';
import { parseParams } from '../../src/api/params.js';
import { expandRoles, hasAnyRole } from '../../src/auth/roles.js';
import { PLUGINS } from '../../plugins/index.js';
import { z } from 'zod';
import { RawSocket } from '../helpers/raw-socket.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
const registry = new Registry().load(PLUGINS);

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

/** Every object property in a JSON Schema that lacks a description, as dotted paths. */
function undocumented(schema: unknown, path: string): string[] {
  if (schema === null || typeof schema !== 'object') return [];
  const node = schema as Record<string, unknown>;
  const missing: string[] = [];
  const properties = (node.properties ?? {}) as Record<string, Record<string, unknown>>;
  for (const [name, property] of Object.entries(properties)) {
    const where = `${path}.${name}`;
    if (typeof property.description !== 'string' || property.description === '') missing.push(where);
    missing.push(...undocumented(property, where));
  }
  for (const key of ['items', 'anyOf', 'oneOf', 'allOf', 'prefixItems'] as const) {
    const child = node[key];
    for (const item of Array.isArray(child) ? child : child ? [child] : []) missing.push(...undocumented(item, path));
  }
  if (node.additionalProperties && typeof node.additionalProperties === 'object') missing.push(...undocumented(node.additionalProperties, path));
  return missing;
}

async function userSocket(username: string, roles: string[]): Promise<RawSocket> {
  const admin = await RawSocket.open(server.url);
  await admin.login(server.admin.username, server.admin.password);
  const created = await admin.call('user.create', [{ username, password: 'a-long-password', roles }]);
  expect(created.error).toBeUndefined();
  admin.close();
  const socket = await RawSocket.open(server.url);
  await socket.login(username, 'a-long-password');
  return socket;
}

describe('registry', () => {
  it('documents every method, parameter and field', () => {
    const problems: string[] = [];
    for (const method of registry.allMethods()) {
      if (!method.description.trim()) problems.push(`${method.name}: no description`);
      const schemas = registry.schemasOf(method.name)!;
      for (const param of schemas.params) {
        const schema = param.schema as Record<string, unknown>;
        if (typeof schema.description !== 'string') problems.push(`${method.name}(${param.name}): no description`);
        problems.push(...undocumented(schema, `${method.name}(${param.name})`));
      }
      problems.push(...undocumented(schemas.result, `${method.name} result`));
    }
    for (const event of registry.allEvents()) if (!event.description.trim()) problems.push(`${event.name}: no description`);
    expect(problems).toEqual([]);
  });

  it('refuses a method outside its namespace', () => {
    const stray = defineMethod({ name: 'other.x', description: 'x', params: {}, result: z.null(), roles: [], handler: () => null });
    expect(() => new Registry().load([definePlugin({ namespace: 'mine', description: 'x', methods: [stray] })])).toThrow(/outside the namespace/);
  });

  it('refuses a plugin whose dependency is not loaded first', () => {
    expect(() => new Registry().load([definePlugin({ namespace: 'a', description: 'x', dependsOn: ['b'], methods: [] })])).toThrow(/depends on b/);
  });

  it('refuses a method declared twice', () => {
    const m = defineMethod({ name: 'dup.x', description: 'x', params: {}, result: z.null(), roles: [], handler: () => null });
    expect(() => new Registry().load([definePlugin({ namespace: 'dup', description: 'x', methods: [m, m] })])).toThrow(/declared twice/);
  });

  it('refuses a job with pipes that would run away from the daemon serving its file', () => {
    const m = defineMethod({ name: 'pipes.x', description: 'x', params: {}, result: z.null(), roles: [], job: { pipes: ['output'] }, handler: () => null });
    expect(() => new Registry().load([definePlugin({ namespace: 'pipes', description: 'x', methods: [m] })])).toThrow(/has pipes but does not run in the daemon/);
  });
});

describe('validation style', () => {
  const extraKey = (registry: Registry, name: string) => {
    try {
      parseParams(registry.method(name)!, [{ colour: 'red' }]);
    } catch (error) {
      return (error as { errors: unknown[] }).errors;
    }
    throw new Error(`${name} accepted an unknown key`);
  };
  const method = (name: string, validation?: 'legacy' | 'pydantic') =>
    defineMethod({ name, description: 'x', params: { data: z.strictObject({}) }, result: z.null(), roles: [], validation, handler: () => null });

  it('is the plugin\'s for methods that name none, the method\'s own otherwise, legacy without either', () => {
    const loaded = new Registry().load([
      definePlugin({ namespace: 'modern', description: 'x', validation: 'pydantic', methods: [method('modern.a'), method('modern.b', 'legacy')] }),
      definePlugin({ namespace: 'old', description: 'x', methods: [method('old.a'), method('old.b', 'pydantic')] }),
    ]);
    expect(extraKey(loaded, 'modern.a')).toEqual([['data.colour', 'Extra inputs are not permitted', 22]]);
    expect(extraKey(loaded, 'modern.b')).toEqual([['data.colour', 'Field was not expected', 22]]);
    expect(extraKey(loaded, 'old.a')).toEqual([['data.colour', 'Field was not expected', 22]]);
    expect(extraKey(loaded, 'old.b')).toEqual([['data.colour', 'Extra inputs are not permitted', 22]]);
  });
});

describe('authorization of every method', () => {
  it('refuses every non-public method to an anonymous caller with ENOTAUTHENTICATED', async () => {
    const socket = await RawSocket.open(server.url);
    const methods = registry.allMethods().filter((m) => !m.public);
    expect(methods.length).toBeGreaterThan(10);
    for (const method of methods) {
      const reply = await socket.call(method.name, []);
      expect(reply.error, method.name).toMatchObject({ code: -32001, data: { error: 207, errname: 'ENOTAUTHENTICATED' } });
    }
    socket.close();
  });

  it('refuses every role-guarded method to a caller without the role with EACCES', async () => {
    const nobody = await userSocket('nobody', []);
    const readonly = await userSocket('reader', ['READONLY_ADMIN']);
    const guarded = registry.allMethods().filter((m) => !m.public && m.roles.length > 0);
    expect(guarded.length).toBeGreaterThan(5);
    for (const method of guarded) {
      const reply = await nobody.call(method.name, []);
      expect(reply.error, method.name).toMatchObject({ code: -32001, data: { error: 13, errname: 'EACCES', reason: '[EACCES] Not authorized' } });
      if (!hasAnyRole(expandRoles(['READONLY_ADMIN']), method.roles)) {
        const asReader = await readonly.call(method.name, []);
        expect(asReader.error, method.name).toMatchObject({ data: { errname: 'EACCES' } });
      }
    }
    nobody.close();
    readonly.close();
  });

  it("refuses a namespace's methods to a caller holding only the other PKI namespace's write role", async () => {
    const callers = [
      ['cert-writer', ['CERTIFICATE_WRITE'], 'certificateauthority.'],
      ['ca-writer', ['CERTIFICATE_AUTHORITY_WRITE'], 'certificate.'],
    ] as const;
    for (const [username, roles, foreign] of callers) {
      const socket = await userSocket(username, [...roles]);
      const granted = expandRoles(roles);
      const methods = registry.allMethods().filter((m) => m.name.startsWith(foreign) && m.roles.length > 0);
      expect(methods.length, foreign).toBeGreaterThan(3);
      for (const method of methods) {
        const reply = await socket.call(method.name, []);
        const errname = (reply.error as { data?: { errname?: string } } | undefined)?.data?.errname;
        if (hasAnyRole(granted, method.roles)) expect(errname, `${username} ${method.name}`).not.toBe('EACCES');
        else expect(errname, `${username} ${method.name}`).toBe('EACCES');
      }
      socket.close();
    }
  });

  it('lets a read-only administrator read but not write', async () => {
    const reader = await userSocket('reader2', ['READONLY_ADMIN']);
    expect((await reader.call('user.query', [])).result).toEqual(expect.any(Array));
    expect((await reader.call('user.create', [{ username: 'x', password: 'a-long-password' }])).error).toMatchObject({ data: { errname: 'EACCES' } });
    reader.close();
  });
});

describe('core.get_methods', () => {
  it('lists only what the caller may call, with JSON Schemas', async () => {
    const admin = await RawSocket.open(server.url);
    await admin.login(server.admin.username, server.admin.password);
    const all = (await admin.call('core.get_methods')).result as Record<string, { description: string; params: unknown[]; job: boolean }>;
    expect(all['user.create']).toMatchObject({ description: expect.any(String), job: false });
    expect(all['test.job_slow']?.job).toBe(true);
    expect(all['user.create']!.params).toEqual([{ name: 'user_create', schema: expect.objectContaining({ type: 'object' }) }]);
    admin.close();

    const nobody = await userSocket('introspector', []);
    const visible = (await nobody.call('core.get_methods')).result as Record<string, unknown>;
    expect(Object.keys(visible)).toContain('core.ping');
    expect(Object.keys(visible)).not.toContain('user.create');
    nobody.close();
  });
});
