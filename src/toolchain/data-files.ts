// The data files of a policy (profiles as YAML or JSON), checked before OPA sees them, so a
// syntax error is reported at the line and column where a person would fix it. OPA's YAML
// loader counts lines from 0 in some errors and names the place where parsing gave up
// (an unclosed `{` on line 4 is reported on line 3), and gives no position for a JSON
// error. Also places the profile problems mcp/authz/prepare reports (`unknown field
// tools.everything.echo.allowd`) at the key in the profile's file.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, Parser, type Document } from 'yaml';

/** Files of rego/ that are tooling, not data: never checked here. */
const TOOLING = new Set(['capabilities.json', 'schema']);

/** Every .yaml, .yml and .json data file under `dir` (tests/ only with includeTests). */
export function dataFiles(dir: string, includeTests: boolean, root = dir): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (TOOLING.has(name) || (!includeTests && name === 'tests')) continue;
    if (statSync(path).isDirectory()) files.push(...dataFiles(path, includeTests, root));
    else if (/\.(ya?ml|json)$/.test(name)) files.push(relative(root, path));
  }
  return files;
}

interface Place {
  line: number;
  column: number;
}

function placeOf(text: string, offset: number): Place {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

/** Walks a CST token tree depth first. */
function walkTokens(value: unknown, visit: (token: Record<string, unknown>) => void): void {
  if (Array.isArray(value)) {
    for (const item of value) walkTokens(item, visit);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  const token = value as Record<string, unknown>;
  if (typeof token.type === 'string') visit(token);
  for (const [key, child] of Object.entries(token)) {
    if (key !== 'source') walkTokens(child, visit);
  }
}

/**
 * Brackets and quotes opened and never closed, at the place they were opened: a parser
 * notices them only where the next line no longer fits, which is not where to fix them.
 */
function unclosed(text: string): Array<{ offset: number; message: string }> {
  const found: Array<{ offset: number; message: string }> = [];
  for (const cst of new Parser().parse(text)) {
    walkTokens(cst, (token) => {
      const offset = typeof token.offset === 'number' ? token.offset : 0;
      if (token.type === 'flow-collection') {
        const start = token.start as { source?: string } | undefined;
        const open = start?.source ?? '{';
        const close = open === '[' ? ']' : '}';
        const ends = Array.isArray(token.end) ? (token.end as Array<{ source?: string }>) : [];
        if (!ends.some((e) => e.source === close)) {
          found.push({ offset, message: `"${open}" is never closed: add "${close}"` });
        }
      } else if (token.type === 'double-quoted-scalar' || token.type === 'single-quoted-scalar') {
        const source = typeof token.source === 'string' ? token.source : '';
        const closed =
          token.type === 'double-quoted-scalar'
            ? /^"(?:[^"\\]|\\[\s\S])*"$/.test(source)
            : /^'(?:[^']|'')*'$/.test(source);
        if (!closed) {
          const quote = source[0] ?? '"';
          found.push({ offset, message: `the string opened with ${quote} is never closed` });
        }
      }
    });
  }
  return found.sort((a, b) => a.offset - b.offset);
}

/** Problems of one YAML text, each `line:column: message`. */
function yamlProblems(text: string): string[] {
  const opened = unclosed(text);
  if (opened.length > 0) {
    return opened.map(({ offset, message }) => {
      const at = placeOf(text, offset);
      return `${at.line}:${at.column}: ${message}`;
    });
  }
  // YAML 1.1, as OPA reads it. Duplicate keys are refused: OPA would keep the last one
  // silently, so a tool listed twice would get the rules of its second entry.
  const counter = new LineCounter();
  const doc = parseDocument(text, { version: '1.1', lineCounter: counter, prettyErrors: false });
  // A plain value that runs on over more lines (a line indented too far joins the value
  // above it) is reported where the value starts; say where it ends too.
  const valueEnds = new Map<number, number>();
  for (const cst of new Parser().parse(text)) {
    walkTokens(cst, (token) => {
      if (token.type === 'scalar' && typeof token.offset === 'number') {
        valueEnds.set(
          token.offset,
          token.offset + (typeof token.source === 'string' ? token.source : '').length,
        );
      }
    });
  }
  return doc.errors.map((error) => {
    const [start] = error.pos;
    const at = counter.linePos(start);
    const end = valueEnds.get(start);
    const last = end === undefined ? at.line : counter.linePos(end).line;
    const span = last !== at.line ? ` (the value starting here runs on to line ${last})` : '';
    return `${at.line}:${at.col}: ${error.message.split('\n')[0] ?? error.message}${span}`;
  });
}

