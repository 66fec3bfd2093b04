// The argument-schema stage: a tool call's arguments against the tool's inputSchema, with
// real catalog entries and the real Ajv validators (2020-12 by default, draft-07 and
// 2019-09 where the schema says so), before any policy or upstream sees them.
import { describe, expect, it } from '@jest/globals';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { INVALID_PARAMS } from '../../src/mcp/jsonrpc/codes.js';
import { RpcError } from '../../src/mcp/jsonrpc/errors.js';
import {
  ArgumentSchemas,
  validateArguments,
} from '../../src/pipeline/stages/validate-arguments.js';
import { Catalog } from '../../src/upstreams/catalog.js';
import { capturingLogger } from '../support/logger.js';
import { requestContext } from './support/context.js';

const TOOLS: Tool[] = [
  {
    name: 'read',
    inputSchema: {
      type: 'object',
      properties: { path: { type: 'string', minLength: 1 }, head: { type: 'integer' } },
      required: ['path'],
      additionalProperties: false,
    },
  },
  {
    name: 'tuple',
    inputSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      $defs: { pair: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }] } },
      properties: { pair: { $ref: '#/$defs/pair' } },
    },
  },
  {
    name: 'old',
    inputSchema: {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      definitions: { mail: { type: 'string', format: 'email' } },
      properties: { to: { $ref: '#/definitions/mail' } },
      required: ['to'],
    },
  },
  {
    name: 'broken',
    inputSchema: {
      type: 'object',
      properties: { x: { $ref: 'https://elsewhere.example/schema.json' } },
    },
  },
];

function catalog() {
  return Catalog.build([
    { server: 'lab', prefix: 'lab__', tools: TOOLS, prompts: [], resources: [], templates: [] },
  ]).catalog;
}

const lines: string[] = [];
const logger = capturingLogger(lines);
const schemas = new ArgumentSchemas();
const stage = validateArguments(logger, schemas);
const current = catalog();

function run(tool: string, args: Record<string, unknown>): unknown {
  const entry = current.tools.get(`lab__${tool}`);
  if (!entry) throw new Error(`no tool ${tool}`);
  const ctx = requestContext();
  ctx.target = { kind: 'tool', server: 'lab', name: tool, id: entry.id, entry };
  ctx.args = args;
  return stage.run(ctx);
}

function refusal(tool: string, args: Record<string, unknown>): RpcError {
  try {
    run(tool, args);
  } catch (err) {
    if (err instanceof RpcError) return err;
    throw err;
  }
  throw new Error('the arguments were not refused');
}

describe("check the arguments (the tool's inputSchema)", () => {
  it('lets arguments that match through', () => {
    expect(run('read', { path: 'src/a.ts', head: 3 })).toBeUndefined();
    expect(run('tuple', { pair: ['a', 1] })).toBeUndefined();
    expect(run('old', { to: 'dev@example.com' })).toBeUndefined();
  });

  it('refuses arguments that do not match with -32602, the path and the message', () => {
    const error = refusal('read', { path: 'src/a.ts', head: 'three' });
    expect(error.rpcCode).toBe(INVALID_PARAMS);
    expect(error.message).toBe('Invalid arguments for tool lab__read: /head must be integer');
    expect(error.data).toEqual({
      tool: 'lab.read',
      errors: [{ path: '/head', message: 'must be integer' }],
    });
  });

  it('refuses missing required and unexpected arguments', () => {
    expect(refusal('read', {}).message).toContain("/ must have required property 'path'");
    expect(refusal('read', { path: 'a', mode: 'w' }).message).toContain(
      '/ must NOT have additional properties',
    );
  });

  it('reads 2020-12 keywords (prefixItems, $defs) by default', () => {
    expect(refusal('tuple', { pair: [1, 'a'] }).message).toContain('/pair/0 must be string');
  });

  it('reads draft-07 where the schema declares it, formats included', () => {
    expect(refusal('old', { to: 'not an address' }).message).toContain(
      '/to must match format "email"',
    );
  });

  it('refuses every call of a tool whose schema cannot be compiled, saying so', () => {
    const error = refusal('broken', { x: 1 });
    expect(error.rpcCode).toBe(INVALID_PARAMS);
    expect(error.message).toMatch(
      /^Invalid arguments for tool lab__broken: its inputSchema cannot be used \(.*elsewhere\.example/,
    );
  });

  it('logs each refusal with the tool and the errors', () => {
    lines.length = 0;
    refusal('read', { path: 7 });
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged).toContainEqual(
      expect.objectContaining({
        message: "tools/call refused: the arguments do not match the tool's inputSchema",
        tool: 'lab.read',
      }),
    );
  });

  it('compiles once per catalog entry, and again for a new catalog', () => {
    const entry = current.tools.get('lab__read')!;
    const first = schemas.validatorFor(entry);
    expect(schemas.validatorFor(entry)).toBe(first);
    const renewed = catalog().tools.get('lab__read')!;
    expect(schemas.validatorFor(renewed)).not.toBe(first);
  });

  it('leaves resources and prompts alone', () => {
    const ctx = requestContext('resources/read');
    expect(stage.run(ctx)).toBeUndefined();
  });
});
