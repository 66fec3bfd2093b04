// Request and response classes for node:http whose instances are created with an Express
// app's own prototypes (app.request, app.response).
//
// Why: Express sets those prototypes on every request (Object.setPrototypeOf in app.handle).
// In Node 20's V8 an object whose prototype changes after it has properties survives
// young-generation collections (scavenges) together with everything it references, until a
// full mark-compact. Every request's req/res graph (headers, body, auth, the handler chain)
// was promoted that way. Measured on the gateway at 1,000 tools/call per second: the old
// generation grew 21 MB/s, so a mark-compact (7-15 ms pause, and ~100 ms of concurrent
// marking on the gateway's one core) came every 4-5 s; those were the latency tail. With
// these classes it grows 7 MB/s. Setting a prototype an object already has changes nothing.
import { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Express } from 'express';

export interface ExpressClasses {
  IncomingMessage: typeof IncomingMessage;
  ServerResponse: typeof ServerResponse;
}

/** For createServer({ ...expressClasses(app) }, app). */
export function expressClasses(app: Express): ExpressClasses {
  // ES5-style constructors: `new Request(socket)` makes an object from Request's own initial
  // map (prototype app.request) and runs Node's constructor on it. Not Reflect.construct
  // with Request as new.target: V8 then builds a fresh map per request, in the old
  // generation (measured: ~8 KB a request, old space growing as fast as before).
  function Request(this: IncomingMessage, socket: Socket): void {
    Reflect.apply(IncomingMessage, this, [socket]);
  }
  Request.prototype = app.request;
  function Response(this: ServerResponse, req: IncomingMessage, options?: object): void {
    Reflect.apply(ServerResponse, this, [req, options]);
  }
  Response.prototype = app.response;
  // node:http calls them with `new`; their instances are IncomingMessage / ServerResponse.
  return {
    IncomingMessage: Request as unknown as typeof IncomingMessage,
    ServerResponse: Response as unknown as typeof ServerResponse,
  };
}
