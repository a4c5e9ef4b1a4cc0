/**
 * The pinned host key of an SSH deploy target: either the server's public key line (as
 * known_hosts, `ssh-keyscan` or a `.pub` file show it) or its SHA-256 fingerprint as
 * `ssh-keygen -lf` prints it. The server's key is checked against it before anything is sent.
 */
import { createHash } from 'node:crypto';

/** A parsed pin: what the presented key must match, and which host key algorithms may present it. */
export interface HostKeyPin {
  /** `SHA256:<unpadded base64>`, OpenSSH's form. */
  fingerprint: string;
  /** The key's type (`ssh-ed25519`, …) when the pin is a key line; null for a fingerprint pin. */
  keyType: string | null;
}

const FINGERPRINT = /^SHA256:([A-Za-z0-9+/]{43})=?$/;
const KEY_TYPE = /^(ssh-(ed25519|ed448|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9-]+@openssh\.com)$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** OpenSSH's fingerprint of a public key blob: `SHA256:` and the unpadded base64 of its SHA-256. */
export function sshFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The algorithm name at the start of an SSH public key blob (a uint32 length, then the name). */
function blobKeyType(blob: Buffer): string | null {
  if (blob.length < 4) return null;
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > 64 || blob.length < 4 + length) return null;
  return blob.subarray(4, 4 + length).toString('latin1');
}

/**
 * Parses a pin, or returns why it does not parse. Accepted: `ssh-ed25519 AAAA… [comment]`, the
 * same after a known_hosts host field, `SHA256:…` alone, or a whole `ssh-keygen -lf` line
 * (`256 SHA256:… comment (ED25519)`).
 */
export function parseHostKeyPin(text: string): HostKeyPin | string {
  const tokens = text.trim().split(/\s+/).filter(Boolean);
  // A key line first: its comment may hold anything, a "SHA256:" word too.
  const typeIndex = tokens.slice(0, 2).findIndex((token) => KEY_TYPE.test(token));
  const fingerprint = tokens.find((token) => token.startsWith('SHA256:'));
  if (typeIndex < 0 && fingerprint !== undefined) {
    const match = FINGERPRINT.exec(fingerprint);
    if (!match) return 'The SHA256 fingerprint must be 43 base64 characters after "SHA256:", as ssh-keygen -lf prints it';
    return { fingerprint: `SHA256:${match[1]}`, keyType: null };
  }
  if (typeIndex < 0) {
    return 'Not an SSH public key line (e.g. "ssh-ed25519 AAAA…" from ssh-keyscan) nor a SHA256:… fingerprint';
  }
  const keyType = tokens[typeIndex]!;
  const encoded = tokens[typeIndex + 1];
  if (encoded === undefined || !BASE64.test(encoded)) return `The ${keyType} key line has no base64 key after its type`;
  const blob = Buffer.from(encoded, 'base64');
  if (blobKeyType(blob) !== keyType) return `The base64 key does not hold a ${keyType} key`;
  return { fingerprint: sshFingerprint(blob), keyType };
}

/** The host key algorithms that present a key of this type (RSA keys sign with three). */
export function hostKeyAlgorithms(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
}
