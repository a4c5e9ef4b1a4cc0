import type { ValueTransformer } from 'typeorm';

/**
 * Column helpers that read the same on SQLite and PostgreSQL. Times are stored as integer
 * milliseconds (PostgreSQL returns bigint as a string, hence the transformer).
 */
export const millisecondsTransformer: ValueTransformer = {
  to: (value: Date | null | undefined) => (value instanceof Date ? value.getTime() : value ?? null),
  from: (value: string | number | null) => (value === null || value === undefined ? null : new Date(Number(value))),
};

/** JSON kept in a text column, so both databases store it alike. */
export const jsonTransformer: ValueTransformer = {
  to: (value: unknown) => (value === undefined ? null : JSON.stringify(value)),
  from: (value: string | null) => (value === null || value === undefined ? null : (JSON.parse(value) as unknown)),
};

export const timestampColumn = (nullable = false) =>
  ({ type: 'bigint', nullable, transformer: millisecondsTransformer }) as const;

export const jsonColumn = (nullable = false) => ({ type: 'text', nullable, transformer: jsonTransformer }) as const;
