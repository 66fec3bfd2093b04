#!/usr/bin/env node
// Guardrail costs in-process, with the gateway's own parts (its public entry point):
// - schema validation: the bench tool's (echo) inputSchema compiled once as the gateway
//   does (ArgumentSchemas), then one validation per call of {text: "hello mcpgate"};
// - inspection: the gateway's Walker with its built-in detectors (secretlint's rules
//   behind their gate, the secrets written here, personal data, injected instructions) over
//   a tools/call result with one text block of 1 KB to 1 MB, of two kinds: prose (English
//   text, no secret-shaped token) and source code (TypeScript with imports, URLs,
//   identifiers, a UUID, hex digests: what a code-review session reads).
// Each sample times a batch and divides (a validation is well under a microsecond).
//
// Usage: node bench/lib/guardrails-worker.mjs '{"samples":200,"sizes":[1024,10240]}'
// prints `RESULT <json>`.
import { performance } from 'node:perf_hooks';
import { summarize, round } from './stats.mjs';
import { benchTools } from './upstream-common.mjs';

const { ArgumentSchemas, Walker, builtInDetectors, Catalog } = await import('mcpgate');

const job = JSON.parse(process.argv[2] ?? '{}');
const samples = job.samples ?? 200;
const sizes = job.sizes ?? [1024, 10_240, 102_400, 1_048_576];

function timeBatches(fn, batch, count) {
  const out = [];
  for (let s = 0; s < count; s++) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) fn();
    out.push(((performance.now() - t0) * 1000) / batch);
  }
  return out;
}

async function timeAsync(fn, count) {
  const out = [];
  for (let s = 0; s < count; s++) {
    const t0 = performance.now();
    await fn();
    out.push((performance.now() - t0) * 1000);
  }
  return out;
}

// --- schema validation -------------------------------------------------------------------
const { catalog } = Catalog.build([
  {
    server: 'everything',
    prefix: 'everything__',
    tools: benchTools(1),
    prompts: [],
    resources: [],
    templates: [],
  },
]);
const entry = catalog.tools.get('everything__echo');
const schemas = new ArgumentSchemas();
const compiled = schemas.validatorFor(entry);
if (!('validate' in compiled))
  throw new Error(`the bench tool's schema did not compile: ${compiled.problem}`);
const args = { text: 'hello mcpgate' };
timeBatches(() => schemas.validatorFor(entry).validate(args), 1000, 50);
const validation = summarize(
  timeBatches(() => schemas.validatorFor(entry).validate(args), 1000, samples),
);

// --- inspection --------------------------------------------------------------------------
const PROSE =
  'The gateway sits between the agents and the servers they use. Every call is decided by the ' +
  'policy, and every answer is looked at before the agent sees it. Sessions have a purpose, and ' +
  'the purpose says which tools may be called, on which arguments, and what may come back. ';
const CODE = [
  "import { readFileSync } from 'node:fs';",
  "import type { Request, Response } from 'express';",
  '// See https://example.com/docs/handlers#errors for the error contract.',
  'export async function handle(req: Request, res: Response): Promise<void> {',
  "  const id = req.params.id ?? '3fa85f64-5717-4562-b3fc-2c963f66afa6';",
  "  const digest = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';",
  "  const password = getPassword(req.headers['x-user'] as string);",
  '  if (!password) return void res.status(401).json({ error: "password required" });',
  "  const config = JSON.parse(readFileSync('config/settings.json', 'utf8')) as Settings;",
  '  res.json({ id, digest, retries: config.retries, timeoutMs: config.timeoutMs * 1000 });',
  '}',
  '',
].join('\n');

function textOf(kind, size) {
  const unit = kind === 'prose' ? PROSE : CODE;
  let text = '';
  while (text.length < size) text += unit;
  // A flat string, as JSON.parse hands the gateway a result.
  return JSON.parse(JSON.stringify(text.slice(0, size)));
}

const walker = new Walker(builtInDetectors());
const inspection = {};
for (const kind of ['prose', 'code']) {
  inspection[kind] = [];
  for (const size of sizes) {
    const result = { content: [{ type: 'text', text: textOf(kind, size) }] };
    const report = await walker.inspect(result, '', 'the result');
    const count = size >= 1_000_000 ? Math.max(10, Math.floor(samples / 10)) : samples;
    await timeAsync(() => walker.inspect(result, '', 'the result'), Math.min(20, count));
    const us = summarize(await timeAsync(() => walker.inspect(result, '', 'the result'), count));
    inspection[kind].push({
      bytes: size,
      findings: report.findings.length,
      us,
      p50UsPerKb: round(us.p50 / (size / 1024)),
    });
  }
}

console.log(
  `RESULT ${JSON.stringify({
    validation: { tool: 'everything__echo', args, us: validation },
    inspection,
  })}`,
);
