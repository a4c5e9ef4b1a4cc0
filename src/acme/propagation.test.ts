import { randomBytes } from 'node:crypto';
import dns from 'node:dns';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acmeToolsAvailable, startBind, type BindServer } from '../../test/helpers/acme-harness.js';
import type { DnsProvider } from '../dns/provider.js';
import { shellProvider } from '../dns/providers/shell.js';
import { rfc2136, type DnsServer } from '../dns/rfc2136.js';
import { challengeRecordName, waitForPropagation, waitUntilVisible, type NameServer } from './propagation.js';

/** Nothing listens there: connections are refused at once. */
const DEAD_V4: DnsServer = { host: '127.0.0.1', port: 1 };
const DEAD_V6: DnsServer = { host: '::1', port: 1 };
/** The IPv6 documentation prefix: unreachable (at once without an IPv6 route, after the query timeout with one). */
const UNREACHABLE_V6: DnsServer = { host: '2001:db8::53', port: 53 };
const INTERNAL = 'nas.home.internal-lan.test';

/** Runs with the process's resolver pointed at `servers`, as a host whose resolv.conf names them. */
async function withResolvers<T>(servers: string[], work: () => Promise<T>): Promise<T> {
  const before = dns.getServers();
  dns.setServers(servers);
  try {
    return await work();
  } finally {
    dns.setServers(before);
  }
}

async function elapsed(work: () => Promise<unknown>): Promise<number> {
  const started = Date.now();
  await work();
  return Date.now() - started;
}

