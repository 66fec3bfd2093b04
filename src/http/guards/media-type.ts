// Guard in front of /mcp: the media types of a POST, checked before its body is read. A
// POST must accept both JSON and an event stream (406 otherwise) and send JSON (415), as
// the Streamable HTTP transport requires. The transport checks the same again, but only
// once a session has been found or opened: without this guard a POST without a session
// was told to send initialize first, and an initialize that accepted no event stream
// opened a session it could not be answered on.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isJsonContentType } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import { TRANSPORT_REFUSED } from '../../mcp/jsonrpc/codes.js';
import { sendJsonRpcError } from '../../mcp/jsonrpc/http-error.js';
import {
  acceptsJsonAndStream,
  NOT_ACCEPTABLE,
  UNSUPPORTED_MEDIA_TYPE,
} from '../../mcp/server/http-transport.js';
import type { Refusal } from '../refusal-log.js';

/** Undefined to go on; the refusal (answered) otherwise. Only POSTs are checked. */
export function mediaTypeGuard(req: IncomingMessage, res: ServerResponse): Refusal | undefined {
  if (req.method !== 'POST') return undefined;
  // In the transport's order: Accept, then Content-Type.
  if (!acceptsJsonAndStream(req.headers.accept)) {
    sendJsonRpcError(res, 406, TRANSPORT_REFUSED, NOT_ACCEPTABLE);
    return { status: 406, reason: NOT_ACCEPTABLE };
  }
  if (!isJsonContentType(req.headers['content-type'])) {
    sendJsonRpcError(res, 415, TRANSPORT_REFUSED, UNSUPPORTED_MEDIA_TYPE);
    return { status: 415, reason: UNSUPPORTED_MEDIA_TYPE };
  }
  return undefined;
}
