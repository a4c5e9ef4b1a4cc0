/**
 * Entry points to the ASN.1 schema library (@peculiar/asn1-schema with the @peculiar/asn1-x509
 * schemas) for certificates, CSRs, CRLs, names and extensions, plus the few local schemas where
 * the stock ones lose bytes that OpenSSL's text shows (see each class).
 */
import {
  AsnArray,
  AsnIntegerArrayBufferConverter,
  AsnIntegerBigIntConverter,
  AsnParser,
  AsnProp,
  AsnPropTypes,
  AsnSerializer,
  AsnType,
  AsnTypeTypes,
  type IAsnConverter,
  type IAsnConvertible,
} from '@peculiar/asn1-schema';
import {
  AccessDescription,
  AlgorithmIdentifier,
  AuthorityKeyIdentifier,
  DistributionPoint,
  DistributionPointName,
  Extensions,
  GeneralName,
  GeneralSubtree,
  NameConstraints,
  Reason,
  SubjectPublicKeyInfo,
  Time,
  Validity,
  Version,
} from '@peculiar/asn1-x509';
import * as asn1js from 'asn1js';

/** Malformed or unexpected ASN.1. */
export class Asn1Error extends Error {
  override readonly name = 'Asn1Error';
}

type Schema<T> = new () => T;

/**
 * Deepest ASN.1 nesting one decoded value may have. Real input stays far below (a PKCS#12
 * SafeContents holding a PBES2 shrouded key is ten deep, a certificate less); the bound keeps
 * decoding linear and off the stack's limit, whatever the input.
 */
export const MAX_BER_NESTING = 32;

/**
 * The decoder does not look inside OCTET and BIT STRINGs for encodings (extension values, keys,
 * signatures): what this code reads of them it decodes itself, once, and the rest is never needed.
 */
const BER_OPTIONS = { maxDepth: MAX_BER_NESTING, parseEmbedded: false };
/** The schema parser decodes IMPLICIT-tagged values again: with the same bounds. */
const PARSE_OPTIONS = { berOptions: BER_OPTIONS };

/**
 * Decodes BER or DER `bytes` as `type`, as PKCS#8 and PKCS#12 files are read: other tools write
 * them in BER, and bytes after the value are ignored as OpenSSL ignores them.
 */
export function parseBer<T>(bytes: Uint8Array | ArrayBuffer, type: Schema<T>): T {
  try {
    return AsnParser.parse(bytes, type, PARSE_OPTIONS);
  } catch (error) {
    throw new Asn1Error(`Not a valid ${type.name}: ${(error as Error).message}`);
  }
}

/**
 * Parses `der`, which must hold exactly one value of `type` (trailing bytes are malformed). Every
 * failure of the parser, hostile nesting that exhausts the stack among them, is an {@link Asn1Error}.
 */
export function parseExact<T>(der: Uint8Array, type: Schema<T>): T {
  return parseBlock(decodeExact(der), type);
}

/** Reads a value the decoder has already made (see {@link RequestAttribute}) as `type`, with {@link parseExact}'s errors. */
export function parseBlock<T>(block: asn1js.AsnType, type: Schema<T>): T {
  try {
    return AsnParser.fromASN<T>(block, type, PARSE_OPTIONS);
  } catch (error) {
    // The parser's own failures (TypeErrors among them) describe the input, not a fault here.
    throw new Asn1Error(`Unexpected ASN.1 ${type.name}: ${(error as Error).message}`);
  }
}

/** The one value `der` holds, decoded; the decoder's exceptions (bad times, deep nesting) are refusals too. */
function decodeExact(der: Uint8Array): asn1js.AsnType {
  let parsed: ReturnType<typeof asn1js.fromBER>;
  try {
    parsed = asn1js.fromBER(der, BER_OPTIONS);
  } catch (error) {
    throw new Asn1Error(`Unreadable ASN.1: ${(error as Error).message}`);
  }
  if (parsed.offset === -1 || parsed.result.error) throw new Asn1Error(parsed.result.error || 'Unreadable ASN.1');
  if (parsed.offset !== der.byteLength) throw new Asn1Error('Trailing data after ASN.1 value');
  return parsed.result;
}

/** DER of a schema object. */
export const encode = (value: unknown): Buffer => Buffer.from(AsnSerializer.serialize(value));

/** A value whose DER is already known (a CA's subject, a previous certificate's extension), written unchanged. */
export class EncodedValue implements IAsnConvertible {
  constructor(public der: Buffer = Buffer.alloc(0)) {}

