/**
 * PEM splitting (src/crypto/pem.ts) on damaged and random text: it never throws, finds exactly
 * the blocks the plain regular expression finds, and stays linear on text built to make a
 * backtracking search rescan (thousands of BEGIN lines without an END).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitPem } from '../../src/crypto/pem.js';
import { damagedPemText, fixture, runs } from './fuzz.js';

/** The specification: the first `-----END <same label>-----` after each BEGIN line closes it. */
const PEM_BLOCK = /-----BEGIN ([^\r\n-]+)-----\r?\n([\s\S]*?)-----END \1-----/g;
const reference = (text: string) => [...text.matchAll(PEM_BLOCK)].map(([pem, label]) => ({ label, pem }));
const found = (text: string) => splitPem(text).map(({ label, pem }) => ({ label, pem }));

const SEEDS = ['ec-cert.pem', 'csr.pem', 'crl.pem', 'ec-key.pem', 'ec-key-legacy.pem', 'rsa-key-legacy.pem'].map((name) => fixture(name).toString());

/** Text made of PEM-ish pieces, so markers and labels collide far more often than in random text. */
const pemPieces = fc
  .array(
    fc.oneof(
      fc.constantFrom('-----BEGIN ', '-----END ', '-----', 'A', 'B', ' ', '\n', '\r\n', 'AAEC', ':', '=', '-'),
      fc.constantFrom('-----BEGIN A-----\n', '-----END A-----', '-----BEGIN B-----\r\n', '-----END B-----', '-----BEGIN A B-----\n', '-----END A B-----'),
      fc.string({ maxLength: 6 }),
    ),
    { maxLength: 40 },
  )
  .map((pieces) => pieces.join(''));

describe('splitPem', () => {
  it('finds what the regular expression finds in damaged PEM text', () => {
    fc.assert(
      fc.property(fc.oneof(...SEEDS.map(damagedPemText)), (text) => {
        expect(found(text)).toEqual(reference(text));
      }),
    );
  });

  it('finds what the regular expression finds in text made of PEM pieces', () => {
    fc.assert(
      fc.property(pemPieces, (text) => {
        expect(found(text)).toEqual(reference(text));
      }),
      { numRuns: runs(1000) },
    );
  });

  it('never throws on random text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300, unit: 'binary' }), (text) => void splitPem(text)));
  });

  it('stays linear: 64 KB of BEGIN lines without an END take a few milliseconds, not a rescan per line', () => {
    const texts = ['-----BEGIN A-----\n'.repeat(3600), Array.from({ length: 3600 }, (_, i) => `-----BEGIN A${i % 10}-----\n-----END B-----\n`).join('').slice(0, 65_536)];
    // Scaled up tenfold so that a quadratic search would take many seconds even on a fast machine.
    for (const text of texts.map((t) => t.repeat(10))) {
      const started = performance.now();
      expect(splitPem(text)).toEqual([]);
      expect(performance.now() - started).toBeLessThan(1000);
    }
  });
});
