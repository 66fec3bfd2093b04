// Addresses in upstream answers: resource links and embedded resources in tool results and
// prompt messages, and the contents of a resource read, shown as mcpgate://<server>/<uri>;
// anything else, and an answer without addresses, passed on as it came.
import { describe, expect, it } from '@jest/globals';
import type { RequestContext, Target } from '../../src/pipeline/context.js';
import {
  namespaceContent,
  namespaceResult,
  namespaceResultAddresses,
} from '../../src/pipeline/stages/namespace-result.js';
import type { PolicyAction } from '../../src/policy/input.js';
import { Catalog, splitExposedUri, type ServerCatalog } from '../../src/upstreams/catalog.js';
import { requestContext } from './support/context.js';

const TARGETS: Record<'tool' | 'prompt' | 'resource', [PolicyAction, Target]> = {
  tool: ['tools/call', { kind: 'tool', server: 'docs', name: 't', id: 'docs.t' } as Target],
  prompt: ['prompts/get', { kind: 'prompt', server: 'docs', name: 'p', id: 'docs.p' } as Target],
  resource: [
    'resources/read',
    { kind: 'resource', server: 'docs', uri: 'file:///a.md', id: 'docs:file:///a.md' },
  ],
};

function server(name: string, prefix: string): ServerCatalog {
  return { server: name, prefix, tools: [], prompts: [], resources: [], templates: [] };
}
/** docs is prefixed (its addresses namespaced); raw has the prefix "" (shown as they are). */
const { catalog } = Catalog.build([server('docs', 'docs__'), server('raw', '')]);

function answered(kind: keyof typeof TARGETS, result: unknown): RequestContext {
  const [action, target] = TARGETS[kind];
  const ctx = requestContext(action);
  ctx.target = target;
  ctx.result = result;
  return ctx;
}

const link = { type: 'resource_link', uri: 'file:///a.md', name: 'a', mimeType: 'text/markdown' };
const embedded = {
  type: 'resource',
  resource: { uri: 'file:///b.md', text: '# B', mimeType: 'text/markdown' },
  annotations: { audience: ['user'] },
};

describe('namespaceContent', () => {
  it('namespaces a resource link, keeping every other field', () => {
    expect(namespaceContent(catalog, 'docs', link)).toEqual({
      ...link,
      uri: 'mcpgate://docs/file:///a.md',
    });
  });

  it('namespaces an embedded resource, keeping its text and the block fields', () => {
    expect(namespaceContent(catalog, 'docs', embedded)).toEqual({
      ...embedded,
      resource: { ...embedded.resource, uri: 'mcpgate://docs/file:///b.md' },
    });
  });

  it.each([
    { type: 'text', text: 'see file:///a.md' },
    { type: 'image', data: 'AA==', mimeType: 'image/png' },
    { type: 'audio', data: 'AA==', mimeType: 'audio/wav' },
    { type: 'resource', resource: { text: 'no uri' } },
    null,
  ])('passes %j on as the same object', (block) => {
    expect(namespaceContent(catalog, 'docs', block)).toBe(block);
  });

  it('gives a URI the client can resolve back to the same server and upstream URI', () => {
    const shown = namespaceContent(catalog, 'docs', { ...link, uri: 'mcpgate://other/x' }) as {
      uri: string;
    };
    expect(splitExposedUri(shown.uri)).toEqual({ server: 'docs', uri: 'mcpgate://other/x' });
  });
});

describe('an upstream without a prefix', () => {
  it('keeps its addresses as they are', () => {
    expect(namespaceContent(catalog, 'raw', link)).toBe(link);
    expect(namespaceContent(catalog, 'raw', embedded)).toBe(embedded);
  });

  it("still wraps an address that looks like the gateway's, so it stays bound to its server", () => {
    const shown = namespaceContent(catalog, 'raw', { ...link, uri: 'mcpgate://docs/x' }) as {
      uri: string;
    };
    expect(shown.uri).toBe('mcpgate://raw/mcpgate://docs/x');
    expect(catalog.resolveUri(shown.uri)).toEqual({ server: 'raw', uri: 'mcpgate://docs/x' });
  });
});

describe('namespaceResult', () => {
  it('rewrites the addresses of a tool result, leaving the upstream object untouched', () => {
    const result = {
      content: [{ type: 'text', text: 'two files' }, link, embedded],
      structuredContent: { uri: 'file:///a.md' },
      isError: false,
    };
    const before = JSON.stringify(result);
    expect(namespaceResult(catalog, answered('tool', result))).toEqual({
      content: [
        { type: 'text', text: 'two files' },
        { ...link, uri: 'mcpgate://docs/file:///a.md' },
        { ...embedded, resource: { ...embedded.resource, uri: 'mcpgate://docs/file:///b.md' } },
      ],
      // structuredContent follows the tool's own outputSchema: not the gateway's to change.
      structuredContent: { uri: 'file:///a.md' },
      isError: false,
    });
    expect(JSON.stringify(result)).toBe(before);
  });

  it('passes a tool result without addresses on as the same object', () => {
    const result = { content: [{ type: 'text', text: 'hello' }] };
    expect(namespaceResult(catalog, answered('tool', result))).toBe(result);
  });

  it('rewrites resource links and embedded resources in prompt messages', () => {
    const text = { role: 'user', content: { type: 'text', text: 'read this' } };
    const result = {
      description: 'd',
      messages: [text, { role: 'user', content: embedded }, { role: 'assistant', content: link }],
    };
    const shown = namespaceResult(catalog, answered('prompt', result)) as typeof result;
    expect(shown.messages[0]).toBe(text);
    expect(shown.messages[1]).toEqual({
      role: 'user',
      content: {
        ...embedded,
        resource: { ...embedded.resource, uri: 'mcpgate://docs/file:///b.md' },
      },
    });
    expect(shown.messages[2]).toEqual({
      role: 'assistant',
      content: { ...link, uri: 'mcpgate://docs/file:///a.md' },
    });
    expect(shown.description).toBe('d');
  });

  it('passes a prompt without addresses on as the same object', () => {
    const result = { messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }] };
    expect(namespaceResult(catalog, answered('prompt', result))).toBe(result);
  });

  it('rewrites every content URI of a resource read', () => {
    const result = {
      contents: [
        { uri: 'file:///a.md', text: 'A' },
        { uri: 'file:///a.md#part', blob: 'AA==', mimeType: 'application/octet-stream' },
      ],
    };
    expect(namespaceResult(catalog, answered('resource', result))).toEqual({
      contents: [
        { uri: 'mcpgate://docs/file:///a.md', text: 'A' },
        {
          uri: 'mcpgate://docs/file:///a.md#part',
          blob: 'AA==',
          mimeType: 'application/octet-stream',
        },
      ],
    });
  });
});

describe('the stage', () => {
  it('replaces the result on the context', () => {
    const ctx = answered('tool', { content: [link] });
    expect(namespaceResultAddresses({ catalog }).run(ctx)).toBeUndefined();
    expect(ctx.result).toEqual({ content: [{ ...link, uri: 'mcpgate://docs/file:///a.md' }] });
  });
});
