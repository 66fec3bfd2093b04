// The /mcp body reader: the plain path for uncompressed UTF-8 JSON, body-parser for the
// rest, and the same error types body-parser gives (so bodyErrorHandler answers the same).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import express, { type Request, type Response } from 'express';
import { bodyErrorHandler, jsonBody } from '../../src/http/guards/body.js';
import { describeIllFormedString, jsonValueProblem } from '../../src/util/json-walk.js';

const LIMITS = { maxBytes: 64, maxDepth: 8 };
let server: Server;
let url: string;

beforeAll(async () => {
  const app = express();
  app.post('/mcp', jsonBody(LIMITS), bodyErrorHandler(LIMITS), (req: Request, res: Response) => {
    res.json({ body: req.body as unknown });
  });
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function post(
  body: string | Blob,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<{ status: number; json: { body?: unknown; error?: { code: number } } }> {
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, json: (await res.json()) as { body?: unknown } };
}

describe('jsonBody', () => {
  it('parses a UTF-8 JSON object, with or without a charset, and +json types', async () => {
    expect((await post('{"a":"é"}')).json.body).toEqual({ a: 'é' });
    const withCharset = { 'content-type': 'application/json; charset=UTF-8' };
    expect((await post('[1]', withCharset)).json.body).toEqual([1]);
    const plusJson = { 'content-type': 'application/vnd.example+json' };
    expect((await post('{"b":1}', plusJson)).json.body).toEqual({ b: 1 });
  });

  it('gives {} for an empty body and strips a byte-order mark', async () => {
    expect((await post('')).json.body).toEqual({});
    expect((await post('\uFEFF{"c":2}')).json.body).toEqual({ c: 2 });
  });

  it('leaves other media types unparsed', async () => {
    expect((await post('{"a":1}', { 'content-type': 'text/plain' })).json.body).toBeUndefined();
  });

  it('refuses a body with a lone surrogate, escaped or in UTF-16, with 400 -32600 naming where', async () => {
    const refused = await post('{"id":1,"params":{"uri":"x\\ud800"}}');
    expect(refused).toEqual({
      status: 400,
      json: {
        jsonrpc: '2.0',
        id: null,
        error: {
          code: -32600,
          message:
            'Invalid Request: the string at params.uri is not well-formed Unicode: it holds a lone UTF-16 surrogate (an escape such as \\ud800 without its pair); send text as UTF-8, or escape a surrogate pair whole',
        },
      },
    });
    // Decoded by body-parser from UTF-16: the surrogate arrives as itself, not as an escape.
    const utf16 = { 'content-type': 'application/json; charset=utf-16le' };
    const raw = new Blob([Buffer.from('{"a":"\ud800"}', 'utf16le')]);
    expect(await post(raw, utf16)).toMatchObject({
      status: 400,
      json: { error: { code: -32600 } },
    });
    expect((await post('{"a":"\\ud83d\\ude00"}')).json.body).toEqual({ a: '😀' });
  });

  it('refuses a top-level value that is not an object or array, and malformed JSON', async () => {
    expect(await post('"text"')).toMatchObject({ status: 400, json: { error: { code: -32700 } } });
    expect(await post('{"a":')).toMatchObject({ status: 400, json: { error: { code: -32700 } } });
  });

  it('refuses a body over the limit with 413, declared or streamed', async () => {
    expect((await post(JSON.stringify({ pad: 'x'.repeat(100) }))).status).toBe(413);
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(`{"pad":"${'y'.repeat(100)}"}`));
        controller.close();
      },
    });
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: chunked,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
  });

  it('hands compressed bodies and other charsets to body-parser', async () => {
    const gz = { 'content-type': 'application/json', 'content-encoding': 'gzip' };
    expect((await post(new Blob([gzipSync('{"z":1}')]), gz)).json.body).toEqual({ z: 1 });
    const latin1 = { 'content-type': 'application/json; charset=latin1' };
    expect((await post('{"a":1}', latin1)).status).toBe(415);
  });

  it('refuses a body nested deeper than the limit with 400 -32600, also when compressed', async () => {
    const deep = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
    expect((await post(deep(8))).json.body).toEqual(JSON.parse(deep(8)));
    const refused = await post(deep(9));
    expect(refused).toMatchObject({ status: 400, json: { error: { code: -32600 } } });
    expect(JSON.stringify(refused.json)).toContain('deeper than 8 levels');
    const gz = { 'content-type': 'application/json', 'content-encoding': 'gzip' };
    expect((await post(new Blob([gzipSync(`{"a":${deep(8)}}`)]), gz)).status).toBe(400);
  });
});

