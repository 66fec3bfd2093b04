// Stage: a tool call's arguments checked against the tool's inputSchema before the policy
// and the upstream see them. JSON Schema 2020-12 unless the schema declares draft-07 or
// 2019-09 in `$schema`; formats are checked (ajv-formats). Validators are compiled once per
// catalog entry, so once per catalog version, on the first call of each tool: never per
// call. Invalid arguments are refused as invalid params (INVALID_PARAMS), the validator's path and message, and a
// line in the gateway log; nothing is decided, recorded or forwarded. A schema that cannot
// be compiled (malformed, an unresolvable $ref) refuses every call of its tool, saying so:
// arguments that cannot be checked are not let through.
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { INVALID_PARAMS } from '../../mcp/jsonrpc/codes.js';
import { RpcError } from '../../mcp/jsonrpc/errors.js';
import type { ToolEntry } from '../../upstreams/catalog.js';
import type { Logger } from '../../util/logger.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

// ajv-formats is CommonJS: under NodeNext its default import is the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv | Ajv2019 | Ajv2020) => void;

/** How many of the validator's errors a refusal lists. */
const MAX_LISTED_ERRORS = 5;

const OPTIONS: Options = {
  // Servers write keywords and formats Ajv does not know (examples, x-…): ignored, not fatal.
  strict: false,
  allErrors: false,
  logger: false,
  // The schema is the upstream's; a missing $ref target must fail the compile, not be fetched.
  loadSchema: undefined,
};

/** One compiled validator, or why the tool's schema could not be compiled. */
type Compiled = { validate: ValidateFunction } | { problem: string };

export class ArgumentSchemas {
  private readonly draft07 = new Ajv(OPTIONS);
  private readonly draft2019 = new Ajv2019(OPTIONS);
  private readonly draft2020 = new Ajv2020(OPTIONS);
  /** A new catalog brings new entries, so this is once per catalog version. */
  private readonly compiled = new WeakMap<ToolEntry, Compiled>();

  constructor() {
    addFormats(this.draft07);
    addFormats(this.draft2019);
    addFormats(this.draft2020);
  }

  validatorFor(entry: ToolEntry): Compiled {
    let compiled = this.compiled.get(entry);
    if (compiled === undefined) {
      compiled = this.compile(entry.exposed.inputSchema);
      this.compiled.set(entry, compiled);
    }
    return compiled;
  }

  private compile(schema: Record<string, unknown>): Compiled {
    const declared = typeof schema.$schema === 'string' ? schema.$schema : '';
    const ajv = /draft-0[67]\/schema/.test(declared)
      ? this.draft07
      : /draft\/2019-09\/schema/.test(declared)
        ? this.draft2019
        : this.draft2020;
    try {
      // The catalog's own object: Ajv keys its cache by it, so nothing is copied per compile.
      return { validate: ajv.compile(schema) };
    } catch (err) {
      return { problem: err instanceof Error ? err.message : String(err) };
    }
  }
}

/** The validator's errors as `<path> <message>`, the path a JSON pointer into the arguments. */
export function describeErrors(
  errors: readonly ErrorObject[],
): Array<{ path: string; message: string }> {
  return errors.slice(0, MAX_LISTED_ERRORS).map((e) => ({
    path: e.instancePath === '' ? '/' : e.instancePath,
    message: e.message ?? e.keyword,
  }));
}

export function validateArguments(logger: Logger, schemas = new ArgumentSchemas()): Stage {
  return {
    name: "check the arguments (the tool's inputSchema)",
    when: 'allowed',
    run(ctx: RequestContext) {
      const { target } = ctx;
      if (target?.kind !== 'tool') return undefined;
      const compiled = schemas.validatorFor(target.entry);
      if ('problem' in compiled) {
        logger.warn(
          'tools/call refused: the tool declares an inputSchema that cannot be compiled',
          {
            session: ctx.session.record.id.slice(0, 8),
            tool: target.id,
            problem: compiled.problem,
          },
        );
        throw new RpcError(
          INVALID_PARAMS,
          `Invalid arguments for tool ${target.entry.exposed.name}: its inputSchema cannot be used (${compiled.problem}), so no call of it can be checked; ask the server's owner to fix the schema`,
          { tool: target.id, schema_problem: compiled.problem },
        );
      }
      if (compiled.validate(ctx.args)) return undefined;
      const errors = describeErrors(compiled.validate.errors ?? []);
      logger.info("tools/call refused: the arguments do not match the tool's inputSchema", {
        session: ctx.session.record.id.slice(0, 8),
        tool: target.id,
        errors,
      });
      const listed = errors.map((e) => `${e.path} ${e.message}`).join('; ');
      throw new RpcError(
        INVALID_PARAMS,
        `Invalid arguments for tool ${target.entry.exposed.name}: ${listed}`,
        { tool: target.id, errors },
      );
    },
  };
}
