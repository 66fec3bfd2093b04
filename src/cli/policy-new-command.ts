// `mcpgate policy new <purpose>`: a first policy from nothing. Writes a purpose profile, a
// Rego test of it and two cases (evaluated in wasm and in OPA's Go evaluator by `policy
// test`), all of which pass as written, then says what to edit next.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { parseCommand, UsageError, type CommandSpec } from '../util/command-spec.js';

/** What the gateway accepts as a purpose (the Mcp-Purpose header). */
const PURPOSE = /^[A-Za-z0-9._-]{1,64}$/;

export const POLICY_NEW_SPEC = {
  name: 'policy new',
  summary: 'start a policy for a new purpose: a profile, a Rego test and cases that pass',
  args: [{ name: 'PURPOSE', help: 'the purpose, as clients ask for it (Mcp-Purpose header)' }],
  options: {
    rego: {
      type: 'string',
      value: 'DIR',
      default: 'rego',
      help: 'the policy directory to add to',
    },
    groups: {
      type: 'string',
      value: 'a,b',
      default: 'engineering',
      help: "groups whose members may open a session (--groups '' for none)",
    },
    roles: {
      type: 'string',
      value: 'a,b',
      defaultText: 'none',
      help: 'roles that may open a session on their own',
    },
    tools: {
      type: 'string',
      value: 'SERVER.TOOL,...',
      default: 'everything.echo',
      help: 'the tools a session may call, as server.tool',
    },
    ttl: {
      type: 'string',
      value: 'SECONDS',
      default: '900',
      help: 'how long a session of the purpose lives',
    },
  },
  details: [
    'Writes <rego>/profiles/PURPOSE/data.yaml, <rego>/tests/<purpose>_test.rego (unit tests with the shared fixtures of tests/fixtures.rego) and two cases in <rego>/tests/cases.json: a member calling the first tool (allowed) and calling a tool the profile does not list (refused). Refuses to overwrite anything, and a purpose another profile already claims.',
  ],
  example: ['mcpgate policy new echo-demo --groups engineering --tools everything.echo'],
} as const satisfies CommandSpec;

export interface NewPolicy {
  purpose: string;
  groups: string[];
  roles: string[];
  tools: Array<{ server: string; name: string; id: string }>;
  ttl: number;
}

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** A Rego identifier from a purpose: `echo-demo` -> `echo_demo`. */
export function packageName(purpose: string): string {
  const name = purpose.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return /^[a-z_]/.test(name) ? name : `p_${name}`;
}

/** A YAML scalar as the profile should show it: plain when YAML would read it back the same. */
function yamlScalar(value: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value) &&
    !/^(y|n|yes|no|on|off|true|false|null)$/i.test(value)
    ? value
    : JSON.stringify(value);
}

export function profileYaml(p: NewPolicy): string {
  const lines = [
    `# Purpose profile: ${p.purpose}. Written by \`mcpgate policy new\`; every field is`,
    '# explained in rego/README.md, "Purpose profiles". Least privilege: list each tool a',
    '# session may call, and give each tool that takes a path a scope, for example',
    '#   filesystem.read_text_file: { allowed: true, scope: "docs/**/*.md" }',
    'session:',
    `  purpose: ${yamlScalar(p.purpose)}`,
    `  ttl: ${p.ttl} # seconds a session lives`,
  ];
  if (p.groups.length > 0) {
    lines.push(
      `  allowed_groups: [${p.groups.map(yamlScalar).join(', ')}] # Okta group names, Entra group object ids`,
    );
  }
  if (p.roles.length > 0) {
    lines.push(`  allowed_roles: [${p.roles.map(yamlScalar).join(', ')}] # app roles`);
  }
  if (p.groups.length === 0 && p.roles.length === 0) {
    lines.push(
      '  # No allowed_groups or allowed_roles: every authenticated user may open a session.',
    );
  }
  lines.push('tools:');
  for (const tool of p.tools) lines.push(`  ${yamlScalar(tool.id)}: { allowed: true }`);
  return `${lines.join('\n')}\n`;
}

