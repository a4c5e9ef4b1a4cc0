import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { acmeToolsAvailable, digTxt, queryTxt, startBind, type BindServer, type TsigCredentials } from '../../test/helpers/acme-harness.js';
import { closedPort } from '../../test/helpers/net.js';
import { DnsProviderError, type DnsProvider } from './provider.js';
import { findZone, queryMessage, queryRecords, rfc2136 } from './rfc2136.js';

const TIMEOUT_MS = 2000;

describe('rfc2136 attributes', () => {
  const base = { nameserver: 'ns1.example.test', tsig_key_name: 'k', tsig_secret: 'c2VjcmV0' };

  it('defaults the port, the algorithm and the zone', () => {
    expect(rfc2136.schema.parse(base)).toEqual({ ...base, port: 53, tsig_algorithm: 'hmac-sha256', zone: null });
  });

  it('rejects a secret that is not base64 and an unknown algorithm', () => {
    expect(rfc2136.schema.safeParse({ ...base, tsig_secret: 'not base64!' }).success).toBe(false);
    expect(rfc2136.schema.safeParse({ ...base, tsig_algorithm: 'hmac-md5' }).success).toBe(false);
  });

  it('describes every field and marks the secret', () => {
    const schema = z.toJSONSchema(rfc2136.schema, { io: 'input' }) as { properties: Record<string, { description?: string }> };
    expect(Object.keys(schema.properties).sort()).toEqual(['nameserver', 'port', 'tsig_algorithm', 'tsig_key_name', 'tsig_secret', 'zone']);
    for (const [field, property] of Object.entries(schema.properties)) expect(property.description, field).toBeTruthy();
    expect(rfc2136.secretFields).toEqual(['tsig_secret']);
  });
});

