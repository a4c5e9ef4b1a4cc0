/**
 * What an import would bring in, read from the pasted or uploaded input before anything is saved:
 * each certificate's subject, issuer, validity, SANs, key, whether the private key belongs to the
 * leaf and whether the passphrase opened it. The certificates are read by Node's X509Certificate
 * (OpenSSL), so the preview is an independent reading of what the import will parse.
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { describeKey, readPrivateKey as loadKey } from '../crypto/keys.js';
import { splitPem } from '../crypto/pem.js';
import { ValidationErrors } from '../errors/validation-errors.js';
import { ctime } from './entry.js';
import type { ImportPreview, ImportPreviewInput, PreviewedCertificate } from './import-preview-shape.js';
import { certificateInputToPem, keyInput, readPkcs12, readPrivateKey, type LoadedMaterial } from './validation.js';

export type { ImportPreview, ImportPreviewInput, PreviewedCertificate } from './import-preview-shape.js';

const SCHEMA = 'certificate_import_preview';

/** A distinguished name on one line, in the certificate's own order: `CN=nas, O=Home, C=US`. */
function oneLine(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}

function previewCertificate(cert: X509Certificate, now: Date): PreviewedCertificate {
  const key = describeKey(cert.publicKey);
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  // Whole bytes, as openssl prints it: a leading zero byte goes, a leading zero nibble stays (`0EA1…`).
  const serialHex = cert.serialNumber.toUpperCase().replace(/^(?:00)+(?=.)/, '');
  return {
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    self_signed: cert.subject === cert.issuer && cert.verify(cert.publicKey),
    is_ca: cert.ca,
    from: ctime(notBefore),
    until: ctime(notAfter),
    not_before: notBefore,
    not_after: notAfter,
    expired: notAfter.getTime() < now.getTime(),
    san: cert.subjectAltName ? cert.subjectAltName.split(', ') : [],
    serial: BigInt(`0x${cert.serialNumber}`).toString(),
    serial_hex: serialHex,
    key_type: key.keyType,
    key_length: key.keyLength,
    fingerprint_sha256: cert.fingerprint256,
  };
}

/** Whether the key input opens without a passphrase (then a passphrase did not open anything). */
async function opensWithoutPassphrase(input: string): Promise<boolean> {
  try {
    await loadKey(keyInput(input), null);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads the input as `certificate.create` with CERTIFICATE_CREATE_IMPORTED would, and describes it.
 * @throws ValidationErrors naming the attribute that cannot be read (`certificate_import_preview.certificate`).
 */
export async function previewImport(input: ImportPreviewInput, now = new Date()): Promise<ImportPreview> {
  const errors = new ValidationErrors();
  const loaded: LoadedMaterial = { privateKey: null, certificatePem: null, csrPem: null, san: [] };
  let format: ImportPreview['format'] = 'PEM';
  let passphraseOpened = false;
  if (input.pkcs12) {
    format = 'PKCS12';
    await readPkcs12(input.pkcs12, input.passphrase, `${SCHEMA}.pkcs12`, loaded, errors);
    passphraseOpened = Boolean(input.passphrase) && !errors.has(`${SCHEMA}.pkcs12`);
  } else if (input.certificate) {
    loaded.certificatePem = certificateInputToPem(input.certificate);
    if (!loaded.certificatePem) errors.add(`${SCHEMA}.certificate`, 'Not a valid certificate');
    else if (!input.certificate.includes('-----BEGIN')) format = 'DER';
  } else {
    errors.add(`${SCHEMA}.certificate`, 'A certificate or a PKCS#12 bundle is required');
  }
  if (input.privatekey && !input.pkcs12) {
    loaded.privateKey = await readPrivateKey(input.privatekey, input.passphrase, `${SCHEMA}.privatekey`, errors);
    passphraseOpened = loaded.privateKey !== null && Boolean(input.passphrase) && !(await opensWithoutPassphrase(input.privatekey));
  }
  errors.check();
  const parsed = splitPem(loaded.certificatePem!).map((block) => new X509Certificate(block.pem));
  const key: KeyObject | null = loaded.privateKey;
  return {
    format,
    certificates: parsed.map((cert) => previewCertificate(cert, now)),
    private_key: key ? { ...keyDescription(key), matches_certificate: parsed[0]!.checkPrivateKey(key), passphrase_opened: passphraseOpened } : null,
  };
}

function keyDescription(key: KeyObject): { key_type: string; key_length: number } {
  const info = describeKey(key);
  return { key_type: info.keyType, key_length: info.keyLength };
}