/** A tool id none of the profile's tools has, for the refused case. */
function unlistedTool(p: NewPolicy): { server: string; name: string; id: string } {
  const taken = new Set(p.tools.map((t) => t.id));
  for (let i = 1; ; i++) {
    const candidate = { server: 'other', name: i === 1 ? 'tool' : `tool${i}`, id: '' };
    candidate.id = `${candidate.server}.${candidate.name}`;
    if (!taken.has(candidate.id)) return candidate;
  }
}

const rego = (value: string): string => JSON.stringify(value);

export function regoTest(p: NewPolicy): string {
  const pkg = packageName(p.purpose);
  const other = unlistedTool(p);
  const member =
    p.groups.length > 0
      ? `fx.okta_user([${rego(p.groups[0] ?? '')}], [])`
      : p.roles.length > 0
        ? `fx.okta_user([], [${rego(p.roles[0] ?? '')}])`
        : 'fx.okta_user([], [])';
  const lines = [
    `# The ${p.purpose} profile, profiles/${p.purpose}/data.yaml. Written by`,
    '# `mcpgate policy new`: keep these tests in step with the profile as you edit it.',
    `package mcp.${pkg}_test`,
    '',
    'import data.mcp.authz',
    'import data.mcp.testing.fixtures as fx',
    '',
    `purpose := ${rego(p.purpose)}`,
    '',
    `member := ${member}`,
    '',
    'outsider := fx.okta_user(["not-a-member"], [])',
    '',
    'decide(inp) := d if {',
    '\td := authz.decision with input as inp',
    '}',
    '',
    '# A tools/call of tool id in a session of the purpose, by identity.',
    'call(identity, id) := fx.with_identity(',
    '\tfx.with_purpose(fx.call(split(id, ".")[0], substring(id, indexof(id, ".") + 1, -1), {}), purpose),',
    '\tidentity,',
    ')',
    '',
    'test_a_member_may_open_a_session if {',
    '\td := decide(fx.with_identity(fx.session_open(purpose), member))',
    '\td.allow',
    `\td.obligations.session_ttl_s == ${p.ttl}`,
    '}',
    '',
  ];
  if (p.groups.length > 0 || p.roles.length > 0) {
    lines.push(
      'test_others_may_not_open_one if {',
      '\td := decide(fx.with_identity(fx.session_open(purpose), outsider))',
      '\tnot d.allow',
      '\tstartswith(d.reasons[0], concat("", [purpose, " needs membership in "]))',
      '}',
      '',
    );
  } else {
    lines.push(
      'test_every_user_may_open_one if {',
      '\tdecide(fx.with_identity(fx.session_open(purpose), outsider)).allow',
      '}',
      '',
    );
  }
  lines.push(
    'test_the_listed_tools_are_allowed if {',
    `\tevery id in [${p.tools.map((t) => rego(t.id)).join(', ')}] {`,
    '\t\tdecide(call(member, id)).allow',
    '\t}',
    '}',
    '',
    'test_other_tools_are_refused if {',
    `\td := decide(call(member, ${rego(other.id)}))`,
    '\tnot d.allow',
    `\td.reasons == [concat("", [${rego(other.id)}, " is not in the ", purpose, " allow-list"])]`,
    '}',
  );
  return `${lines.join('\n')}\n`;
}

