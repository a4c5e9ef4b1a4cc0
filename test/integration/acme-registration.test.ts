import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSocket } from '../helpers/raw-socket.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

// Registering needs an ACME server (test/e2e/acme.test.ts); argument errors are raised before any
// network step, so they are tested here against the daemon alone.

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

const admin = () => RawSocket.admin(server);

function invalidParams(reply: Record<string, unknown>): unknown[] {
  expect(reply.error).toMatchObject({ code: -32602, message: 'Invalid params', data: { error: 22, errname: 'EINVAL' } });
  return (reply.error as { data: { extra: unknown[] } }).data.extra;
}

describe('acme.registration argument errors', () => {
  it('are worded as pydantic words them, under acme_registration_create', async () => {
    const socket = await admin();
    const reply = await socket.call('acme.registration.create', [
      { tos: 'yes', JWK_create: { key_size: 1024, curve: 'P-256' }, acme_directory_uri: 5, contact: 'ops@example.com' },
    ]);
    expect(invalidParams(reply)).toEqual([
      ['acme_registration_create.tos', 'Input should be a valid boolean', 22],
      ['acme_registration_create.JWK_create.key_size', 'Input should be greater than or equal to 2048', 22],
      ['acme_registration_create.JWK_create.curve', 'Extra inputs are not permitted', 22],
      ['acme_registration_create.acme_directory_uri', 'Input should be a valid string', 22],
      ['acme_registration_create.contact', 'Extra inputs are not permitted', 22],
    ]);
    expect(invalidParams(await socket.call('acme.registration.create', [{ tos: true, eab_kid: '' }]))).toEqual([
      ['acme_registration_create.acme_directory_uri', 'Field required', 22],
      ['acme_registration_create.eab_kid', 'String should have at least 1 character', 22],
    ]);
    expect(invalidParams(await socket.call('acme.registration.create', [{ tos: true, acme_directory_uri: 'https://acme.invalid/directory' }, {}]))).toEqual([
      ['', 'Too many arguments (expected 1, found 2)', 22],
    ]);
    expect(invalidParams(await socket.call('acme.registration.get_instance', ['1']))).toEqual([['id', 'Input should be a valid integer', 22]]);
    expect(invalidParams(await socket.call('acme.registration.query', [[], { select: 'uri' }]))).toEqual([['options.select', 'Input should be a valid list', 22]]);
    // Nothing was registered on the way.
    expect((await socket.call('acme.registration.query', [])).result).toEqual([]);
    socket.close();
  });
});
