import { describe, expect, it } from '@jest/globals';
import type { Prompt, Resource, ResourceTemplate, Tool } from '@modelcontextprotocol/sdk/types.js';
import {
  Catalog,
  exposedUri,
  splitExposedUri,
  type ServerCatalog,
} from '../../src/upstreams/catalog.js';
import { fingerprint } from '../../src/upstreams/trust/fingerprint.js';
import { only } from './support/errors.js';

function tool(name: string, extra: Partial<Tool> = {}): Tool {
  return { name, inputSchema: { type: 'object' }, ...extra };
}

/** A server's snapshot, with the default prefix `<name>__` unless the items say otherwise. */
function server(name: string, items: Partial<Omit<ServerCatalog, 'server'>>): ServerCatalog {
  return {
    server: name,
    prefix: `${name}__`,
    tools: [],
    prompts: [],
    resources: [],
    templates: [],
    ...items,
  };
}

describe('exposed names and their prefixes', () => {
  it('namespaces tools and prompts as server__name by default', () => {
    const { catalog } = Catalog.build([
      server('fs', { tools: [tool('read_file')], prompts: [{ name: 'review' }] }),
    ]);
    expect([...catalog.tools.keys()]).toEqual(['fs__read_file']);
    expect([...catalog.prompts.keys()]).toEqual(['fs__review']);
  });

  // The lookup is by the whole exposed name, so a call maps back to its server whatever the
  // prefixes are, even where splitting at the first "__" would pick the wrong server.
  it.each([
    ['the default prefix', 'git-hub__', 'create__issue'],
    ['no prefix', '', 'create__issue'],
    ['a short prefix', 'gh_', 'create_issue'],
    ['a prefix ending in a dash', 'gh-', '_x'],
    ['a name that starts with another server default prefix', '', 'fs__write_file'],
  ])('maps an exposed name back to its server with %s', (_what, prefix, name) => {
    const { catalog, problems } = Catalog.build([
      server('fs', { tools: [tool('read_file')], prompts: [{ name: 'review' }] }),
      server('git-hub', { prefix, tools: [tool(name)], prompts: [{ name }] }),
    ]);
    expect(problems).toEqual([]);
    expect(catalog.tools.get(`${prefix}${name}`)).toMatchObject({
      server: 'git-hub',
      name,
      id: `git-hub.${name}`,
      exposed: { name: `${prefix}${name}` },
    });
    expect(catalog.prompts.get(`${prefix}${name}`)).toMatchObject({
      server: 'git-hub',
      name,
      id: `git-hub.${name}`,
    });
    expect(catalog.tools.get('fs__read_file')?.server).toBe('fs');
  });

  it('keeps policy ids server.name whatever the prefix', () => {
    const { catalog } = Catalog.build([server('fs', { prefix: '', tools: [tool('read_file')] })]);
    expect(catalog.tools.get('read_file')?.id).toBe('fs.read_file');
  });

  it('reports a collision between two servers without prefixes, naming both', () => {
    const { catalog, problems } = Catalog.build([
      server('fs', { prefix: '', tools: [tool('search')], prompts: [{ name: 'p' }] }),
      server('web', {
        prefix: '',
        tools: [tool('search'), tool('fetch')],
        prompts: [{ name: 'p' }],
      }),
    ]);
    expect(problems).toEqual([
      `tool name collision: "search" is both fs's "search" and web's "search"; give upstreams.fs.prefix or upstreams.web.prefix another value`,
      `prompt name collision: "p" is both fs's "p" and web's "p"; give upstreams.fs.prefix or upstreams.web.prefix another value`,
    ]);
    expect(catalog.tools.get('search')?.server).toBe('fs');
    expect(catalog.tools.get('fetch')?.server).toBe('web');
  });

  it('reports a collision between a prefixed name and an unprefixed one', () => {
    const { problems } = Catalog.build([
      server('fs', { tools: [tool('read_file')] }),
      server('web', { prefix: '', tools: [tool('fs__read_file')] }),
    ]);
    expect(only(problems)).toContain(
      `"fs__read_file" is both fs's "read_file" and web's "fs__read_file"`,
    );
  });

  it('checks the whole exposed name, prefix included', () => {
    const { problems } = Catalog.build([
      server('fs', { prefix: 'p'.repeat(40), tools: [tool('a'.repeat(24)), tool('a'.repeat(25))] }),
    ]);
    expect(only(problems)).toContain(`tool "${'a'.repeat(25)}" of upstream fs cannot be exposed`);
  });
});

