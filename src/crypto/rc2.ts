/**
 * RC2-CBC decryption (RFC 2268). Node's OpenSSL 3 leaves RC2 in the legacy provider, yet
 * `openssl pkcs12 -legacy` and older tools encrypt certificate bags with pbeWithSHA1And40BitRC2-CBC;
 * reading those files needs this.
 */

/** RFC 2268 §2: PITABLE, a permutation of 0..255 from the digits of pi. */
const PITABLE = Buffer.from(
  'd978f9c419ddb5ed28e9fd794aa0d89dc67e37832b76538e624c6488448bfba2179a59f587b34f1361456d8d09817d32' +
    'bd8f40eb86b77b0bf09521225c6b4e8254d66593ce60b21c7356c014a78cf1dc1275ca1f3bbee4d1423dd430a33cb626' +
    '6fbf0eda4669075727f21d9bbc944303f811c7f690ef3ee706c3d52fc8661ed708e8eade8052eef784aa72ac354d6a2a' +
    '961ad2715a1549744b9fd05e0418a4ecc2e0416e0f51cbcc2491af50a1f47039997c3a8523b8b47afc02365b25559731' +
    '2d5dfa98e38a92ae05df2910676cbac9d300e6cfe19ea82c6316013f58e289a90d38341bab33ffb0bb480c5fb9b1cd2e' +
    'c5f3db47e5a59c770aa62068fe7fc1ad',
  'hex',
);

/** RFC 2268 §2 key expansion to 64 16-bit words. */
function expandKey(key: Buffer, effectiveBits: number): Uint16Array {
  const l = Buffer.alloc(128);
  key.copy(l);
  const t = key.length;
  for (let i = t; i < 128; i++) l[i] = PITABLE[(l[i - 1]! + l[i - t]!) & 0xff]!;
  const t8 = Math.ceil(effectiveBits / 8);
  const tm = 0xff >> (8 * t8 - effectiveBits);
  l[128 - t8] = PITABLE[l[128 - t8]! & tm]!;
  for (let i = 127 - t8; i >= 0; i--) l[i] = PITABLE[l[i + 1]! ^ l[i + t8]!]!;
  const words = new Uint16Array(64);
  for (let i = 0; i < 64; i++) words[i] = l.readUInt16LE(i * 2);
  return words;
}

const ROTATIONS = [1, 2, 3, 5];

/** RFC 2268 §4: inverse of five/six mixing rounds and the two mashing rounds, on one 8-byte block. */
function decryptBlock(k: Uint16Array, block: Buffer): Buffer {
  const r = [block.readUInt16LE(0), block.readUInt16LE(2), block.readUInt16LE(4), block.readUInt16LE(6)];
  let j = 63;
  const at = (i: number): number => r[(i + 4) % 4]!;
  const reverseMix = (): void => {
    for (let i = 3; i >= 0; i--) {
      const s = ROTATIONS[i]!;
      const rotated = ((r[i]! >>> s) | (r[i]! << (16 - s))) & 0xffff;
      r[i] = (rotated - k[j--]! - (at(i - 1) & at(i - 2)) - (~at(i - 1) & at(i - 3))) & 0xffff;
    }
  };
  const reverseMash = (): void => {
    for (let i = 3; i >= 0; i--) r[i] = (r[i]! - k[at(i - 1) & 63]!) & 0xffff;
  };
  for (const [mixes, mash] of [[5, true], [6, true], [5, false]] as const) {
    for (let n = 0; n < mixes; n++) reverseMix();
    if (mash) reverseMash();
  }
  const out = Buffer.alloc(8);
  r.forEach((word, i) => out.writeUInt16LE(word, i * 2));
  return out;
}

/**
 * RC2-CBC decryption with PKCS#7 padding removal.
 *
 * @throws Error on a ciphertext that is not whole blocks or has bad padding (e.g. a wrong password).
 */
export function rc2CbcDecrypt(key: Buffer, effectiveBits: number, iv: Buffer, ciphertext: Buffer): Buffer {
  if (ciphertext.length === 0 || ciphertext.length % 8) throw new Error('RC2 ciphertext is not a whole number of blocks');
  const k = expandKey(key, effectiveBits);
  const plain = Buffer.alloc(ciphertext.length);
  let previous = iv;
  for (let offset = 0; offset < ciphertext.length; offset += 8) {
    const block = ciphertext.subarray(offset, offset + 8);
    const decrypted = decryptBlock(k, block);
    for (let i = 0; i < 8; i++) plain[offset + i] = decrypted[i]! ^ previous[i]!;
    previous = block;
  }
  const pad = plain[plain.length - 1]!;
  if (pad < 1 || pad > 8 || !plain.subarray(plain.length - pad).every((byte) => byte === pad)) throw new Error('Bad RC2 padding');
  return plain.subarray(0, plain.length - pad);
}