describe.runIf(await acmeToolsAvailable())('rfc2136 against BIND 9', () => {
  let bind: BindServer;
  let counter = 0;
  /** A challenge name no other test uses. */
  const freshName = (zone = bind.zone): string => `_acme-challenge.t${++counter}.${zone}`;

  const provider = (key: TsigCredentials, extra: { zone?: string | null; port?: number } = {}): DnsProvider =>
    rfc2136.create(
      rfc2136.schema.parse({ nameserver: bind.host, port: bind.port, tsig_key_name: key.name, tsig_algorithm: key.algorithm, tsig_secret: key.secret, ...extra }),
      { timeoutMs: TIMEOUT_MS },
    );

  beforeAll(async () => {
    bind = await startBind();
  });

  afterAll(async () => {
    await bind?.stop();
  });

  it('creates a TXT record that the repo client and dig both see', async () => {
    const name = freshName();
    await provider(bind.tsig).createTxt(name, 'first-value');
    expect(await queryTxt(bind, name)).toEqual(['first-value']);
    expect(await digTxt(bind, name)).toEqual(['first-value']);
  });

  it('adds a second value beside the first and deletes one value leaving the other', async () => {
    const name = freshName();
    const dns = provider(bind.tsig);
    await dns.createTxt(name, 'value-a');
    await dns.createTxt(name, 'value-b');
    expect((await digTxt(bind, name)).sort()).toEqual(['value-a', 'value-b']);
    await dns.deleteTxt(name, 'value-a');
    expect(await digTxt(bind, name)).toEqual(['value-b']);
    await dns.deleteTxt(name, 'value-b');
    expect(await digTxt(bind, name)).toEqual([]);
    expect(await queryTxt(bind, name)).toEqual([]);
  });

  it('deletes a value that is not there without an error', async () => {
    await expect(provider(bind.tsig).deleteTxt(freshName(), 'never-created')).resolves.toBeUndefined();
  });

  it('writes a value longer than 255 bytes as one record', async () => {
    const name = freshName();
    const value = randomBytes(200).toString('hex');
    await provider(bind.tsig).createTxt(name, value);
    expect(await queryTxt(bind, name)).toEqual([value]);
    expect(await digTxt(bind, name)).toEqual([value]);
  });

  it('updates with each configured TSIG algorithm and an explicit zone', async () => {
    for (const key of [bind.tsig, bind.tsigSha512]) {
      const name = freshName();
      await provider(key).createTxt(name, key.algorithm);
      expect(await digTxt(bind, name)).toEqual([key.algorithm]);
    }
    const name = freshName();
    await provider(bind.tsig, { zone: `${bind.zone}.` }).createTxt(name, 'explicit-zone');
    expect(await digTxt(bind, name)).toEqual(['explicit-zone']);
  });

  it.each(['hmac-sha1', 'hmac-sha224', 'hmac-sha256', 'hmac-sha384', 'hmac-sha512'] as const)('creates and deletes a TXT record with an %s key', async (algorithm) => {
    const key = bind.tsigKeys[algorithm];
    expect(key.algorithm).toBe(algorithm);
    const name = freshName();
    const dns = provider(key);
    await dns.createTxt(name, `created-with-${algorithm}`);
    expect(await digTxt(bind, name)).toEqual([`created-with-${algorithm}`]);
    // dig signing with the same key and checking BIND's signed answer: BIND holds that very key.
    expect(await digTxt(bind, name, { tsig: key })).toEqual([`created-with-${algorithm}`]);
    await dns.deleteTxt(name, `created-with-${algorithm}`);
    expect(await digTxt(bind, name)).toEqual([]);
  });

  it.each(['hmac-sha1', 'hmac-sha224', 'hmac-sha384'] as const)('reports a wrong %s secret as BADSIG, writing nothing', async (algorithm) => {
    const key = bind.tsigKeys[algorithm];
    const wrong = { ...key, secret: randomBytes(Buffer.from(key.secret, 'base64').length).toString('base64') };
    const name = freshName();
    const failure = provider(wrong).createTxt(name, 'x');
    await expect(failure).rejects.toBeInstanceOf(DnsProviderError);
    await expect(failure).rejects.toThrow('rfc2136: TSIG signature rejected by the server (BADSIG): check the secret and the algorithm');
    await expect(provider(wrong, { zone: bind.zone }).deleteTxt(name, 'x')).rejects.toThrow(/BADSIG/);
    await expect(provider(wrong).verify()).rejects.toThrow(/BADSIG/);
    expect(await digTxt(bind, name)).toEqual([]);
  });

  it('finds the zone by SOA lookup from the apex, from below it, and in the delegated zone', async () => {
    expect(await findZone(bind, bind.zone)).toBe(bind.zone);
    expect(await findZone(bind, `_acme-challenge.deep.www.${bind.zone}.`)).toBe(bind.zone);
    const [target] = Object.values(bind.challengeAliases);
    expect(await findZone(bind, target!)).toBe(bind.delegatedZone);
    await expect(findZone(bind, '_acme-challenge.elsewhere.invalid', { timeoutMs: TIMEOUT_MS })).rejects.toThrow(/has no zone containing _acme-challenge\.elsewhere\.invalid/);
  });

  it('writes at a CNAME target in the delegated zone, which resolvers see at the alias name', async () => {
    const [[alias, target]] = Object.entries(bind.challengeAliases) as [[string, string]];
    await provider(bind.tsig).createTxt(target, 'through-cname');
    expect(await queryRecords(bind, alias, 'CNAME')).toEqual([target]);
    expect(await queryTxt(bind, target)).toEqual(['through-cname']);
    expect(await digTxt(bind, alias, { recursive: true })).toEqual(['through-cname']);
    await provider(bind.tsig).deleteTxt(target, 'through-cname');
    expect(await digTxt(bind, alias, { recursive: true })).toEqual([]);
  });

  it('reads A, NS and SOA records', async () => {
    expect(await queryRecords(bind, `www.${bind.zone}`, 'A')).toEqual(['127.0.0.1']);
    expect(await queryRecords(bind, bind.zone, 'NS')).toEqual([`ns1.${bind.zone}`]);
    const [soa] = await queryRecords(bind, bind.zone, 'SOA');
    expect(soa).toMatch(new RegExp(`^ns1\\.${bind.zone} hostmaster\\.${bind.zone} \\d+ 3600 600 86400 60$`));
    expect(await queryRecords(bind, `missing.${bind.zone}`, 'A')).toEqual([]);
  });

  it('falls back to TCP when the UDP answer is truncated', async () => {
    const name = freshName();
    const values = Array.from({ length: 16 }, (_, i) => `${i}-${randomBytes(20).toString('base64url')}`);
    const dns = provider(bind.tsig);
    for (const value of values) await dns.createTxt(name, value);
    const udp = await queryMessage(bind, name, 'TXT');
    expect(udp.answers).toHaveLength(16);
    expect((await queryTxt(bind, name)).sort()).toEqual([...values].sort());
  });

  it('verifies the signature of signed answers', async () => {
    const key = { name: bind.tsig.name, algorithm: bind.tsig.algorithm, secret: Buffer.from(bind.tsig.secret, 'base64') };
    const reply = await queryMessage(bind, bind.zone, 'SOA', { tsig: key });
    expect(reply.additionals.at(-1)).toMatchObject({ type: 'TSIG', name: bind.tsig.name });
    const wrongKey = { ...key, secret: randomBytes(32) };
    await expect(queryMessage(bind, bind.zone, 'SOA', { tsig: wrongKey })).rejects.toThrow('TSIG signature rejected by the server (BADSIG)');
  });

  it('reports a wrong secret as BADSIG', async () => {
    const dns = provider({ ...bind.tsig, secret: randomBytes(32).toString('base64') }, { zone: bind.zone });
    const failure = dns.createTxt(freshName(), 'x');
    await expect(failure).rejects.toBeInstanceOf(DnsProviderError);
    await expect(failure).rejects.toThrow('rfc2136: TSIG signature rejected by the server (BADSIG)');
  });

  it('reports an unknown key name, and a known name with another algorithm, as BADKEY', async () => {
    await expect(provider({ ...bind.tsig, name: 'no-such-key' }).createTxt(freshName(), 'x')).rejects.toThrow('rfc2136: TSIG key rejected by the server (BADKEY)');
    await expect(provider({ ...bind.tsig, algorithm: 'hmac-sha512' }, { zone: bind.zone }).createTxt(freshName(), 'x')).rejects.toThrow(
      'rfc2136: TSIG key rejected by the server (BADKEY)',
    );
  });

  it('reports a key without update rights as REFUSED', async () => {
    await expect(provider(bind.tsigReadOnly).createTxt(freshName(), 'x')).rejects.toThrow(
      `rfc2136: The server refused the update (REFUSED): the key may not update zone ${bind.zone}`,
    );
  });

  it('reports an update to a zone the server does not serve as NOTAUTH', async () => {
    await expect(provider(bind.tsig, { zone: 'other.invalid' }).createTxt('_acme-challenge.other.invalid', 'x')).rejects.toThrow(
      'rfc2136: The server is not authoritative for zone other.invalid (NOTAUTH)',
    );
  });

  it('reports a record outside the configured zone as NOTZONE', async () => {
    await expect(provider(bind.tsig, { zone: bind.zone }).createTxt(`_acme-challenge.${bind.delegatedZone}`, 'x')).rejects.toThrow(
      `rfc2136: The record is outside zone ${bind.zone} (NOTZONE)`,
    );
  });

  it('verifies credentials with and without a configured zone', async () => {
    await expect(provider(bind.tsig, { zone: bind.zone }).verify()).resolves.toBeUndefined();
    await expect(provider(bind.tsigSha512).verify()).resolves.toBeUndefined();
    await expect(provider(bind.tsigReadOnly, { zone: bind.zone }).verify()).rejects.toThrow(/REFUSED/);
    await expect(provider({ ...bind.tsig, secret: randomBytes(32).toString('base64') }).verify()).rejects.toThrow(/BADSIG/);
    await expect(provider({ ...bind.tsig, name: 'no-such-key' }, { zone: bind.zone }).verify()).rejects.toThrow(/BADKEY/);
  });

  it('names the configured server as the one to check propagation against', async () => {
    expect(await provider(bind.tsig).authoritativeServers!('_acme-challenge.example.test')).toEqual([{ host: bind.host, port: bind.port }]);
  });
});

