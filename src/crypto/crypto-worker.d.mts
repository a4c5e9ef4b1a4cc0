/** What the main thread imports from the crypto pool's thread module (crypto-worker.mjs). */

/** What the pool passes as workerData to the threads it starts. */
export declare const POOL_THREAD: string;

/** `plaintext` sealed with `key` (32 bytes) under a fresh IV: `v1:` and the base64 of IV | GCM tag | ciphertext. */
export declare function sealText(key: Uint8Array, plaintext: string): string;

/** The plaintext of a text `sealText` sealed with `key`; throws if it is not one or was altered. */
export declare function openSealed(key: Uint8Array, sealed: string): string;