  fromASN(asn: asn1js.AsnType): this {
    this.der = Buffer.from(asn.valueBeforeDecodeView);
    return this;
  }

  toASN(): asn1js.AsnType {
    return new VerbatimBlock(this.der) as unknown as asn1js.AsnType;
  }

  toSchema(name: string): asn1js.AsnType {
    return new asn1js.Any({ name }) as unknown as asn1js.AsnType;
  }
}

/**
 * An encoded value inside a structure being encoded: its bytes are written as they are, where the
 * decoder's blocks would be decoded and encoded again (the same bytes for DER, at several times the cost).
 */
class VerbatimBlock extends asn1js.BaseBlock {
  constructor(private readonly bytes: Buffer) {
    super();
  }

  override toBER(_sizeOnly?: boolean, writer?: { write(buffer: ArrayBuffer): void }): ArrayBuffer {
    const copy = new Uint8Array(this.bytes).buffer;
    if (!writer) return copy;
    writer.write(copy);
    return new ArrayBuffer(0);
  }
}

/** A decoded primitive or constructed value: identifier and contents, as a leaf reader needs them. */
export interface Asn1Value {
  tagClass: number;
  tagNumber: number;
  constructed: boolean;
  /** Contents octets of a primitive value (empty for constructed ones). */
  body: Buffer;
  raw: Buffer;
}

/** Reads exactly one encoded value (as kept by an ANY field). */
export function readValue(raw: ArrayBuffer | Uint8Array): Asn1Value {
  const bytes = Buffer.from(raw instanceof Uint8Array ? raw : new Uint8Array(raw));
  return valueOfBlock(decodeExact(bytes), bytes);
}

function valueOfBlock(block: asn1js.AsnType, raw: Buffer): Asn1Value {
  const { valueHexView } = block.valueBlock as { valueHexView?: Uint8Array };
  return {
    tagClass: block.idBlock.tagClass,
    tagNumber: block.idBlock.tagNumber,
    constructed: block.idBlock.isConstructed,
    body: valueHexView && !block.idBlock.isConstructed ? Buffer.from(valueHexView) : Buffer.alloc(0),
    raw,
  };
}

/** An ANY field read as {@link readValue} reads it, from the block the decoder already made instead of decoding its bytes again. */
export class DecodedValue extends EncodedValue {
  value!: Asn1Value;

  override fromASN(asn: asn1js.AsnType): this {
    super.fromASN(asn);
    this.value = valueOfBlock(asn, this.der);
    return this;
  }
}

/** Universal tag numbers of the character string types. */
export const STRING_TAG = {
  UTF8: 12,
  NUMERIC: 18,
  PRINTABLE: 19,
  T61: 20,
  IA5: 22,
  VISIBLE: 26,
  UNIVERSAL: 28,
  BMP: 30,
} as const;

/** Decodes a character string as OpenSSL's ASN1_STRING_to_UTF8 does (one-byte types as Latin-1). */
export function decodeText(value: Asn1Value): string {
  const { body } = value;
  switch (value.tagClass === 1 ? value.tagNumber : -1) {
    case STRING_TAG.UTF8:
      return body.toString('utf8');
    case STRING_TAG.BMP:
      return Buffer.from(body.subarray(0, body.length & ~1)).swap16().toString('utf16le');
    case STRING_TAG.UNIVERSAL: {
      let text = '';
      for (let i = 0; i + 3 < body.length; i += 4) {
        const codePoint = body.readUInt32BE(i);
        if (codePoint > 0x10ffff) throw new Asn1Error(`Invalid UniversalString code point ${codePoint}`);
        text += String.fromCodePoint(codePoint);
      }
      return text;
    }
    default:
      return body.toString('latin1');
  }
}

/** An INTEGER's value from its contents octets (two's complement). */
export const integerValue = (octets: ArrayBuffer): bigint => new asn1js.Integer({ valueHex: octets }).toBigInt();

/** Contents octets of a non-negative INTEGER (a leading 0x00 when the top bit is set, so it stays positive). */
export function integerOctets(value: bigint): ArrayBuffer {
  if (value < 0n) throw new RangeError('Negative INTEGER values are not written');
  return asn1js.Integer.fromBigInt(value).valueBlock.valueHexView.slice().buffer;
}

/** DER of an INTEGER. */
export const integerDer = (value: bigint): Buffer => Buffer.from(AsnIntegerBigIntConverter.toASN(value).toBER());

