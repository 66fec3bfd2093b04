// The result-check stage: a tool with an outputSchema must return structuredContent that
// matches it, as the MCP SDK's client requires; a tool error may come without it; tools
// without a schema are not checked. Real catalog entries, the SDK's real Ajv validator.
import { describe, expect, it } from '@jest/globals';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { RpcError } from '../../src/mcp/jsonrpc/errors.js';
import type { RequestContext } from '../../src/pipeline/context.js';
import { checkToolOutput } from '../../src/pipeline/stages/check-output.js';
import { Catalog } from '../../src/upstreams/catalog.js';
import { requestContext } from './support/context.js';

const TOOLS: Tool[] = [
  {
    name: 'typed',
    inputSchema: { type: 'object' },
    outputSchema: {
      type: 'object',
      properties: { count: { type: 'number' } },
      required: ['count'],
    },
  },
  { name: 'plain', inputSchema: { type: 'object' } },
];
const { catalog } = Catalog.build([
  { server: 'lab', prefix: 'lab__', tools: TOOLS, prompts: [], resources: [], templates: [] },
]);

function contextFor(tool: string, result: CallToolResult): RequestContext {
  const entry = catalog.tools.get(`lab__${tool}`);
  if (!entry) throw new Error(`no tool ${tool}`);
  const ctx = requestContext();
  ctx.target = { kind: 'tool', server: 'lab', name: tool, id: entry.id, entry };
  ctx.result = result;
  return ctx;
}

const stage = checkToolOutput();
// The stage is synchronous: it returns its outcome or throws.
const run = (tool: string, result: CallToolResult) => () => stage.run(contextFor(tool, result));

function errorOf(check: () => unknown): RpcError {
  try {
    check();
  } catch (err) {
    return err as RpcError;
  }
  throw new Error('the check did not throw');
}

describe('check the result (outputSchema)', () => {
  it('accepts structuredContent that matches the schema', () => {
    expect(run('typed', { content: [], structuredContent: { count: 1 } })()).toBeUndefined();
  });

  it('refuses structuredContent that does not match, saying why (invalid params)', () => {
    const check = run('typed', { content: [], structuredContent: { count: 'one' } });
    const error = errorOf(check);
    expect(error).toBeInstanceOf(RpcError);
    expect(error.message).toMatch(
      /^Structured content does not match the tool's output schema: .*count/,
    );
    expect(error.rpcCode).toBe(-32602);
  });

  it('refuses a result without structuredContent from a tool that declares a schema', () => {
    const check = run('typed', { content: [{ type: 'text', text: 'x' }] });
    const error = errorOf(check);
    expect(error.message).toBe(
      'Tool typed has an output schema but did not return structured content',
    );
    expect(error.rpcCode).toBe(-32600);
  });

  it('lets a tool error through without structuredContent', () => {
    expect(run('typed', { content: [], isError: true })()).toBeUndefined();
  });

  it('does not check a tool without an outputSchema', () => {
    expect(run('plain', { content: [], structuredContent: { anything: true } })()).toBeUndefined();
  });
});
