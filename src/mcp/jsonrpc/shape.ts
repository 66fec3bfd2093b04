// The JSON-RPC 2.0 message shapes MCP allows, checked by hand on the request path. The same
// rules as the SDK's strict JSONRPCMessageSchema (exact key sets, integer or string ids,
// integer error codes), without building a parse result for every message: the request's
// params are validated again, in full, by the handler's own schema.
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';

export type MessageKind = 'request' | 'notification' | 'response' | 'error';

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isRequestId(value: unknown): value is RequestId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value));
}

/** Every key of `value` is one of `allowed` (the SDK's schemas are strict). */
function onlyKeys(value: Fields, allowed: readonly string[]): boolean {
  for (const key in value) if (!allowed.includes(key)) return false;
  return true;
}

const REQUEST_KEYS = ['jsonrpc', 'id', 'method', 'params'] as const;
const NOTIFICATION_KEYS = ['jsonrpc', 'method', 'params'] as const;
const RESPONSE_KEYS = ['jsonrpc', 'id', 'result'] as const;
const ERROR_KEYS = ['jsonrpc', 'id', 'error'] as const;

function validParams(params: unknown): boolean {
  if (params === undefined) return true;
  if (!isObject(params)) return false;
  return params._meta === undefined || isObject(params._meta);
}

/** What kind of JSON-RPC message `value` is, or undefined when it is none. */
export function messageKind(value: unknown): MessageKind | undefined {
  if (!isObject(value) || value.jsonrpc !== '2.0') return undefined;
  if (typeof value.method === 'string') {
    if (!validParams(value.params)) return undefined;
    if (value.id === undefined) {
      return onlyKeys(value, NOTIFICATION_KEYS) ? 'notification' : undefined;
    }
    return isRequestId(value.id) && onlyKeys(value, REQUEST_KEYS) ? 'request' : undefined;
  }
  if (value.method !== undefined) return undefined;
  if ('result' in value) {
    return isRequestId(value.id) && isObject(value.result) && onlyKeys(value, RESPONSE_KEYS)
      ? 'response'
      : undefined;
  }
  if ('error' in value) {
    const error = value.error;
    const valid =
      (value.id === undefined || isRequestId(value.id)) &&
      isObject(error) &&
      typeof error.code === 'number' &&
      Number.isInteger(error.code) &&
      typeof error.message === 'string' &&
      onlyKeys(value, ERROR_KEYS);
    return valid ? 'error' : undefined;
  }
  return undefined;
}

/** A response or error answering a request: the id it answers. */
export function answeredId(message: JSONRPCMessage): RequestId | undefined {
  if ('result' in message || 'error' in message) {
    const id = (message as { id?: unknown }).id;
    return isRequestId(id) ? id : undefined;
  }
  return undefined;
}
