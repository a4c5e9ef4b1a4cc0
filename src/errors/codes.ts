/**
 * The one table of error numbers and names, as TrueNAS clients know them
 * (Linux errno values plus the TrueNAS-specific numbers from 201 up).
 */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EAGAIN: 11,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ETIMEDOUT: 110,
  ETOOMANYREFS: 109,
  ECONNREFUSED: 111,
  ECANCELED: 125,
  ENOMETHOD: 201,
  ENOTAUTHENTICATED: 207,
  ESSLCERTVERIFICATIONERROR: 208,
} as const;

export type Errname = keyof typeof ERRNO;

const NAME_BY_NUMBER = new Map<number, Errname>(
  Object.entries(ERRNO).map(([name, number]) => [number, name as Errname]),
);

/** The errname for a number, `EFAULT` for numbers outside the table. */
export function errnameOf(errno: number): Errname {
  return NAME_BY_NUMBER.get(errno) ?? 'EFAULT';
}

/** JSON-RPC error codes used on the wire. */
export const RPC_CODE = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  TOO_MANY_CONCURRENT_CALLS: -32000,
  CALL_ERROR: -32001,
} as const;
