// Stage: a tool's result checked against what the tool declared, as the MCP SDK's client
// does: a tool with an outputSchema must return structuredContent that matches it (a tool
// error may come without). Validators are compiled once per catalog entry, on first use.
// The same check runs on the result of a call run as a task, at tasks/result.
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import type { JsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { INVALID_PARAMS, INVALID_REQUEST } from '../../mcp/jsonrpc/codes.js';
import { RpcError } from '../../mcp/jsonrpc/errors.js';
import type { ToolEntry } from '../../upstreams/catalog.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

export function checkToolOutput(): Stage {
  const schemas = new AjvJsonSchemaValidator();
  /** null: the tool declares no outputSchema. A new catalog brings new entries. */
  const validators = new WeakMap<ToolEntry, JsonSchemaValidator<unknown> | null>();
  const validatorFor = (entry: ToolEntry): JsonSchemaValidator<unknown> | null => {
    let validator = validators.get(entry);
    if (validator === undefined) {
      const schema = entry.exposed.outputSchema;
      validator = schema ? schemas.getValidator(schema) : null;
      validators.set(entry, validator);
    }
    return validator;
  };

  return {
    name: 'check the result (outputSchema)',
    when: 'allowed',
    run(ctx: RequestContext) {
      const { target } = ctx;
      // A call run as a task answers with the task; its result is checked at tasks/result.
      if (target?.kind !== 'tool' || ctx.params.task !== undefined) {
        return undefined;
      }
      const validator = validatorFor(target.entry);
      if (!validator) return undefined;
      const result = ctx.result as CallToolResult;
      if (!result.structuredContent) {
        if (result.isError) return undefined;
        throw new RpcError(
          INVALID_REQUEST,
          `Tool ${target.name} has an output schema but did not return structured content`,
        );
      }
      const outcome = validator(result.structuredContent);
      if (!outcome.valid) {
        throw new RpcError(
          INVALID_PARAMS,
          `Structured content does not match the tool's output schema: ${outcome.errorMessage}`,
        );
      }
      return undefined;
    },
  };
}
