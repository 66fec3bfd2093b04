// Request and response classes for node:http whose instances are created with an Express
// app's own prototypes (app.request, app.response).
//
// Why: Express sets those prototypes on every request (Object.setPrototypeOf in app.handle).
// In Node 20's V8, an object whose prototype is changed after it has properties survives
// young-generation collections (scavenges) together with everything it references, until a
// full mark-compact. Every request's req/res graph (headers, body, auth, the handler chain)
// was promoted that way: measured on the gateway, about 14% of everything allocated per
// tools/call, which made each scavenge copy 1.6 MB and forced a 7-14 ms mark-compact every
// few seconds at 1,000 calls/s; those pauses were the latency tail. Setting a prototype an
// object already has changes nothing, so with these classes the swap is a no-op.
import { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Express } from 'express';

export interface ExpressClasses {
  IncomingMessage: typeof IncomingMessage;
  ServerResponse: typeof ServerResponse;
}

/** For createServer({ ...expressClasses(app) }, app). */
export function expressClasses(app: Express): ExpressClasses {
  // Plain functions as new.target: Reflect.construct runs Node's constructor on an object
  // whose prototype is app.request / app.response from the start.
  function Request(socket: Socket): IncomingMessage {
    return Reflect.construct(IncomingMessage, [socket], Request) as IncomingMessage;
  }
  Request.prototype = app.request;
  function Response(req: IncomingMessage, options?: object): ServerResponse {
    return Reflect.construct(ServerResponse, [req, options], Response) as ServerResponse;
  }
  Response.prototype = app.response;
  // node:http calls them with `new`; their instances are IncomingMessage / ServerResponse.
  return {
    IncomingMessage: Request as unknown as typeof IncomingMessage,
    ServerResponse: Response as unknown as typeof ServerResponse,
  };
}