describe('jsonValueProblem: depth', () => {
  const nestsDeeperThan = (value: unknown, maxDepth: number): boolean =>
    jsonValueProblem(value, maxDepth) === 'too deep';
  const nested = (levels: number): unknown => {
    let value: unknown = 'leaf';
    for (let i = 0; i < levels; i++) value = i % 2 === 0 ? [value] : { k: value };
    return value;
  };

  it('counts objects and arrays, not scalars', () => {
    expect(nestsDeeperThan('text', 0)).toBe(false);
    expect(nestsDeeperThan({}, 0)).toBe(true);
    expect(nestsDeeperThan({}, 1)).toBe(false);
    expect(nestsDeeperThan({ a: [1, { b: null }] }, 2)).toBe(true);
    expect(nestsDeeperThan({ a: [1, { b: null }] }, 3)).toBe(false);
    expect(nestsDeeperThan(nested(64), 64)).toBe(false);
    expect(nestsDeeperThan(nested(65), 64)).toBe(true);
  });

  it('finds the deep branch among wide shallow ones', () => {
    const wide = { many: Array.from({ length: 1000 }, (_, i) => ({ i })), deep: nested(20) };
    expect(nestsDeeperThan(wide, 20)).toBe(true);
    expect(nestsDeeperThan(wide, 21)).toBe(false);
  });

  it('measures a million levels without recursion', () => {
    const value = JSON.parse('['.repeat(1_000_000) + ']'.repeat(1_000_000)) as unknown;
    expect(nestsDeeperThan(value, 1000)).toBe(true);
  });
});

describe('jsonValueProblem: strings that are not well-formed Unicode', () => {
  const parse = (text: string): unknown => JSON.parse(text) as unknown;

  it('finds a lone surrogate, escaped in either case, in a value or a key, anywhere', () => {
    for (const text of [
      '{"a":"\\ud800"}',
      '{"a":"x\\uDBFFy"}',
      '{"a":"\\udc00"}',
      '{"a":"\\ude00\\ud83d"}', // a pair the wrong way round
      '{"a":"\\ud83d\\ud83d\\ude00"}', // a high one before a pair
      '{"\\ud800":1}',
      '[1,{"b":[null,"ok","\\udfff"]}]',
      '{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"mcpgate://e/\\ud800"}}',
    ]) {
      expect([text, jsonValueProblem(parse(text), 64)]).toEqual([text, 'ill-formed string']);
    }
    expect(jsonValueProblem('\ud800', 64)).toBe('ill-formed string');
  });

  it('accepts surrogate pairs, escaped or not, and every other string', () => {
    for (const text of [
      '{"a":"\\ud83d\\ude00"}',
      '{"a":"😀 café \\u00e9 \\\\ud800"}', // the last is a backslash, then "ud800"
      '{"😀":["\\uD83D\\uDE00",{"k":"\\uffff"}]}',
    ]) {
      expect([text, jsonValueProblem(parse(text), 64)]).toEqual([text, undefined]);
    }
  });

  it('walks 100,000 levels without recursion to a lone surrogate at the bottom', () => {
    const text = '['.repeat(100_000) + '"\\ud800"' + ']'.repeat(100_000);
    expect(jsonValueProblem(parse(text), 200_000)).toBe('ill-formed string');
  });

  it('names where the string is, as a path from the top', () => {
    const read = parse(
      '{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"mcpgate://e/\\ud800"}}',
    );
    expect(describeIllFormedString(read)).toBe('the string at params.uri');
    expect(describeIllFormedString(parse('[{"a":1},{"params":{"x y":["ok","\\udc00"]}}]'))).toBe(
      'the string at [1].params["x y"][1]',
    );
    expect(describeIllFormedString(parse('{"args":{"a\\ud800":1}}'))).toBe(
      'the key args["a\\ud800"]',
    );
    expect(describeIllFormedString(parse(`{"${'k'.repeat(300)}":"\\ud800"}`))).toHaveLength(
      'the string at '.length + 200,
    );
    expect(describeIllFormedString(parse('{"a":"\\ud83d\\ude00"}'))).toBeUndefined();
  });
});