/** RFC 5280 §4.1.2.5 Time: UTCTime for 1950 through 2049, GeneralizedTime otherwise; whole seconds. */
export function x509Time(date: Date): Time {
  const seconds = new Date(Math.floor(date.getTime() / 1000) * 1000);
  const year = seconds.getUTCFullYear();
  return new Time(year >= 1950 && year < 2050 ? { utcTime: seconds } : { generalTime: seconds });
}

// ---------------------------------------------------------------- local schemas
// Decorators are applied as functions: this code base compiles without legacy decorator syntax.

function sequence(target: new () => unknown, props: Record<string, Parameters<typeof AsnProp>[0]>, type = AsnTypeTypes.Sequence): void {
  for (const [key, options] of Object.entries(props)) AsnProp(options)(target.prototype as object, key);
  AsnType({ type })(target);
}

function arrayOf(target: new () => unknown, itemType: Parameters<typeof AsnProp>[0]['type'], type = AsnTypeTypes.Sequence): void {
  AsnType({ type, itemType })(target);
}

/**
 * AttributeTypeAndValue with the value kept as encoded: the stock AttributeValue decodes strings to
 * JavaScript text and drops the string type, which the DN escaping and the name hash depend on.
 */
export class NameAttribute {
  type = '';
  value = new DecodedValue();
}
sequence(NameAttribute, { type: { type: AsnPropTypes.ObjectIdentifier }, value: { type: DecodedValue } });

export class NameRdn extends AsnArray<NameAttribute> {}
arrayOf(NameRdn, NameAttribute, AsnTypeTypes.Set);

/** A distinguished name whose attribute values keep their encoding. */
export class EncodedName extends AsnArray<NameRdn> {}
arrayOf(EncodedName, NameRdn);

/**
 * GeneralName with iPAddress as its octets (the stock converter turns them into text, folding a
 * name constraint's mask into a prefix length) and directoryName as an {@link EncodedName}.
 */
export class GeneralNameOctets extends GeneralName {}
sequence(
  GeneralNameOctets,
  {
    iPAddress: { type: AsnPropTypes.OctetString, context: 7, implicit: true },
    directoryName: { type: EncodedName, context: 4, implicit: false },
  },
  AsnTypeTypes.Choice,
);

export class GeneralNamesOctets extends AsnArray<GeneralNameOctets> {}
arrayOf(GeneralNamesOctets, GeneralNameOctets);

/** AuthorityKeyIdentifier whose issuer names keep their octets. */
export class AuthorityKeyIdentifierOctets extends AuthorityKeyIdentifier {}
sequence(AuthorityKeyIdentifierOctets, { authorityCertIssuer: { type: GeneralNameOctets, context: 1, optional: true, implicit: true, repeated: 'sequence' } });

export class DistributionPointNameOctets extends DistributionPointName {}
sequence(
  DistributionPointNameOctets,
  {
    fullName: { type: GeneralNameOctets, context: 0, implicit: true, repeated: 'sequence' },
    nameRelativeToCRLIssuer: { type: NameRdn, context: 1, implicit: true },
  },
  AsnTypeTypes.Choice,
);

export class DistributionPointOctets extends DistributionPoint {}
sequence(DistributionPointOctets, {
  distributionPoint: { type: DistributionPointNameOctets, context: 0, optional: true },
  reasons: { type: Reason, context: 1, optional: true, implicit: true },
  cRLIssuer: { type: GeneralNameOctets, context: 2, optional: true, implicit: true, repeated: 'sequence' },
});

export class CrlDistributionPointsOctets extends AsnArray<DistributionPointOctets> {}
arrayOf(CrlDistributionPointsOctets, DistributionPointOctets);

export class AccessDescriptionOctets extends AccessDescription {}
sequence(AccessDescriptionOctets, { accessLocation: { type: GeneralNameOctets } });

export class InfoAccessOctets extends AsnArray<AccessDescriptionOctets> {}
arrayOf(InfoAccessOctets, AccessDescriptionOctets);

export class GeneralSubtreeOctets extends GeneralSubtree {}
sequence(GeneralSubtreeOctets, { base: { type: GeneralNameOctets } });

export class GeneralSubtreesOctets extends AsnArray<GeneralSubtreeOctets> {}
arrayOf(GeneralSubtreesOctets, GeneralSubtreeOctets);

export class NameConstraintsOctets extends NameConstraints {}
sequence(NameConstraintsOctets, {
  permittedSubtrees: { type: GeneralSubtreesOctets, context: 0, optional: true, implicit: true },
  excludedSubtrees: { type: GeneralSubtreesOctets, context: 1, optional: true, implicit: true },
});

