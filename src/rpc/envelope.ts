import { RPC_CODE } from '../errors/codes.js';
import type { RpcError } from '../errors/to-rpc-error.js';

export type RequestId = string | number | null;

export interface RpcRequest {
  /** Absent for notifications: they run, and get no reply. */
  id?: RequestId;
  method: string;
  params: unknown[];
}

export type EnvelopeCheck =
  | { ok: true; request: RpcRequest }
  | { ok: false; id: RequestId; error: RpcError };

const invalid = (id: RequestId, message: string): EnvelopeCheck => ({
  ok: false,
  id,
  error: { code: RPC_CODE.INVALID_REQUEST, message },
});

/** Checks one decoded message against JSON-RPC 2.0 with TrueNAS's exact messages. */
export function checkEnvelope(message: unknown): EnvelopeCheck {
  if (Array.isArray(message)) {
    return { ok: false, id: null, error: { code: RPC_CODE.PARSE_ERROR, message: 'Batch messages are not supported at this time' } };
  }
  if (message === null || typeof message !== 'object') {
    return { ok: false, id: null, error: { code: RPC_CODE.PARSE_ERROR, message: 'Invalid Message Format' } };
  }
  const m = message as Record<string, unknown>;
  const idValid = m.id === undefined || m.id === null || typeof m.id === 'string' || (typeof m.id === 'number' && Number.isFinite(m.id));
  const id = idValid ? ((m.id ?? null) as RequestId) : null;
  if (!('jsonrpc' in m)) return invalid(id, "Missing 'jsonrpc' member");
  if (m.jsonrpc !== '2.0') return invalid(id, "'jsonrpc' member must be of type string and must be exactly '2.0'");
  if (!idValid) return invalid(null, "'id' member must be of type null, string or number");
  if (!('method' in m)) return invalid(id, "Missing 'method' member");
  if (typeof m.method !== 'string' || m.method === '') return invalid(id, "'method' member must be of type string");
  if ('params' in m && !Array.isArray(m.params)) return invalid(id, "'params' member must be of type array");
  const request: RpcRequest = { method: m.method, params: (m.params as unknown[] | undefined) ?? [] };
  if ('id' in m) request.id = id;
  return { ok: true, request };
}