describe.runIf(await acmeToolsAvailable())('propagation against BIND 9', () => {
  /** The update server; its main zone names two name servers, each with an IPv4 and an IPv6 address nothing answers on. */
  let bind: BindServer;
  /** Holds the same zone but never gets the records: a server that answers without them. */
  let stale: BindServer;
  let counter = 0;
  const freshName = (): string => `_acme-challenge.p${++counter}.${bind.zone}`;

  const publish = (fqdn: string, value: string): Promise<void> => {
    const attributes = { nameserver: bind.host, port: bind.port, tsig_key_name: bind.tsig.name, tsig_algorithm: bind.tsig.algorithm, tsig_secret: bind.tsig.secret };
    return rfc2136.create(rfc2136.schema.parse(attributes), { timeoutMs: 2000 }).createTxt(fqdn, value);
  };
  const nameServer = (name: string, ...addresses: DnsServer[]): NameServer => ({ name, addresses });

  beforeAll(async () => {
    const zoneRecords = ['@ IN NS ns2', 'ns1 IN AAAA ::1', 'ns2 IN A 127.0.0.2', 'ns2 IN AAAA ::1'];
    [bind, stale] = await Promise.all([startBind({ zoneRecords }), startBind()]);
  });

  afterAll(async () => {
    await Promise.all([bind?.stop(), stale?.stop()]);
  });

  describe('check mode', () => {
    it('counts a name server as soon as one of its addresses shows the value, while its other addresses refuse', async () => {
      const fqdn = freshName();
      await publish(fqdn, 'v1');
      const took = await elapsed(() => waitUntilVisible([nameServer('ns1.example.test', DEAD_V4, bind, DEAD_V6)], fqdn, 'v1', 5));
      expect(took).toBeLessThan(1000);
    });

    it('is not held up by a name server none of whose addresses answers, once another one shows the value', async () => {
      const fqdn = freshName();
      await publish(fqdn, 'v2');
      const servers = [nameServer('ns1.example.test', bind, DEAD_V6), nameServer('ns2.example.test', DEAD_V4, DEAD_V6)];
      expect(await elapsed(() => waitUntilVisible(servers, fqdn, 'v2', 5))).toBeLessThan(1000);
      // An address that never answers at all holds one poll up to the query timeout, not the whole wait.
      const unreachable = [nameServer('ns1.example.test', bind), nameServer('ns2.example.test', UNREACHABLE_V6)];
      expect(await elapsed(() => waitUntilVisible(unreachable, fqdn, 'v2', 2))).toBeLessThan(2500);
    });

    it('waits for every name server that answers, naming those without the value and why when time runs out', async () => {
      const fqdn = freshName();
      await publish(fqdn, 'v3');
      const servers = [nameServer('ns1.example.test', bind), nameServer('ns2.example.test', stale, DEAD_V4), nameServer('ns3.example.test', DEAD_V4)];
      await expect(waitUntilVisible(servers, fqdn, 'v3', 1)).rejects.toMatchObject({
        name: 'PropagationError',
        message:
          `The TXT record ${fqdn} did not appear on ns2.example.test, ns3.example.test within 1 s: ` +
          `ns2.example.test (${stale.address} answers without the value; The DNS server 127.0.0.1:1 refused the connection: nothing listens there); ` +
          'ns3.example.test (The DNS server 127.0.0.1:1 refused the connection: nothing listens there)',
      });
    });

    it('fails at the deadline when no name server answers at all', async () => {
      const fqdn = freshName();
      const took = await elapsed(() =>
        expect(waitUntilVisible([nameServer('ns1.example.test', DEAD_V4, DEAD_V6)], fqdn, 'v4', 1)).rejects.toThrow(
          new RegExp(`^The TXT record ${fqdn} did not appear on ns1.example.test within 1 s: ns1.example.test \\(The DNS server 127.0.0.1:1 refused the connection: nothing listens there; The DNS server \\[::1\\]:1 .*\\)$`),
        ),
      );
      expect(took).toBeGreaterThanOrEqual(1000);
      expect(took).toBeLessThan(2500);
    });

    it('polls the zone’s name servers, found through the resolver, with every address of each', async () => {
      const fqdn = freshName();
      const noServers: DnsProvider = { createTxt: async () => undefined, deleteTxt: async () => undefined, verify: async () => undefined };
      const waiting = withResolvers([bind.address], () => waitForPropagation(noServers, fqdn, 'v5', { mode: 'check', timeoutSeconds: 1, delaySeconds: 0 }));
      // Port 53 of those addresses is not the harness BIND: they cannot show the value, and the message says which they are.
      const error = await waiting.then(
        () => new Error('resolved'),
        (thrown: Error) => thrown,
      );
      expect(error.message).toMatch(new RegExp(`^The TXT record ${fqdn} did not appear on ns1.example.test, ns2.example.test within 1 s: `));
      expect(error.message).toMatch(/ns1\.example\.test \([^)]*127\.0\.0\.1:53[^)]*\[::1\]:53[^)]*\)/);
      expect(error.message).toMatch(/ns2\.example\.test \([^)]*127\.0\.0\.2:53[^)]*\[::1\]:53[^)]*\)/);
    });
  });

  describe('the challenge record name', () => {
    it('follows the _acme-challenge CNAME found through the resolver', async () => {
      const name = await withResolvers([bind.address], () => challengeRecordName(bind.aliasZone));
      expect(name).toBe(bind.challengeAliases[`_acme-challenge.${bind.aliasZone}`]);
    });

    it('is _acme-challenge.<domain> for a name no resolver here knows, or when the resolver is down', async () => {
      expect(await withResolvers([bind.address], () => challengeRecordName(INTERNAL))).toBe(`_acme-challenge.${INTERNAL}`);
      const took = await elapsed(async () => expect(await withResolvers(['127.0.0.1:1'], () => challengeRecordName(bind.aliasZone))).toBe(`_acme-challenge.${bind.aliasZone}`));
      expect(took).toBeLessThan(2000);
    });
  });

  describe('an internal name published by a script', () => {
    let dir: string;
    let script: string;

    beforeAll(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'certmid-propagation-'));
      script = path.join(dir, 'publish.sh');
      await writeFile(script, `#!/bin/sh\necho "$@" >> ${dir}/calls\n`);
      await chmod(script, 0o755);
    });

    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    /** What `publish` in issue.ts does: find the name, run the script, wait as configured. */
    async function publishThroughScript(mode: 'off' | 'delay' | 'check'): Promise<string> {
      const provider = shellProvider.create(shellProvider.schema.parse({ script, user: userInfo().username, delay: 10 }), { timeoutMs: 2000 });
      const value = randomBytes(8).toString('hex');
      const fqdn = await challengeRecordName(INTERNAL);
      await provider.createTxt(fqdn, value);
      await waitForPropagation(provider, fqdn, value, { mode, timeoutSeconds: 5, delaySeconds: 1 });
      return value;
    }

    it('publishes at _acme-challenge.<domain> in off and delay modes, the lookups failing quietly', async () => {
      await withResolvers([bind.address], async () => {
        const offValue = await publishThroughScript('off');
        expect(await elapsed(() => publishThroughScript('delay'))).toBeGreaterThanOrEqual(1000);
        const calls = await readFile(path.join(dir, 'calls'), 'utf8');
        expect(calls).toContain(`set ${INTERNAL} _acme-challenge.${INTERNAL} ${offValue}\n`);
      });
    });

    it('does the same with the resolver down', async () => {
      await withResolvers(['127.0.0.1:1'], async () => {
        await publishThroughScript('off');
        await publishThroughScript('delay');
      });
    });

    it('fails at once in check mode, saying there is nothing to poll and what to use instead', async () => {
      await withResolvers([bind.address], async () => {
        await expect(publishThroughScript('check')).rejects.toThrow(
          `Cannot check that the TXT record _acme-challenge.${INTERNAL} is visible (No zone with name servers contains _acme-challenge.${INTERNAL}); propagation mode "delay" or "off" does without that check`,
        );
      });
    });
  });
});
