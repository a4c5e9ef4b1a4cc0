/**
 * The behaviour every HTTP DNS provider shares, written once: publishing and removing TXT values,
 * deleting what is not there, wrong credentials, a server that is down or silent, verification and
 * the attribute schema. Each provider test file calls `describeProviderContract` with its fake and
 * the provider's own words, and keeps only the tests of what is particular to that API.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { DnsProvider, ProviderDefinition } from '../../src/dns/provider.js';
import { DnsProviderError } from '../../src/dns/provider.js';
import { closedOrigin, neverAnswer, startFakeServer } from '../fakes/fake-http.js';

/** What a contract test needs from one running fake; the test file starts and closes the fake. */
export interface ProviderHarness {
  /** A provider with good credentials, talking to the fake. */
  provider(): DnsProvider;
  /** A provider with wrong credentials, talking to the fake. */
  wrongProvider(): DnsProvider;
  /** A provider that verify() must refuse; defaults to `wrongProvider`. */
  badVerifier?(): DnsProvider;
  /** A provider with good credentials, talking to `origin` with `timeoutMs` per request. */
  at(origin: string, timeoutMs: number): DnsProvider;
  /** The TXT values at the contract's name, as the fake stores them. */
  txt(): string[];
  /** Puts `value` at the contract's name behind the provider's back; without it the provider writes it. */
  seed?(value: string): void;
}

/** What an error must carry: a status, and a message equal to a string or matching an asymmetric matcher. */
export interface ExpectedError {
  status?: number;
  message?: unknown;
}

export interface ProviderContract {
  /** The provider definition, for its schema and secret fields. */
  definition: Pick<ProviderDefinition, 'schema' | 'secretFields'>;
  /** The attributes that must be kept secret, in order. */
  secretFields: readonly string[];
  /** The prefix of every error message, e.g. "linode" or "OVH". */
  label: string;
  /** The name the record cases write (e.g. a deep "_acme-challenge.a.b.example.com"). */
  name: string;
  /** Two values the API accepts; "token-1" and "token-2" unless given. */
  values?: readonly [string, string];
  /** How the fake stores a written value (e.g. quoted); as given unless set. */
  stored?: (value: string) => string;
  /** Starts (or takes) the fake for one test. */
  start(): Promise<ProviderHarness> | ProviderHarness;
  /** False where the API does not keep values per name (acme-dns): skips the record cases. */
  records?: boolean;
  /** False where writing a value already there adds it again (the API keeps duplicates): skips that step. */
  skipsExisting?: boolean;
  /** Runs after the second value is deleted and before the last one goes. */
  afterDeleteOne?(): void;
  /** Runs after the last value is deleted. */
  afterDeleteLast?(): void;
  /** Runs after deleting a value that was never written, before anything else is written. */
  afterMissingDelete?(): void;
  /** The API writes one set per name: two values written at once through one provider must both survive. */
  concurrentWrites?: boolean;
  /** The error for wrong credentials, and the secret it must not show. */
  wrongCredentials: ExpectedError & { secret: string };
  /** What verify() with bad credentials must fail with; false skips the verification case. */
  badVerify: ExpectedError | false;
  /** A name no zone of the fake holds, and the message naming it. */
  outsideZone?: { name: string; message: string };
}

/** Resolves to the DnsProviderError `promise` rejects with, failing the test if it does anything else. */
export async function failure(promise: Promise<unknown>): Promise<DnsProviderError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(DnsProviderError);
  return error as DnsProviderError;
}

function expectError(error: DnsProviderError, expected: ExpectedError): void {
  if (expected.status !== undefined) expect(error.status).toBe(expected.status);
  if (expected.message !== undefined) expect(error.message).toEqual(expected.message);
}

