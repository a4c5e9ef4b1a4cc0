/**
 * What an import brings in, as the server reads it (`certificate.import_preview`) before anything
 * is saved: the confirm step lists it instead of the first characters of the pasted PEM.
 */
import { h, type Child } from './dom.js';
import { serialText } from './format.js';
import type { ImportPreview } from '../src/certs/import-preview-shape.js';

export type { ImportPreview } from '../src/certs/import-preview-shape.js';
/** What `certificate.import_preview` takes. */
export type { ImportPreviewInput as ImportInput } from '../src/certs/import-preview-shape.js';

const FORMATS: Record<ImportPreview['format'], string> = { PEM: 'PEM', DER: 'DER (binary)', PKCS12: 'PKCS#12 bundle' };

const keyText = (type: string, length: number) => (type === 'EC' ? `EC ${length}-bit` : `${type} ${length}`);


/** Label/value lines for the confirm step. */
export function previewLines(preview: ImportPreview): Array<readonly [string, Child]> {
  const [leaf, ...chain] = preview.certificates;
  const lines: Array<readonly [string, Child]> = [['Format', FORMATS[preview.format]]];
  if (leaf) {
    lines.push(
      ['Subject', leaf.subject],
      ['Issuer', leaf.self_signed ? `${leaf.issuer} (self-signed)` : leaf.issuer],
      ['Valid', h('span', null, `${leaf.from} – ${leaf.until}`, leaf.expired ? h('strong', { class: 'preview-warn' }, ' (expired)') : null)],
      ['Subject Alternative Names', leaf.san.join(', ') || '—'],
      ['Serial', serialText(leaf.serial) ?? leaf.serial_hex],
      ['Public Key', keyText(leaf.key_type, leaf.key_length)],
      ['SHA-256 Fingerprint', h('span', { class: 'mono' }, leaf.fingerprint_sha256)],
    );
  }
  chain.forEach((cert, i) => lines.push([`Chain ${i + 1}`, `${cert.subject}, issued by ${cert.issuer}, until ${cert.until}`]));
  const key = preview.private_key;
  if (key) {
    lines.push([
      'Private Key',
      h(
        'span',
        { 'data-key-match': String(key.matches_certificate) },
        keyText(key.key_type, key.key_length),
        key.matches_certificate ? ', matches the certificate' : h('strong', { class: 'preview-warn' }, ', does NOT match the certificate'),
      ),
    ]);
    if (key.passphrase_opened) lines.push(['Passphrase', 'Opened the encrypted ' + (preview.format === 'PKCS12' ? 'bundle' : 'key')]);
  } else {
    lines.push(['Private Key', 'None given']);
  }
  return lines;
}

/** A file's bytes in base64 (the API's form for DER and PKCS#12). */
export async function fileBase64(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}