describe('exposed resource URIs', () => {
  it('prefixes the upstream URI verbatim', () => {
    expect(exposedUri('fs', 'file:///tmp/a.txt')).toBe('mcpgate://fs/file:///tmp/a.txt');
  });

  it.each([
    ['fs', 'file:///tmp/a.txt'],
    ['web', 'https://example.com/a?b=c#d'],
    ['db', 'postgres://user@host:5432/db/table'],
    ['fs', 'file:///{path}'],
    ['repo', 'repo://{owner}/{repo}/blob/{+path}'],
    ['mem', 'memo://insights'],
    ['x', 'relative/path'],
    ['x', '/'],
  ])('round trips server %s and uri %s', (srv, uri) => {
    expect(splitExposedUri(exposedUri(srv, uri))).toEqual({ server: srv, uri });
  });

  it('refuses URIs that are not mcpgate URIs or lack a server or an upstream URI', () => {
    expect(splitExposedUri('file:///tmp/a')).toBeUndefined();
    expect(splitExposedUri('mcpgate://')).toBeUndefined();
    expect(splitExposedUri('mcpgate://fs')).toBeUndefined();
    expect(splitExposedUri('mcpgate://fs/')).toBeUndefined();
    expect(splitExposedUri('mcpgate:///file:///x')).toBeUndefined();
    expect(splitExposedUri('MCPGATE://fs/x')).toBeUndefined();
  });
});

describe('resource addresses of an upstream without a prefix', () => {
  const res = (uri: string) => ({ uri, name: uri });
  const build = (...servers: ServerCatalog[]) => Catalog.build(servers);

  it('lists its resources and templates under their own URIs, others namespaced', () => {
    const { catalog, problems } = build(
      server('raw', {
        prefix: '',
        resources: [res('test://a')],
        templates: [{ uriTemplate: 'test://t/{id}', name: 't' }],
      }),
      server('fs', { prefix: 'fs__', resources: [res('file:///a')] }),
    );
    expect(problems).toEqual([]);
    expect([...catalog.resources.keys()]).toEqual(['test://a', 'mcpgate://fs/file:///a']);
    expect(catalog.templates.map((t) => t.exposed.uriTemplate)).toEqual(['test://t/{id}']);
    expect(catalog.templates[0]?.id).toBe('raw:test://t/{id}');
  });

  it("reads a listed address, an unlisted one (a template's) and a namespaced one back", () => {
    const { catalog } = build(
      server('raw', { prefix: '', resources: [res('test://a')] }),
      server('fs', { prefix: 'fs__', resources: [res('file:///a')] }),
    );
    expect(catalog.resolveUri('test://a')).toEqual({ server: 'raw', uri: 'test://a' });
    expect(catalog.resolveUri('test://t/7')).toEqual({ server: 'raw', uri: 'test://t/7' });
    expect(catalog.resolveUri('mcpgate://fs/file:///a')).toEqual({
      server: 'fs',
      uri: 'file:///a',
    });
  });

  it('cannot tell which of two unprefixed servers an unlisted address is for', () => {
    const { catalog } = build(
      server('a', { prefix: '', resources: [res('test://a')] }),
      server('b', { prefix: '', resources: [res('test://b')] }),
    );
    expect(catalog.resolveUri('test://b')).toEqual({ server: 'b', uri: 'test://b' });
    expect(catalog.resolveUri('test://c')).toEqual({ ambiguous: ['a', 'b'] });
  });

  it('without unprefixed servers, an address that is not mcpgate:// is unknown', () => {
    const { catalog } = build(server('fs', { prefix: 'fs__', resources: [res('file:///a')] }));
    expect(catalog.resolveUri('file:///a')).toBeUndefined();
  });

  it('reports one URI listed by two unprefixed servers as a collision naming both', () => {
    const { problems } = build(
      server('a', { prefix: '', resources: [res('test://same')] }),
      server('b', { prefix: '', resources: [res('test://same')] }),
    );
    expect(only(problems)).toBe(
      'resource address collision: "test://same" is listed by a and by b, both without a prefix; give upstreams.a.prefix or upstreams.b.prefix a value',
    );
  });
});