/** The two cases: a member calling the first tool (allowed), and an unlisted tool (refused). */
export function policyCases(p: NewPolicy): Array<Record<string, unknown>> {
  const first = p.tools[0];
  if (first === undefined) return [];
  const other = unlistedTool(p);
  const groups = p.groups.length > 0 ? [p.groups[0]] : [];
  const roles = p.groups.length === 0 && p.roles.length > 0 ? [p.roles[0]] : [];
  const issuer = 'https://example.okta.com/oauth2/default';
  const input = (tool: { server: string; name: string; id: string }) => ({
    action: 'tools/call',
    identity: {
      issuer,
      subject: '00u1a2b3c4d5e6f7g8h9',
      user_id: '00u1a2b3c4d5e6f7g8h9',
      client_id: '0oa1mcpclient2b3c4d5',
      scopes: ['mcp'],
      roles,
      groups,
      groups_overage: false,
      token_type: 'user',
      amr: ['pwd'],
      claims: { iss: issuer, sub: 'alice@example.com', groups },
    },
    session: {
      id: 'sess-new-1',
      purpose: p.purpose,
      age_s: 10,
      history: [],
      summary: { tools: {}, resources: {}, prompts: {} },
      counters: { calls: 0, denied: 0, untracked: 0 },
    },
    request: {
      time_ns: 1767225642000000000,
      time: '2026-01-01T00:00:42Z',
      gateway: { id: 'gw-test', version: '0.1.0' },
    },
    findings: [],
    tool: {
      server: tool.server,
      name: tool.name,
      id: tool.id,
      annotations: { readOnlyHint: true },
      definition_hash: '0000',
      // As the gateway sends it for a tool whose definition is pinned and unflagged.
      pin: { state: 'pinned' },
      findings: [],
    },
    arguments: {},
  });
  return [
    {
      name: `${p.purpose}: a member calls ${first.id}`,
      entrypoint: 'mcp/authz/decision',
      input: input(first),
      expect: { allow: true, reasons_include: [`allowed by purpose ${p.purpose}`] },
    },
    {
      name: `${p.purpose}: a tool the profile does not list is refused`,
      entrypoint: 'mcp/authz/decision',
      input: input(other),
      expect: {
        allow: false,
        reasons_include: [`${other.id} is not in the ${p.purpose} allow-list`],
      },
    },
  ];
}

/**
 * JSON laid out as prettier lays out the repository's JSON: every non-empty object one key
 * per line, arrays on one line when they fit in 100 columns, else one element per line.
 */
export function formatJson(value: unknown, indent: number): string {
  const pad = ' '.repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const inline = `[${value.map((v) => formatJson(v, 0)).join(', ')}]`;
    const simple = value.every((v) => typeof v !== 'object' || v === null);
    if (simple && indent + inline.length <= 100) return inline;
    return `[\n${value.map((v) => `${pad}  ${formatJson(v, indent + 2)}`).join(',\n')}\n${pad}]`;
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    if (entries.length === 0) return '{}';
    return `{\n${entries.map(([k, v]) => `${pad}  ${JSON.stringify(k)}: ${formatJson(v, indent + 2)}`).join(',\n')}\n${pad}}`;
  }
  return JSON.stringify(value);
}

/** cases.json with `added` appended to its cases, the existing text left as it is. */
export function appendCases(text: string, added: Array<Record<string, unknown>>): string {
  const parsed = JSON.parse(text) as { cases?: unknown };
  if (!Array.isArray(parsed.cases)) throw new Error('cases.json must hold {"cases": [...]}');
  const close = text.lastIndexOf(']');
  const head = text.slice(0, close).trimEnd();
  const separator = parsed.cases.length > 0 ? ',' : '';
  const body = added.map((c) => `    ${formatJson(c, 4)}`).join(',\n');
  return `${head}${separator}\n${body}\n  ${text.slice(close)}`;
}

/** The purposes the profiles under regoDir already claim, by file. */
function claimedPurposes(regoDir: string): Map<string, string> {
  const claimed = new Map<string, string>();
  const profiles = join(regoDir, 'profiles');
  if (!existsSync(profiles)) return claimed;
  for (const name of readdirSync(profiles)) {
    for (const file of ['data.yaml', 'data.yml', 'data.json']) {
      const path = join(profiles, name, file);
      if (!existsSync(path)) continue;
      const doc = parseDocument(readFileSync(path, 'utf8')).toJS() as {
        session?: { purpose?: unknown };
      } | null;
      const purpose = doc?.session?.purpose;
      if (typeof purpose === 'string') claimed.set(purpose, relative(regoDir, path));
    }
  }
  return claimed;
}

/** The eval flags of a caller the new profile admits. */
function memberFlags(p: NewPolicy): string {
  if (p.groups[0] !== undefined) return ` --groups ${p.groups[0]}`;
  if (p.roles[0] !== undefined) return ` --roles ${p.roles[0]}`;
  return '';
}

