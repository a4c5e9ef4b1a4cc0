/**
 * Deploy targets: places a certificate is copied to after every issue, renewal or replacement
 * (files on this host, a webhook, another host over SSH/SFTP, another TrueNAS-compatible system).
 * Each kind is one module under `kinds/` implementing `DeployKind`; `kinds/index.ts` lists them.
 */
import type { z } from 'zod';
import type { App } from '../app.js';

/** What a deploy sends: the certificate as it stands when the deploy job starts. */
export interface DeployMaterial {
  /** The certificate's id and name in this system. */
  certificateId: number;
  name: string;
  /** The leaf certificate alone (PEM). */
  certificatePem: string;
  /** The issuing chain without the leaf (PEM, possibly empty). */
  chainPem: string;
  /** Leaf followed by its chain (PEM). */
  fullchainPem: string;
  /** The private key (PKCS#8 PEM), or null for a certificate stored without one. */
  privateKeyPem: string | null;
  /** The leaf's serial in openssl's hex form, what `last_serial` records once deployed. */
  serial: string;
  /** The leaf's SHA-256 fingerprint, as certificate entries show it. */
  fingerprint: string;
  notAfter: Date;
}

/** What a kind's `deploy` is given. */
export interface DeployContext {
  app: App;
  /** The target's attributes, parsed by the kind's schema, secrets decrypted. */
  attributes: Record<string, unknown>;
  material: DeployMaterial;
  /** Aborted when the job is aborted or the daemon stops; a kind passes it to every wait. */
  signal: AbortSignal;
  /** Progress inside this deploy, 0–100, with a message for each phase. */
  progress(percent: number, description: string): void;
}

/** One kind of deploy target. */
export interface DeployKind {
  /** The wire value of a target's `kind`, upper case (`LOCAL`, `WEBHOOK`, `SSH`, `TRUENAS`). */
  key: string;
  /** How the page and messages name it. */
  label: string;
  /** Its attributes (unknown keys refused); `.describe()` texts become the form's help. */
  schema: z.ZodObject;
  /** Attribute names that hold secrets: sealed at rest, shown as "********", never logged. */
  secretFields: readonly string[];
  /**
   * Extra checks of attributes beyond the schema (a path that must be absolute, a host key that
   * must parse); returns [attribute, message] pairs, empty when fine.
   */
  validate?(attributes: Record<string, unknown>): Array<[string, string]>;
  /** Puts the material where the target says. Throws a `DeployError` with a message for the operator on failure. */
  deploy(context: DeployContext): Promise<void>;
}

/** A failed deploy, worded for the operator; the text becomes the target's `last_error`. */
export class DeployError extends Error {
  override name = 'DeployError';
}
