// The JSON body of a request to /mcp, read without body-parser for the common case: an
// uncompressed UTF-8 body. body-parser (type-is, raw-body, iconv-lite) is general and costs
// more per request than the read itself; anything else (Content-Encoding, another charset)
// still goes to it. Same outcome as body-parser's json(): a body only for JSON media types,
// {} for an empty body, only an object or array at the top (strict), and the same error
// types (entity.too.large, entity.parse.failed, request.aborted) for bodyErrorHandler; body.ts
// adds entity.too.deep and entity.ill.formed.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { McpgateError } from '../../util/errors.js';

/**
 * A middleware on Node's own request and response (body-parser's shape): it leaves the
 * parsed body on req.body, where the /mcp route takes it and hands it on explicitly.
 */
export type NodeMiddleware = (
  req: IncomingMessage & { body?: unknown },
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void;

/** A body that cannot be read: `type` and `status` as body-parser gives them. */
export class RequestBodyError extends McpgateError {
  static override readonly code = 'ERR_REQUEST_BODY';

  constructor(
    readonly type:
      | 'entity.too.large'
      | 'entity.too.deep'
      | 'entity.ill.formed'
      | 'entity.parse.failed'
      | 'request.aborted',
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function isJsonType(essence: string): boolean {
  return (
    essence === 'application/json' ||
    (essence.startsWith('application/') && essence.endsWith('+json'))
  );
}

/** The charset parameter of a Content-Type, lower-cased, or undefined. */
function charsetOf(contentType: string): string | undefined {
  const match = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType);
  return match?.[1]?.toLowerCase();
}

/** True when the plain path applies; false sends the request to body-parser. */
function plain(req: IncomingMessage): boolean {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
  const charset = charsetOf(req.headers['content-type'] ?? '');
  return charset === undefined || charset === 'utf-8' || charset === 'utf8';
}

export function leanJsonBody(limit: number, fallback: NodeMiddleware): NodeMiddleware {
  return (req, res, next) => {
    const headers = req.headers;
    // No body at all (type-is: neither Transfer-Encoding nor a Content-Length).
    if (headers['transfer-encoding'] === undefined && headers['content-length'] === undefined) {
      next();
      return;
    }
    const contentType = headers['content-type'];
    if (!contentType) {
      next();
      return;
    }
    const essence = contentType.split(';', 1)[0]!.trim().toLowerCase();
    if (!isJsonType(essence)) {
      next();
      return;
    }
    if (!plain(req)) {
      fallback(req, res, next);
      return;
    }
    const declared = Number(headers['content-length']);
    if (declared > limit) {
      req.resume();
      next(new RequestBodyError('entity.too.large', 413, 'request entity too large'));
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const finish = (err?: RequestBodyError): void => {
      if (settled) return;
      settled = true;
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('error', onError);
      req.removeListener('aborted', onAborted);
      next(err);
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limit) {
        // Discard the rest so the connection can still carry the refusal.
        req.resume();
        finish(new RequestBodyError('entity.too.large', 413, 'request entity too large'));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      let text =
        chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
      // iconv-lite (body-parser) strips a byte-order mark; so does this.
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (text.length === 0) {
        req.body = {};
        finish();
        return;
      }
      const first = /\S/.exec(text)?.[0];
      if (first !== '{' && first !== '[') {
        finish(
          new RequestBodyError('entity.parse.failed', 400, 'JSON body must be an object or array'),
        );
        return;
      }
      try {
        req.body = JSON.parse(text) as unknown;
      } catch {
        finish(new RequestBodyError('entity.parse.failed', 400, 'request body is not valid JSON'));
        return;
      }
      finish();
    };
    const onError = (): void =>
      finish(new RequestBodyError('request.aborted', 400, 'request aborted'));
    const onAborted = onError;
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  };
}