describe('Catalog.build', () => {
  it('exposes tools and prompts under namespaced names with policy ids server.name', () => {
    const readFile = tool('read_file', {
      description: 'Reads a file',
      annotations: { readOnlyHint: true },
    });
    const review: Prompt = { name: 'review', description: 'Review code' };
    const { catalog, problems } = Catalog.build([
      server('fs', { tools: [readFile], prompts: [review] }),
      server('git', { tools: [tool('read_file')] }),
    ]);
    expect(problems).toEqual([]);
    expect([...catalog.tools.keys()]).toEqual(['fs__read_file', 'git__read_file']);
    const entry = catalog.tools.get('fs__read_file');
    expect(entry).toEqual({
      server: 'fs',
      name: 'read_file',
      id: 'fs.read_file',
      exposed: { ...readFile, name: 'fs__read_file' },
      definitionHash: fingerprint('tool', readFile).sha256,
      trust: expect.objectContaining({ kind: 'tool', fingerprint: fingerprint('tool', readFile) }),
    });
    // The upstream's own definition is not modified.
    expect(readFile.name).toBe('read_file');
    expect(catalog.prompts.get('fs__review')).toEqual({
      server: 'fs',
      name: 'review',
      id: 'fs.review',
      exposed: { name: 'fs__review', description: 'Review code' },
      trust: expect.objectContaining({ kind: 'prompt', findings: [] }),
    });
  });

  it.each([
    ['a dot', 'read.file'],
    ['a space', 'read file'],
    ['a slash', 'read/file'],
    ['a non-ASCII letter', 'lire_fichié'],
  ])('reports a tool name with %s as a problem and leaves it out', (_what, name) => {
    const { catalog, problems } = Catalog.build([
      server('fs', { tools: [tool(name), tool('ok')] }),
    ]);
    expect([...catalog.tools.keys()]).toEqual(['fs__ok']);
    const problem = only(problems);
    expect(problem).toContain(`tool "${name}" of upstream fs`);
    expect(problem).toContain(`"fs__${name}"`);
    expect(problem).toContain('at most 64 characters');
  });

  it('accepts an exposed name of exactly 64 characters and refuses 65', () => {
    const fits = 'a'.repeat(64 - 'fs__'.length);
    const tooLong = 'a'.repeat(65 - 'fs__'.length);
    const { catalog, problems } = Catalog.build([
      server('fs', { tools: [tool(fits), tool(tooLong)] }),
    ]);
    expect([...catalog.tools.keys()]).toEqual([`fs__${fits}`]);
    expect(only(problems)).toContain(`tool "${tooLong}" of upstream fs cannot be exposed`);
  });

  it('applies the same rules to prompts', () => {
    const { catalog, problems } = Catalog.build([
      server('fs', { prompts: [{ name: 'bad name' }, { name: 'x'.repeat(61) }, { name: 'ok' }] }),
    ]);
    expect([...catalog.prompts.keys()]).toEqual(['fs__ok']);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toContain('prompt "bad name" of upstream fs');
    expect(problems[1]).toContain(`prompt "${'x'.repeat(61)}" of upstream fs`);
  });

  it('reports a server listing a tool twice, naming both sides, and keeps the first', () => {
    const first = tool('search', { description: 'first' });
    const second = tool('search', { description: 'second' });
    const { catalog, problems } = Catalog.build([server('web', { tools: [first, second] })]);
    expect(only(problems)).toBe(
      `tool name collision: "web__search" is both web's "search" and web's "search"; upstream web lists it twice; the first is kept`,
    );
    expect(catalog.tools.get('web__search')?.exposed.description).toBe('first');
  });

  it('reports two servers whose names make the same exposed name, naming both', () => {
    // Valid server names have no underscore, so this needs names the config would refuse;
    // the catalog must still never let one shadow the other.
    const { catalog, problems } = Catalog.build([
      server('a', { tools: [tool('_b')], prompts: [{ name: '_p' }] }),
      server('a_', { tools: [tool('b')], prompts: [{ name: 'p' }] }),
    ]);
    expect(problems).toEqual([
      `tool name collision: "a___b" is both a's "_b" and a_'s "b"; give upstreams.a.prefix or upstreams.a_.prefix another value`,
      `prompt name collision: "a___p" is both a's "_p" and a_'s "p"; give upstreams.a.prefix or upstreams.a_.prefix another value`,
    ]);
    expect(catalog.tools.get('a___b')?.server).toBe('a');
    expect(catalog.prompts.get('a___p')?.server).toBe('a');
    expect(catalog.tools.size).toBe(1);
  });

  it('exposes resources as mcpgate://server/<uri> with ids server:uri', () => {
    const readme: Resource = {
      uri: 'file:///repo/README.md',
      name: 'README',
      mimeType: 'text/markdown',
    };
    const { catalog, problems } = Catalog.build([
      server('fs', { resources: [readme, { ...readme, name: 'duplicate' }] }),
      server('web', { resources: [{ uri: 'https://example.com/a', name: 'a' }] }),
    ]);
    expect(problems).toEqual([]);
    expect([...catalog.resources.keys()]).toEqual([
      'mcpgate://fs/file:///repo/README.md',
      'mcpgate://web/https://example.com/a',
    ]);
    expect(catalog.resources.get('mcpgate://fs/file:///repo/README.md')).toEqual({
      server: 'fs',
      uri: 'file:///repo/README.md',
      id: 'fs:file:///repo/README.md',
      exposed: { ...readme, uri: 'mcpgate://fs/file:///repo/README.md' },
      trust: expect.objectContaining({
        kind: 'resource',
        fingerprint: fingerprint('resource', readme),
      }),
    });
    for (const [uri, entry] of catalog.resources) {
      expect(splitExposedUri(uri)).toEqual({ server: entry.server, uri: entry.uri });
    }
  });

  it('exposes resource templates under the mcpgate scheme with ids server:template', () => {
    const template: ResourceTemplate = { uriTemplate: 'file:///{path}', name: 'files' };
    const { catalog } = Catalog.build([server('fs', { templates: [template] })]);
    expect(catalog.templates).toEqual([
      {
        server: 'fs',
        uriTemplate: 'file:///{path}',
        id: 'fs:file:///{path}',
        exposed: { uriTemplate: 'mcpgate://fs/file:///{path}', name: 'files' },
        trust: expect.objectContaining({ kind: 'resource_template' }),
      },
    ]);
    expect(splitExposedUri(only(catalog.templates).exposed.uriTemplate)).toEqual({
      server: 'fs',
      uri: 'file:///{path}',
    });
  });

  it('builds an empty catalog from no servers', () => {
    const { catalog, problems } = Catalog.build([]);
    expect(problems).toEqual([]);
    expect(catalog.tools.size + catalog.prompts.size + catalog.resources.size).toBe(0);
    expect(catalog.templates).toEqual([]);
  });
});