/** SEQUENCE OF INTEGER (TLSFeature, RFC 7633). */
export class IntegerList extends AsnArray<number> {}
AsnType({ type: AsnTypeTypes.Sequence, itemType: AsnPropTypes.Integer })(IntegerList);

/**
 * TBSCertificate with the names and the key kept as encoded (the issuer of a new certificate is the
 * CA's subject byte for byte; the name hash and the key are read from the same bytes).
 */
export class TbsCertificateParts {
  version = Version.v1;
  serialNumber: ArrayBuffer = new ArrayBuffer(0);
  signature = new AlgorithmIdentifier();
  /** Kept as encoded: a certificate's own issuer name is only ever copied (into an AuthorityKeyIdentifier), never read. */
  issuer = new EncodedValue();
  validity = new Validity();
  subject = new EncodedName();
  subjectRaw?: ArrayBuffer;
  /** Kept as encoded: node:crypto reads (and checks) the key from these bytes. */
  subjectPublicKeyInfo = new EncodedValue();
  issuerUniqueID?: ArrayBuffer;
  subjectUniqueID?: ArrayBuffer;
  extensions?: Extensions;
}
sequence(TbsCertificateParts, {
  version: { type: AsnPropTypes.Integer, context: 0, defaultValue: Version.v1 },
  serialNumber: { type: AsnPropTypes.Integer, converter: AsnIntegerArrayBufferConverter },
  signature: { type: AlgorithmIdentifier },
  issuer: { type: EncodedValue },
  validity: { type: Validity },
  subject: { type: EncodedName, raw: true },
  subjectPublicKeyInfo: { type: EncodedValue },
  issuerUniqueID: { type: AsnPropTypes.BitString, context: 1, implicit: true, optional: true },
  subjectUniqueID: { type: AsnPropTypes.BitString, context: 2, implicit: true, optional: true },
  extensions: { type: Extensions, context: 3, optional: true },
});

export class CertificateParts {
  tbsCertificate = new TbsCertificateParts();
  tbsCertificateRaw?: ArrayBuffer;
  signatureAlgorithm = new AlgorithmIdentifier();
  signatureValue: ArrayBuffer = new ArrayBuffer(0);
}
sequence(CertificateParts, {
  tbsCertificate: { type: TbsCertificateParts, raw: true },
  signatureAlgorithm: { type: AlgorithmIdentifier },
  signatureValue: { type: AsnPropTypes.BitString },
});

/** An ANY field as the decoder's block itself, for a caller that reads it with a schema next. */
const DECODED_BLOCK: IAsnConverter<asn1js.AsnType> = {
  fromASN: (block: asn1js.AsnType) => block,
  toASN: (block: asn1js.AsnType) => block,
};

/** A CSR attribute whose values stay decoded: the extension request inside is read without being decoded a second time. */
export class RequestAttribute {
  type = '';
  values: asn1js.AsnType[] = [];
}
sequence(RequestAttribute, {
  type: { type: AsnPropTypes.ObjectIdentifier },
  values: { type: AsnPropTypes.Any, repeated: 'set', converter: DECODED_BLOCK },
});

export class RequestAttributes extends AsnArray<RequestAttribute> {}
arrayOf(RequestAttributes, RequestAttribute, AsnTypeTypes.Set);

/** CertificationRequestInfo with the subject and key kept as encoded. */
export class RequestInfoParts {
  version = 0;
  subject = new EncodedName();
  subjectPKInfo = new SubjectPublicKeyInfo();
  subjectPKInfoRaw?: ArrayBuffer;
  attributes?: RequestAttributes;
}
sequence(RequestInfoParts, {
  version: { type: AsnPropTypes.Integer },
  subject: { type: EncodedName },
  subjectPKInfo: { type: SubjectPublicKeyInfo, raw: true },
  attributes: { type: RequestAttributes, context: 0, implicit: true, optional: true },
});

export class RequestParts {
  certificationRequestInfo = new RequestInfoParts();
  certificationRequestInfoRaw?: ArrayBuffer;
  signatureAlgorithm = new AlgorithmIdentifier();
  signature: ArrayBuffer = new ArrayBuffer(0);
}
sequence(RequestParts, {
  certificationRequestInfo: { type: RequestInfoParts, raw: true },
  signatureAlgorithm: { type: AlgorithmIdentifier },
  signature: { type: AsnPropTypes.BitString },
});
