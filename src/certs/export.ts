import type { EntitySchema } from 'typeorm';
import { z } from 'zod';
import type { CallContext } from '../api/call-context.js';
import { exportPrivateKeyPem } from '../crypto/keys.js';
import { splitPem } from '../crypto/pem.js';
import { exportPkcs12 } from '../crypto/pkcs12.js';
import { NotAuthorizedError } from '../errors/call-error.js';
import { InstanceNotFoundError, ValidationErrors } from '../errors/validation-errors.js';
import type { CertificateRowBase } from './entities.js';
import { chainPems } from './entry.js';
import { entryContext, mayReadKeys, openKey } from './store.js';

export const ExportRequest = z
  .strictObject({
    format: z.enum(['PEM', 'DER', 'FULLCHAIN', 'PKCS12']).default('PEM').describe('PEM, DER (certificate only), FULLCHAIN (PEM with its CAs) or PKCS12.'),
    include_key: z.boolean().default(false).describe('Include the private key (needs the write role).'),
    password: z.string().max(1024).optional().describe('PKCS12 only: the password that protects the bundle (required).'),
  })
  .default({ format: 'PEM', include_key: false })
  .describe('What to export.');

export type ExportRequest = z.output<typeof ExportRequest>;

export const ExportedFileSchema = z
  .object({
    format: z.string().describe('The format produced.'),
    encoding: z.enum(['utf-8', 'base64']).describe('How `data` is encoded: text, or base64 for binary formats.'),
    filename: z.string().describe('A suggested file name.'),
    data: z.string().describe('The exported content.'),
  })
  .describe('The exported file.');

export type ExportedFile = z.output<typeof ExportedFileSchema>;

/**
 * PEM blocks as one file, each block on lines of its own: stored and imported text may lack a final
 * newline, and a block glued to the next one's BEGIN line is unreadable to openssl and others.
 */
function pemFile(blocks: readonly string[]): string {
  return blocks.map((block) => `${block.trim()}\n`).join('');
}

/** Exports a certificate or CA in the requested format; the key only for callers with the write role. */
export async function exportCertificate(
  ctx: CallContext,
  entity: EntitySchema<CertificateRowBase> | EntitySchema<never>,
  id: number,
  request: ExportRequest,
): Promise<ExportedFile> {
  const isCa = (entity as EntitySchema<CertificateRowBase>).options.name === 'certificate_authority';
  const schema = isCa ? 'certificateauthority_export' : 'certificate_export';
  const row = (await ctx.app.db.getRepository(entity as EntitySchema<CertificateRowBase>).findOneBy({ id })) as CertificateRowBase | null;
  if (!row) throw new InstanceNotFoundError(`${isCa ? 'CertificateAuthority' : 'Certificate'} ${id} does not exist`);
  if (request.include_key && !mayReadKeys(ctx.caller, isCa ? 'CERTIFICATE_AUTHORITY_WRITE' : 'CERTIFICATE_WRITE')) throw new NotAuthorizedError();
  const errors = new ValidationErrors();
  const key = request.include_key ? openKey(ctx.app, row) : null;
  if (request.include_key && !key) errors.add(`${schema}.include_key`, 'This entry has no private key');
  if (!row.certificate && request.format !== 'PEM') errors.add(`${schema}.format`, 'A CSR can only be exported as PEM');
  if (request.format === 'PKCS12' && !request.password) errors.add(`${schema}.password`, 'A password is required for PKCS12');
  if (request.format === 'DER' && request.include_key) errors.add(`${schema}.include_key`, 'DER holds the certificate only');
  errors.check();

  const keyPem = key ? [exportPrivateKeyPem(key)] : [];
  const own = row.certificate ? splitPem(row.certificate)[0]!.pem : row.CSR!;
  const chain = row.certificate ? chainPems(row, await entryContext(ctx.app, false)) : [];
  switch (request.format) {
    case 'PEM':
      return { format: 'PEM', encoding: 'utf-8', filename: `${row.name}.${row.certificate ? 'crt' : 'csr'}`, data: pemFile([own, ...keyPem]) };
    case 'FULLCHAIN':
      return { format: 'FULLCHAIN', encoding: 'utf-8', filename: `${row.name}-fullchain.pem`, data: pemFile([...chain, ...keyPem]) };
    case 'DER':
      return { format: 'DER', encoding: 'base64', filename: `${row.name}.der`, data: splitPem(own)[0]!.der.toString('base64') };
    case 'PKCS12':
      return {
        format: 'PKCS12',
        encoding: 'base64',
        filename: `${row.name}.p12`,
        data: (await exportPkcs12({ certificates: chain, privateKey: key, password: request.password!, friendlyName: row.name })).toString('base64'),
      };
  }
}