/** Problems of one JSON text, each `line:column: message`. */
function jsonProblems(text: string): string[] {
  try {
    JSON.parse(text);
    return [];
  } catch (err) {
    const message = (err as Error).message;
    const position = /at position (\d+)/.exec(message)?.[1];
    const reason = message.replace(/ in JSON at position \d+.*$/, '');
    if (position === undefined) return [`1:1: ${reason}`];
    const at = placeOf(text, Number(position));
    return [`${at.line}:${at.column}: ${reason}`];
  }
}

/** Every syntax problem of the data files under regoDir, each `file:line:column: message`. */
export function dataFileProblems(regoDir: string, includeTests: boolean): string[] {
  const problems: string[] = [];
  for (const file of dataFiles(regoDir, includeTests)) {
    const text = readFileSync(join(regoDir, file), 'utf8');
    const found = file.endsWith('.json') ? jsonProblems(text) : yamlProblems(text);
    for (const problem of found) problems.push(`${file}:${problem}`);
  }
  return problems;
}

/** The key `path` (dotted; keys may contain dots, as tool ids do) names in a YAML document. */
function keyOffset(doc: Document, path: string): number | undefined {
  let node: unknown = doc.contents;
  let rest = path;
  let offset: number | undefined;
  while (rest !== '' && isMap(node)) {
    let best: { key: string; pair: (typeof node.items)[number] } | undefined;
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (key === undefined || (rest !== key && !rest.startsWith(`${key}.`))) continue;
      if (!best || key.length > best.key.length) best = { key, pair };
    }
    if (!best) break;
    offset = isScalar(best.pair.key) ? best.pair.key.range?.[0] : offset;
    rest = rest.slice(best.key.length + 1);
    node = best.pair.value;
  }
  return offset;
}

const PREPARE_REFUSAL = 'policy refused by mcp/authz/prepare: ';

/**
 * The problems of a refusal by mcp/authz/prepare, one per line, each placed at the key of
 * the profile file it is about when that can be found:
 * `profiles/bad/data.yaml:4:21: profile bad is malformed: unknown field tools.everything.echo.allowd`.
 * Other messages come back as they are.
 */
export function placeProfileProblems(regoDir: string, message: string): string {
  if (!message.startsWith(PREPARE_REFUSAL)) return message;
  const problems = message.slice(PREPARE_REFUSAL.length).split(/; (?=profile \S+ is malformed: )/);
  const placed = problems.map((problem) => {
    const match = /^profile (\S+) is malformed: (.*)$/.exec(problem);
    if (!match) return problem;
    const [, name = '', detail = ''] = match;
    const path =
      /^unknown field (\S+)/.exec(detail)?.[1] ??
      /^tool id (\S+) must/.exec(detail)?.[1]?.replace(/^/, 'tools.') ??
      /^((?:session|tools)\.\S+)/.exec(detail)?.[1];
    for (const base of ['data.yaml', 'data.yml', 'data.json']) {
      const file = join('profiles', name, base);
      let text: string;
      try {
        text = readFileSync(join(regoDir, file), 'utf8');
      } catch {
        continue;
      }
      const offset =
        path === undefined || base === 'data.json'
          ? undefined
          : keyOffset(parseDocument(text, { version: '1.1' }), path);
      if (offset === undefined) return `${file}: ${problem}`;
      const at = placeOf(text, offset);
      return `${file}:${at.line}:${at.column}: ${problem}`;
    }
    return problem;
  });
  return `mcp/authz/prepare refuses the policy:\n  ${placed.join('\n  ')}`;
}
