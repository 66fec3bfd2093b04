// What the gateway declares at initialize: the lists and logging (it answers
// logging/setLevel and relays upstreams' log messages) always, and resource subscriptions,
// completions and tasks only when some upstream behind it declares them.
import { describe, expect, it } from '@jest/globals';
import type { ServerCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { gatewayCapabilities } from '../../src/pipeline/methods.js';
import { Catalog, type ServerCatalog } from '../../src/upstreams/catalog.js';

function upstream(server: string, capabilities: ServerCapabilities | undefined): ServerCatalog {
  return {
    server,
    prefix: `${server}__`,
    tools: [],
    prompts: [],
    resources: [],
    templates: [],
    capabilities,
  };
}

const declared = (...servers: ServerCatalog[]): ServerCapabilities =>
  gatewayCapabilities(Catalog.build(servers).catalog);

const LISTS = {
  tools: { listChanged: true },
  resources: { listChanged: true },
  prompts: { listChanged: true },
  logging: {},
};

describe('gatewayCapabilities', () => {
  it('declares only the lists and logging when no upstream offers more (or none is known yet)', () => {
    expect(declared()).toEqual(LISTS);
    expect(declared(upstream('a', undefined))).toEqual(LISTS);
    expect(
      declared(upstream('a', { tools: {}, resources: { listChanged: true }, logging: {} })),
    ).toEqual(LISTS);
  });

  it('declares subscriptions, completions and tasks when one upstream of several does', () => {
    const plain = upstream('plain', { tools: {} });
    expect(declared(plain, upstream('subs', { resources: { subscribe: true } }))).toEqual({
      ...LISTS,
      resources: { listChanged: true, subscribe: true },
    });
    expect(declared(plain, upstream('comp', { completions: {} }))).toEqual({
      ...LISTS,
      completions: {},
    });
    expect(
      declared(plain, upstream('tasks', { tasks: { requests: { tools: { call: {} } } } })),
    ).toEqual({
      ...LISTS,
      tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
    });
  });

  it('does not declare tasks for an upstream whose tasks are not for tools/call', () => {
    expect(declared(upstream('t', { tasks: { list: {}, cancel: {} } }))).toEqual(LISTS);
  });
});
