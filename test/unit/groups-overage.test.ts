// GroupsOverageResolver against a real local membership endpoint: Graph paging is followed
// to the end, answers are cached, and failures leave the groups unresolved.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GroupsOverageResolver } from '../../src/identity/groups-overage.js';
import { silentLogger } from '../../src/util/logger.js';

let server: Server;
let base: string;
const requests: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    res.setHeader('content-type', 'application/json');
    const url = req.url ?? '';
    if (url.startsWith('/paged/')) {
      const page = Number(new URL(url, base).searchParams.get('page') ?? '1');
      const body: Record<string, unknown> = { value: [{ id: `g${page}` }] };
      if (page < 3) body['@odata.nextLink'] = `${base}${url.split('?')[0]}?page=${page + 1}`;
      res.end(JSON.stringify(body));
    } else if (url.startsWith('/broken/')) {
      res.end(JSON.stringify({ members: [] }));
    } else {
      res.statusCode = 500;
      res.end('{}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

const resolver = (path: string) =>
  new GroupsOverageResolver(
    { endpoint: `${base}${path}`, headers: {}, cacheMs: 60_000 },
    silentLogger,
  );

describe('GroupsOverageResolver', () => {
  it('follows @odata.nextLink to the last page and caches the result', async () => {
    const r = resolver('/paged/{tid}/{oid}');
    expect(await r.resolve('t1', 'o1')).toEqual(['g1', 'g2', 'g3']);
    const count = requests.length;
    expect(await r.resolve('t1', 'o1')).toEqual(['g1', 'g2', 'g3']);
    expect(requests.length).toBe(count);
    expect(requests.some((u) => u.startsWith('/paged/t1/o1'))).toBe(true);
  });

  it('leaves groups unresolved when the answer has neither shape', async () => {
    expect(await resolver('/broken/{oid}').resolve('t', 'o')).toBeUndefined();
  });

  it('leaves groups unresolved when the endpoint fails', async () => {
    expect(await resolver('/fails/{oid}').resolve('t', 'o')).toBeUndefined();
  });
});
