// Which parts of the input no rule of a policy can read, proven from the Rego source
// (`opa parse --format json` of every module compiled into the bundle), so that the
// gateway can leave those parts out of every input it sends (see pipeline/input.ts).
//
// Leaving out a part that some rule reads would change decisions, and for a deny rule it
// would fail open. So every doubt counts as a read:
//
// - Only rules reachable from the bundle's entrypoints count, but reachability is
//   over-approximated: a reference to `data.a.b` reaches every rule at, above or below
//   that path (a dynamic one, `data.a[x]`, everything under `data.a`); a bare `data`
//   reaches every rule; a name that is an import alias or a rule of the same package is
//   taken as a reference to it even where a local variable of that name shadows it.
// - In a reachable rule, a part such as `input.session.history` may be read by any
//   reference that reaches it or anything inside it (`input.session.history[0]`), by one
//   that stops above it (`input.session`, `input` itself: the whole value goes somewhere,
//   e.g. `object.get(input, ...)`, `walk(input, ...)`, `json.marshal(input)`), and by one
//   that turns dynamic on the way (`input[k]`, `input.session[_]`). `with` targets and
//   imports of `input...` count the same way.
// - The decision-log entrypoints see the logged event as their input, with the policy
//   input at `input.input`, so each part is also checked at that path.
//
// Annotations (METADATA comments) never affect evaluation and are not read.

/** Input parts the gateway knows how to leave out, as dotted paths. */
export const OMITTABLE_INPUT = ['session.history'] as const;

/** A Rego term as `opa parse --format json` writes it. */
interface Term {
  type: string;
  value: unknown;
}

interface ImportAst {
  path: Term;
  alias?: string;
}

interface RuleAst {
  head: { name?: string; ref?: Term[] };
  [key: string]: unknown;
}

/** One module as `opa parse --format json` writes it. */
export interface ModuleAst {
  package: { path: Term[] };
  imports?: ImportAst[];
  rules?: RuleAst[];
}

/** Where an import alias or a reference points: a root document and a constant path. */
interface Target {
  root: string;
  /** Constant path segments below the root; scalars only (see constantSegments). */
  path: Array<string | number | boolean | null>;
  /** True when the reference continues with a segment that is not constant. */
  dynamic: boolean;
}

interface ModuleContext {
  pkg: string[];
  aliases: Map<string, Target>;
}

interface RuleNode {
  path: string[];
  rules: Array<{ rule: RuleAst; ctx: ModuleContext }>;
}

function isTerm(x: unknown): x is Term {
  return typeof x === 'object' && x !== null && typeof (x as { type?: unknown }).type === 'string';
}

function isVar(t: unknown, name?: string): t is Term & { value: string } {
  return isTerm(t) && t.type === 'var' && (name === undefined || t.value === name);
}

const SCALARS = new Set(['string', 'number', 'boolean', 'null']);

/** The leading constant segments of a reference's tail, and whether it goes on after. */
function constantSegments(tail: unknown[]): Pick<Target, 'path' | 'dynamic'> {
  const path: Target['path'] = [];
  for (const t of tail) {
    if (!isTerm(t) || !SCALARS.has(t.type)) return { path, dynamic: true };
    path.push(t.value as string | number | boolean | null);
  }
  return { path, dynamic: false };
}

function moduleContext(module: ModuleAst): ModuleContext {
  const pkg = constantSegments(module.package.path.slice(1)).path.map(String);
  const aliases = new Map<string, Target>();
  for (const imp of module.imports ?? []) {
    const ref = imp.path.value;
    if (!Array.isArray(ref) || !isVar(ref[0])) continue;
    const root = ref[0].value;
    if (root !== 'data' && root !== 'input') continue; // future.keywords, rego.v1
    const tail = constantSegments(ref.slice(1));
    const last: unknown = ref[ref.length - 1];
    const alias =
      imp.alias ?? (ref.length === 1 ? root : isTerm(last) ? String(last.value) : undefined);
    if (alias !== undefined) aliases.set(alias, { root, ...tail });
  }
  return { pkg, aliases };
}

/** Whether one path is a prefix of the other (either way round). */
function related(a: readonly unknown[], b: readonly unknown[]): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Calls `visit` with every reference of a rule, resolved to its root document: `data`,
 * `input`, or a rule of the same package (as `data`). A reference through an import alias
 * is resolved through it; a bare variable is a reference with an empty tail. Local
 * variables resolve to nothing and are skipped.
 */