export function policyNew(argv: string[]): number {
  const { values, positionals } = parseCommand(POLICY_NEW_SPEC, argv);
  const purpose = positionals[0];
  const name = POLICY_NEW_SPEC.name;
  if (purpose === undefined)
    throw new UsageError(name, 'needs the purpose: mcpgate policy new PURPOSE');
  if (!PURPOSE.test(purpose)) {
    throw new UsageError(name, `"${purpose}" is not a purpose: 1 to 64 of A-Z a-z 0-9 . _ -`);
  }
  const tools = list(values.tools).map((id) => {
    const dot = id.indexOf('.');
    if (dot <= 0 || dot === id.length - 1) {
      throw new UsageError(name, `--tools: "${id}" is not a tool id, server.tool`);
    }
    return { server: id.slice(0, dot), name: id.slice(dot + 1), id };
  });
  if (tools.length === 0) throw new UsageError(name, '--tools needs at least one tool id');
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0) {
    throw new UsageError(name, '--ttl must be a positive whole number of seconds');
  }
  const p: NewPolicy = {
    purpose,
    groups: list(values.groups),
    roles: list(values.roles),
    tools,
    ttl,
  };

  const regoDir = resolve(values.rego);
  const profileFile = join(regoDir, 'profiles', purpose, 'data.yaml');
  const testFile = join(regoDir, 'tests', `${packageName(purpose)}_test.rego`);
  const casesFile = join(regoDir, 'tests', 'cases.json');
  const claimant = claimedPurposes(regoDir).get(purpose);
  if (claimant !== undefined) {
    console.error(
      `mcpgate policy new: purpose ${purpose} is already claimed by ${claimant}; choose another name`,
    );
    return 1;
  }
  for (const file of [join(regoDir, 'profiles', purpose), testFile]) {
    if (existsSync(file)) {
      console.error(
        `mcpgate policy new: ${relative(process.cwd(), file)} exists already; nothing was written`,
      );
      return 1;
    }
  }
  if (!existsSync(join(regoDir, 'tests', 'fixtures.rego'))) {
    console.error(
      `mcpgate policy new: ${relative(process.cwd(), join(regoDir, 'tests', 'fixtures.rego'))} is missing: the test it writes builds its inputs with the shipped fixtures`,
    );
    return 1;
  }
  const cases = policyCases(p);
  const casesText = readFileSync(casesFile, 'utf8');
  const existing = new Set(
    ((JSON.parse(casesText) as { cases?: Array<{ name?: unknown }> }).cases ?? []).map(
      (c) => c.name,
    ),
  );
  const clash = cases.find((c) => existing.has(c.name));
  if (clash !== undefined) {
    console.error(
      `mcpgate policy new: ${casesFile} has a case named "${String(clash.name)}" already; nothing was written`,
    );
    return 1;
  }

  mkdirSync(join(regoDir, 'profiles', purpose), { recursive: true });
  writeFileSync(profileFile, profileYaml(p));
  writeFileSync(testFile, regoTest(p));
  writeFileSync(casesFile, appendCases(casesText, cases));

  const shown = (file: string) => relative(process.cwd(), file) || file;
  console.log(
    [
      `created ${shown(profileFile)}   the profile: who may open a session, which tools, their scopes`,
      `created ${shown(testFile)}   its unit tests (opa test)`,
      `added 2 cases to ${shown(casesFile)}   each evaluated in wasm and in OPA's Go evaluator`,
      '',
      'Next:',
      `  1. Edit ${shown(profileFile)}: who may open a session (allowed_groups, allowed_roles),`,
      '     which tools, and a scope for every tool that takes a path (fields: rego/README.md,',
      '     "Purpose profiles").',
      `  2. Keep ${shown(testFile)} and the two "${purpose}: ..." cases in step with it.`,
      '  3. mcpgate policy check && mcpgate policy test',
      `  4. mcpgate policy build, then try a call: mcpgate eval --purpose ${purpose}${memberFlags(p)} --tool ${tools[0]?.id ?? ''}`,
      `  5. Clients ask for the purpose with the header Mcp-Purpose: ${purpose}.`,
    ].join('\n'),
  );
  return 0;
}