/** Registers the shared DNS provider cases under `describe(`${title} contract`)`. */
export function describeProviderContract(title: string, contract: ProviderContract): void {
  const [first, second] = contract.values ?? ['token-1', 'token-2'];
  const stored = (...values: string[]) => values.map(contract.stored ?? ((value) => value));
  const { name, label } = contract;

  describe(`${title} contract`, () => {
    let h: ProviderHarness;
    beforeEach(async () => {
      h = await contract.start();
    });

    if (contract.records !== false) {
      const skips = contract.skipsExisting !== false;
      it(skips ? 'adds a second value at the same name and skips a value already there' : 'adds a second value at the same name', async () => {
        await h.provider().createTxt(name, first);
        await h.provider().createTxt(name, second);
        if (skips) await h.provider().createTxt(name, second);
        expect(h.txt()).toEqual(stored(first, second));
      });

      it('deletes one value, keeps the other, then removes the last', async () => {
        const dns = h.provider();
        await dns.createTxt(name, first);
        await dns.createTxt(name, second);
        await dns.deleteTxt(name, first);
        expect(h.txt()).toEqual(stored(second));
        contract.afterDeleteOne?.();
        await dns.deleteTxt(name, second);
        expect(h.txt()).toEqual([]);
        contract.afterDeleteLast?.();
      });

      it('treats deleting a record that is not there as done', async () => {
        await h.provider().deleteTxt(name, first);
        contract.afterMissingDelete?.();
        expect(h.txt()).toEqual([]);
        if (h.seed) h.seed('kept');
        else await h.provider().createTxt(name, 'kept');
        await h.provider().deleteTxt(name, first);
        expect(h.txt()).toEqual(stored('kept'));
      });
    }

    if (contract.concurrentWrites) {
      it('keeps both values when two challenges for one name are written at once', async () => {
        const dns = h.provider();
        await Promise.all([dns.createTxt(name, 'apex'), dns.createTxt(name, 'wildcard')]);
        expect(h.txt().sort()).toEqual(stored('apex', 'wildcard'));
      });
    }

    const outside = contract.outsideZone;
    if (outside) {
      it('reports a name outside every zone', async () => {
        const error = await failure(h.provider().createTxt(outside.name, first));
        expect(error.message).toBe(outside.message);
      });
    }

    it("reports wrong credentials with the provider's message and without the secret", async () => {
      const error = await failure(h.wrongProvider().createTxt(name, first));
      expectError(error, contract.wrongCredentials);
      expect(error.message).not.toContain(contract.wrongCredentials.secret);
    });

    it('reports a server that is down', async () => {
      const down = h.at(await closedOrigin(), 2000);
      const reach = new RegExp(`^${label}: cannot reach 127\\.0\\.0\\.1:\\d+`);
      expect((await failure(down.createTxt(name, first))).message).toMatch(reach);
      if (contract.records !== false) expect((await failure(down.deleteTxt(name, first))).message).toMatch(reach);
    });

    it('gives up on a server that does not answer within the timeout', async () => {
      const silent = await startFakeServer(neverAnswer);
      try {
        const dns = h.at(silent.origin, 200);
        for (const call of [() => dns.verify(), () => dns.createTxt(name, first)]) {
          const started = Date.now();
          const error = await failure(call());
          expect(error.message).toMatch(/no answer from 127\.0\.0\.1:\d+ within 200 ms/);
          expect(Date.now() - started).toBeLessThan(2000);
        }
      } finally {
        await silent.close();
      }
    });

    const badVerify = contract.badVerify;
    if (badVerify) {
      it('verifies good credentials and rejects bad ones', async () => {
        await expect(h.provider().verify()).resolves.toBeUndefined();
        expectError(await failure((h.badVerifier ?? h.wrongProvider)().verify()), badVerify);
      });
    }

    it('describes every attribute and keeps the secrets secret', () => {
      for (const field of Object.values(contract.definition.schema.shape)) expect(field.description).toBeTruthy();
      expect(contract.definition.secretFields).toEqual(contract.secretFields);
    });
  });
}