function eachReference(
  node: unknown,
  ctx: ModuleContext,
  rulesOfPackage: ReadonlySet<string>,
  visit: (target: Target) => void,
): void {
  const resolve = (name: string, tail: unknown[]): void => {
    const rest = constantSegments(tail);
    const alias = ctx.aliases.get(name);
    if (name === 'data' || name === 'input') {
      visit({ root: name, ...rest });
    } else if (alias !== undefined) {
      visit(
        alias.dynamic
          ? alias
          : { root: alias.root, path: [...alias.path, ...rest.path], dynamic: rest.dynamic },
      );
    }
    // Not `else`: a name may be both an alias and a rule of the package; count both.
    if (rulesOfPackage.has(name))
      visit({ root: 'data', path: [...ctx.pkg, name, ...rest.path], dynamic: rest.dynamic });
  };
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) {
      for (const item of x) walk(item);
      return;
    }
    if (typeof x !== 'object' || x === null) return;
    if (isTerm(x) && x.type === 'ref' && Array.isArray(x.value)) {
      const [head, ...tail] = x.value as unknown[];
      if (isVar(head)) resolve(head.value, tail);
      else walk(head);
      walk(tail);
      return;
    }
    if (isVar(x)) {
      resolve(x.value, []);
      return;
    }
    for (const [key, value] of Object.entries(x)) {
      if (key !== 'annotations' && key !== 'location') walk(value);
    }
  };
  walk(node);
}

/**
 * Whether a reference to `input` with this constant path may read the part at `part`: it
 * may unless it turns to another key before the part. One that reaches the part or goes
 * inside it reads it; one that stops above it (or turns dynamic there) hands on the whole
 * value around it.
 */
function mayRead(ref: Target, part: readonly string[]): boolean {
  return related(ref.path, part);
}

/**
 * The parts of OMITTABLE_INPUT (or `candidates`) that no rule reachable from `entrypoints`
 * ("mcp/authz/decision", ...) can read, given every module of the policy.
 */
export function unreadInput(
  modules: readonly ModuleAst[],
  entrypoints: readonly string[],
  candidates: readonly string[] = OMITTABLE_INPUT,
): string[] {
  const nodes = new Map<string, RuleNode>();
  const contexts = modules.map((m) => ({ module: m, ctx: moduleContext(m) }));
  const packageRules = new Map<string, Set<string>>();
  for (const { module, ctx } of contexts) {
    const names = packageRules.get(JSON.stringify(ctx.pkg)) ?? new Set<string>();
    packageRules.set(JSON.stringify(ctx.pkg), names);
    for (const rule of module.rules ?? []) {
      const head = rule.head.ref?.[0];
      const name = isVar(head) ? head.value : rule.head.name;
      if (name === undefined) throw new Error('a rule without a name in `opa parse` output');
      names.add(name);
      const path = [...ctx.pkg, name];
      const key = JSON.stringify(path);
      const node = nodes.get(key) ?? { path, rules: [] };
      node.rules.push({ rule, ctx });
      nodes.set(key, node);
    }
  }
  const rulesOf = (ctx: ModuleContext): Set<string> =>
    packageRules.get(JSON.stringify(ctx.pkg)) ?? new Set();

  // Every rule an entrypoint may evaluate.
  const reached = new Set<RuleNode>();
  const queue: RuleNode[] = [];
  const reach = (path: readonly unknown[]): void => {
    for (const node of nodes.values()) {
      if (!reached.has(node) && related(node.path, path)) {
        reached.add(node);
        queue.push(node);
      }
    }
  };
  for (const entrypoint of entrypoints) reach(entrypoint.split('/').filter(Boolean));
  for (let node = queue.shift(); node !== undefined; node = queue.shift()) {
    for (const { rule, ctx } of node.rules) {
      eachReference(rule, ctx, rulesOf(ctx), (target) => {
        if (target.root === 'data') reach(target.path);
      });
    }
  }

  // The parts some reached rule may read, at the input's path and at the event's.
  const read = new Set<string>();
  for (const node of reached) {
    for (const { rule, ctx } of node.rules) {
      eachReference(rule, ctx, rulesOf(ctx), (target) => {
        if (target.root !== 'input') return;
        for (const candidate of candidates) {
          const part = candidate.split('.');
          for (const at of [part, ['input', ...part]]) {
            if (mayRead(target, at)) read.add(candidate);
          }
        }
      });
    }
  }
  return candidates.filter((c) => !read.has(c));
}