describe('rfc2136 with an unreachable server', () => {
  const attributes = (port: number, zone: string | null = 'example.test') =>
    rfc2136.schema.parse({ nameserver: '127.0.0.1', port, tsig_key_name: 'k', tsig_secret: randomBytes(32).toString('base64'), zone });

  /** A UDP socket that swallows every query and a TCP listener that never answers. */
  async function blackHole(): Promise<{ port: number; close(): Promise<void> }> {
    const tcp = net.createServer(() => undefined);
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    const { port } = tcp.address() as net.AddressInfo;
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(port, '127.0.0.1', resolve));
    return {
      port,
      close: async () => {
        tcp.close();
        await new Promise<void>((resolve) => udp.close(() => resolve()));
      },
    };
  }

  it('fails at once with a clear error when nothing listens on the port', async () => {
    const port = await closedPort();
    const started = Date.now();
    for (const zone of ['example.test', null]) {
      await expect(rfc2136.create(attributes(port, zone), { timeoutMs: 10_000 }).createTxt('_acme-challenge.example.test', 'x')).rejects.toThrow(
        `rfc2136: The DNS server 127.0.0.1:${port} refused the connection: nothing listens there`,
      );
    }
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('gives up within the timeout when the server never answers', async () => {
    const hole = await blackHole();
    try {
      for (const zone of ['example.test', null]) {
        const started = Date.now();
        await expect(rfc2136.create(attributes(hole.port, zone), { timeoutMs: 300 }).createTxt('_acme-challenge.example.test', 'x')).rejects.toThrow(
          `rfc2136: No answer from the DNS server 127.0.0.1:${hole.port} within 300 ms`,
        );
        expect(Date.now() - started).toBeGreaterThanOrEqual(290);
        expect(Date.now() - started).toBeLessThan(5000);
      }
    } finally {
      await hole.close();
    }
  });

  it('stops when the caller aborts, with the caller’s reason', async () => {
    const hole = await blackHole();
    try {
      const controller = new AbortController();
      const reason = new Error('job aborted');
      setTimeout(() => controller.abort(reason), 50);
      await expect(rfc2136.create(attributes(hole.port), { timeoutMs: 10_000 }).verify(controller.signal)).rejects.toBe(reason);
    } finally {
      await hole.close();
    }
  });
});