describe('definitionHash', () => {
  function hashOf(t: Tool): string {
    const { catalog } = Catalog.build([server('fs', { tools: [t] })]);
    const entry = catalog.tools.get(`fs__${t.name}`);
    if (!entry) throw new Error('tool missing');
    return entry.definitionHash;
  }

  const definition: Tool = {
    name: 'write_file',
    description: 'Writes a file',
    inputSchema: {
      type: 'object',
      properties: { path: { type: 'string' }, content: { type: 'string' } },
      required: ['path', 'content'],
    },
    annotations: { destructiveHint: true, readOnlyHint: false },
  };

  it("is the sha256 of the tool's fingerprint (trust/fingerprint.ts)", () => {
    expect(hashOf(definition)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashOf(definition)).toBe(fingerprint('tool', definition).sha256);
  });

  it('does not change when keys are reordered at any depth', () => {
    const reordered: Tool = {
      annotations: { readOnlyHint: false, destructiveHint: true },
      inputSchema: {
        required: ['path', 'content'],
        properties: { content: { type: 'string' }, path: { type: 'string' } },
        type: 'object',
      },
      description: 'Writes a file',
      name: 'write_file',
    };
    expect(hashOf(reordered)).toBe(hashOf(definition));
  });

  it('changes when the definition changes', () => {
    const base = hashOf(definition);
    expect(hashOf({ ...definition, description: 'Writes a file.' })).not.toBe(base);
    expect(hashOf({ ...definition, annotations: { destructiveHint: false } })).not.toBe(base);
    expect(
      hashOf({
        ...definition,
        inputSchema: { ...definition.inputSchema, required: ['path'] },
      }),
    ).not.toBe(base);
    // `required` is a set: its order means nothing.
    expect(
      hashOf({
        ...definition,
        inputSchema: { ...definition.inputSchema, required: ['content', 'path'] },
      }),
    ).toBe(base);
  });

  it('does not depend on the server the tool came from', () => {
    const { catalog } = Catalog.build([
      server('one', { tools: [definition] }),
      server('two', { tools: [definition] }),
    ]);
    expect(catalog.tools.get('one__write_file')?.definitionHash).toBe(
      catalog.tools.get('two__write_file')?.definitionHash,
    );
  });
});
