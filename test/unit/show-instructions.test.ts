// The instructions a new session gets: the gateway's own line, then each upstream's
// instructions the policy made visible, under a heading naming the server and how its
// names look through the gateway; and how the catalog collects them.
import { describe, expect, it } from '@jest/globals';
import type { VisibleEvaluation } from '../../src/policy/decide.js';
import {
  combinedInstructions,
  GATEWAY_INSTRUCTIONS,
  instructionSection,
  showInstructions,
} from '../../src/pipeline/stages/show-instructions.js';
import { Catalog, type ServerCatalog } from '../../src/upstreams/catalog.js';
import { thrownBy } from './support/errors.js';
import { requestContext } from './support/context.js';

function server(name: string, prefix: string, instructions?: string): ServerCatalog {
  return {
    server: name,
    prefix,
    tools: [],
    prompts: [],
    resources: [],
    templates: [],
    instructions,
  };
}

const { catalog } = Catalog.build([
  server('docs', 'docs__', '  Use search before read.\n'),
  server('quiet', 'quiet__'),
  server('blank', 'blank__', ' \n '),
  server('files', '', 'Paths are relative to the project.'),
]);

describe('the catalog', () => {
  it('keeps the instructions of the servers that gave any, trimmed, in configuration order', () => {
    expect(catalog.instructions).toEqual([
      { server: 'docs', id: 'docs', prefix: 'docs__', text: 'Use search before read.' },
      { server: 'files', id: 'files', prefix: '', text: 'Paths are relative to the project.' },
    ]);
  });
});

describe('combinedInstructions', () => {
  it("puts each visible server's instructions under its own heading, after the gateway's line", () => {
    expect(combinedInstructions(catalog.instructions, new Set(['docs', 'files']))).toBe(
      [
        GATEWAY_INSTRUCTIONS,
        '',
        '## Instructions from upstream server "docs"',
        'Through this gateway its tools and prompts are named docs__<name>, and its resources are mcpgate://docs/<uri>.',
        '',
        'Use search before read.',
        '',
        '## Instructions from upstream server "files"',
        'Through this gateway its tools and prompts keep their own names, and its resources are addressed by their own URIs.',
        '',
        'Paths are relative to the project.',
      ].join('\n'),
    );
  });

  it('leaves out the servers the policy did not make visible', () => {
    const text = combinedInstructions(catalog.instructions, new Set(['files', 'unknown']));
    expect(text).not.toContain('docs');
    expect(text).toContain('"files"');
    expect(combinedInstructions(catalog.instructions, new Set())).toBe(GATEWAY_INSTRUCTIONS);
  });

  it('names the prefix as configured', () => {
    const section = instructionSection({ server: 'gh', id: 'gh', prefix: 'git_', text: 't' });
    expect(section).toContain('named git_<name>');
  });
});

describe('the stage', () => {
  const visible = (ids: string[]): VisibleEvaluation => ({
    ids: new Set(ids),
    inputJson: '{}',
    revision: 'r',
    evalNs: 0,
    engine: undefined,
    error: undefined,
  });

  it('puts the combined instructions on the context', () => {
    const ctx = requestContext('session/open');
    ctx.catalog = catalog;
    ctx.visible = visible(['files']);
    expect(showInstructions().run(ctx)).toBeUndefined();
    expect(ctx.instructions).toBe(combinedInstructions(catalog.instructions, new Set(['files'])));
  });

  it("gives only the gateway's line when no upstream gave instructions (nothing was decided)", () => {
    const ctx = requestContext('session/open');
    expect(showInstructions().run(ctx)).toBeUndefined();
    expect(ctx.instructions).toBe(GATEWAY_INSTRUCTIONS);
  });

  it('refuses to run before the visible decision', () => {
    const ctx = requestContext('session/open');
    ctx.catalog = catalog;
    expect(thrownBy(() => showInstructions().run(ctx)).message).toBe(
      'instructions were combined before they were decided',
    );
  });
});
