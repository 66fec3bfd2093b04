// Phrasing addressed to a model rather than to a person: instruction markers, attempts to
// override earlier instructions or hide things from the user, reading secret files,
// sending data somewhere, and URLs. Matched on the normalized text (normalize.ts: lower
// case, one space for any whitespace), so invisible characters and fullwidth letters do
// not hide a phrase. Every pattern is linear: no nested quantifiers, every gap bounded.
import { excerpt } from './characters.js';
import type { Severity, TextFinding, TextFindingType } from './finding.js';
import { LiteralSet, type LiteralHits } from './literals.js';
import {
  normalizeForMatching,
  normalizePlain,
  originalSpan,
  type NormalizedText,
} from './normalize.js';

/** The shortest text any rule below can match. */
const SHORTEST_MATCH = 8;

interface PhraseRule {
  readonly detector: string;
  readonly type: TextFindingType;
  readonly severity: Severity;
  readonly pattern: RegExp;
  readonly message: string;
  /** A stronger severity for some matches (e.g. a send whose object is a secret). */
  readonly escalate?: (match: string) => Severity | undefined;
  /**
   * Every match of `pattern` contains one of these (in the normalized text): where none
   * occurs, the rule is not run. Keep them in step with the pattern.
   */
  readonly triggers: readonly string[];
  /**
   * In plain ASCII text, every match also contains one of these: the rule runs only where
   * both occur. (Not used on other text: "don’t" has no ASCII apostrophe.)
   */
  readonly alsoOneOf?: readonly string[];
  /**
   * The pattern matches no whitespace and looks at most one character around a match: in
   * plain text it matches the lower-case original as it matches the normalized text (which
   * differs only in whitespace runs), at the same offsets, so it runs without normalizing.
   */
  readonly spaceFree?: true;
  /**
   * For a spaceFree rule: the most characters a match has before the start of the trigger
   * it holds. In plain text the rule then runs (sticky) only from there to each trigger
   * occurrence the prescan located, instead of searching the whole text.
   */
  readonly lead?: number;
}

/** Files whose contents are credentials or keys, with the rest of the path after them. */
const SECRET_FILE_PATTERN =
  String.raw`(?:(?:~|\$home|%userprofile%)/)?\.ssh\b|\bid_(?:rsa|dsa|ecdsa|ed25519)\b|` +
  String.raw`\.aws/credentials|(?<![\w.])\.env\b|/etc/(?:passwd|shadow|sudoers)\b|\.netrc\b|` +
  String.raw`\.npmrc\b|\.pypirc\b|\.git-credentials\b|\.docker/config\.json|\.kube/config\b|` +
  String.raw`\.gnupg\b|\bmcp\.json\b|\bclaude_desktop_config\.json\b|\.(?:bash|zsh)_history\b`;
const SECRET_FILE = String.raw`(?:${SECRET_FILE_PATTERN})[\w./-]{0,200}`;
/** What every alternative of SECRET_FILE_PATTERN contains. */
const SECRET_FILE_TRIGGERS = [
  '.ssh',
  'id_rsa',
  'id_dsa',
  'id_ecdsa',
  'id_ed25519',
  '.aws/credentials',
  '.env',
  '/etc/passwd',
  '/etc/shadow',
  '/etc/sudoers',
  '.netrc',
  '.npmrc',
  '.pypirc',
  '.git-credentials',
  '.docker/config.json',
  '.kube/config',
  '.gnupg',
  'mcp.json',
  'claude_desktop_config.json',
  '.bash_history',
  '.zsh_history',
];

/** What a send or include is of, when it is something that must not leave. */
const SECRET_OBJECT =
  /\b(?:conversation|chat|history|messages?|system prompt|contents?|files?|keys?|tokens?|credentials?|secrets?|passwords?|cookies?|environment|env vars?|ssh|documents?|data|context)\b/;

/** The names a model is addressed by. */
const MODEL_NAMES = [
  'ai',
  'assistant',
  'llm',
  'language model',
  'claude',
  'chatgpt',
  'gpt',
  'gemini',
  'copilot',
];

const INSTRUCTION_TAG =
  'important|system|instructions?|secret|hidden|admin|critical|assistant|ai|llm|model|prompt';

const OVERRIDE_TARGET = 'instructions?|prompts?|rules|directions|guidelines|guardrails|orders';
const OVERRIDE_ADJECTIVE =
  'previous|prior|above|earlier|preceding|former|existing|system|other|original|safety|initial';

export const PHRASE_RULES: readonly PhraseRule[] = [
  {
    detector: 'instruction.tag',
    type: 'model_instruction',
    severity: 'high',
    pattern: new RegExp(String.raw`<\s*(?:${INSTRUCTION_TAG})\b[^<>]{0,40}>`, 'g'),
    message: 'a tag that marks instructions for the model',
    triggers: INSTRUCTION_TAG.split('|').flatMap((tag) => [`<${tag}`, `< ${tag}`]),
  },
  {
    detector: 'instruction.override',
    type: 'model_instruction',
    severity: 'high',
    pattern: new RegExp(
      String.raw`\b(?:ignore|disregard|forget|override|bypass|skip)\s(?:(?:all|any)\s(?:of\s)?` +
        String.raw`(?:the\s|your\s|my\s)?(?:(?:${OVERRIDE_ADJECTIVE})\s)?|(?:the\s|your\s|my\s|these\s)?` +
        String.raw`(?:${OVERRIDE_ADJECTIVE})\s)(?:${OVERRIDE_TARGET})\b`,
      'g',
    ),
    message: 'an instruction to ignore earlier instructions',
    triggers: ['ignore', 'disregard', 'forget', 'override', 'bypass', 'skip'],
  },
  {
    detector: 'instruction.role_change',
    type: 'model_instruction',
    severity: 'medium',
    pattern:
      /\b(?:from now on,? you|new instructions?\s?:|you are now (?:a|an|in|the)\b|act as (?:a|an) (?:different|new|unrestricted)\b)/g,
    message: 'an attempt to give the model new instructions or a new role',
    triggers: ['from now on', 'new instruction', 'you are now', 'act as'],
  },
  {
    detector: 'instruction.conceal',
    type: 'model_instruction',
    severity: 'high',
    pattern: new RegExp(
      [
        String.raw`\b(?:do not|don['’]?t|never|must not|should not|shouldn['’]?t)\s(?:ever\s)?` +
          String.raw`(?:tell|inform|mention(?: this| it)? to|mention|reveal(?: this| it)? to|reveal|disclose(?: this| it)? to|disclose|show|notify|alert|warn|let)\s` +
          String.raw`(?:this\s|it\s|anything\s)?(?:to\s)?(?:the\s)?users?\b`,
        String.raw`\bwithout\s(?:telling|informing|notifying|alerting|asking|warning|showing)\s(?:the\s)?users?\b`,
        String.raw`\b(?:the\s)?users?\s(?:must|should|need)\s(?:not|never)\s(?:know|see|be told|find out|learn|notice)\b`,
        String.raw`\b(?:keep|hide)\s(?:this|it|that)\s(?:secret\s)?from\s(?:the\s)?users?\b`,
        String.raw`\b(?:do not|don['’]?t|never)\s(?:mention|reveal|say)\s(?:that\s)?(?:you|this tool)\b`,
      ].join('|'),
      'g',
    ),
    message: 'an instruction to hide something from the user',
    triggers: [
      'user',
      't mention',
      't reveal',
      't say',
      'never mention',
      'never reveal',
      'never say',
    ],
    // The negation, `without`, or `keep`/`hide` every alternative starts with.
    alsoOneOf: ['not ', "n't ", 'dont ', 'never ', 'shouldnt ', 'without ', 'keep ', 'hide '],
  },
  {
    detector: 'instruction.precondition',
    type: 'model_instruction',
    severity: 'medium',
    pattern:
      /\b(?:before|prior to)\s(?:using|calling|invoking|running|executing)\s(?:this|the|any|each|every)\s(?:[\w-]{1,30}\s)?tools?\b|\byou\s(?:must|need to|have to)\s(?:first|always)\s(?:call|read|run|invoke|use|send|fetch)\b/g,
    message: 'a step the model is told to take before using a tool',
    triggers: [
      ...['using', 'calling', 'invoking', 'running', 'executing'].flatMap((verb) => [
        `before ${verb}`,
        `prior to ${verb}`,
      ]),
      'must first',
      'must always',
      'to first',
      'to always',
    ],
  },
  {
    detector: 'instruction.address_model',
    type: 'model_instruction',
    severity: 'medium',
    pattern: new RegExp(
      String.raw`\b(?:${MODEL_NAMES.join('|')})\s?[,:]?\s(?:you\s)?(?:must|shall|have to|are required to|are instructed to)\b`,
      'g',
    ),
    message: 'an instruction addressed to the model',
    // The name and what follows it (`\s?[,:]?\s`): a word ending in "ai" is rare.
    triggers: MODEL_NAMES.flatMap((name) => [`${name} `, `${name},`, `${name}:`]),
  },
  {
    detector: 'instruction.read_secret',
    type: 'sensitive_path',
    severity: 'high',
    pattern: new RegExp(
      String.raw`\b(?:read|cat|open|load|include|send|pass|attach|upload|copy|fetch|get|provide|print|output|return|share|append|paste)\b(?:[^.!?\n]|\.(?=\S)){0,60}?(?:${SECRET_FILE})`,
      'g',
    ),
    message: 'an instruction to read or pass on a file that holds secrets',
    triggers: SECRET_FILE_TRIGGERS,
  },
  {
    detector: 'path.secret_file',
    type: 'sensitive_path',
    severity: 'medium',
    pattern: new RegExp(SECRET_FILE, 'g'),
    message: 'a reference to a file that holds secrets',
    spaceFree: true,
    // `%userprofile%/` before `.ssh`; every other trigger starts its match.
    lead: 14,
    triggers: SECRET_FILE_TRIGGERS,
  },
  {
    detector: 'exfiltration.send',
    type: 'exfiltration',
    severity: 'medium',
    pattern:
      /\b(?:sends?|posts?|uploads?|forwards?|transmits?|exfiltrates?|leaks?|e?mails?|submits?|reports?|copy|copies)\s(?:it|them|this|that|everything|all(?:\sof\s(?:it|them|the\s[^.!?\n]{1,40}?))?|(?:the|a|any|your)\s[^.!?\n]{1,40}?)\sto\s(?:https?:\/\/|(?:the\s)?(?:following|this|our|my|an?\sexternal|an?\sremote)\s(?:url|address|email|endpoint|server|webhook|site)|[\w.+-]{1,64}@[\w-]{1,63}\.[\w.]{2,})/g,
    message: 'an instruction to send data to an outside address',
    triggers: [
      ...[
        'send',
        'post',
        'upload',
        'forward',
        'transmit',
        'exfiltrate',
        'leak',
        'mail',
        'submit',
      ].flatMap((verb) => [`${verb} `, `${verb}s `]),
      'report ',
      'reports ',
      'copy ',
      'copies ',
    ],
    escalate: (match) => (SECRET_OBJECT.test(match) ? 'high' : undefined),
  },
  {
    detector: 'exfiltration.side_channel',
    type: 'exfiltration',
    severity: 'high',
    pattern:
      /\b(?:include|put|pass|add|append|embed|insert|place|provide|encode)\s(?:the\s|all\s|any\s)?(?:full\s|entire\s|complete\s|whole\s)?(?:contents?\sof\s[^.!?\n]{1,60}?|conversation(?:\shistory)?|chat\shistory|system\sprompt|previous\smessages|api\skeys?|(?:access\s)?tokens?|credentials?|secrets?|passwords?|private\skeys?|environment\svariables|ssh\skeys?)\s(?:in|into|as|inside)\s(?:the\s|this\s|a\s)?['"`]?[\w-]{1,40}['"`]?\s?(?:parameter|argument|field|param|property|variable)\b/g,
    message: 'an instruction to pass secret data through a tool parameter',
    // What is to be passed: rarer in ordinary text than the parameter words.
    triggers: [
      'content',
      'conversation',
      'chat history',
      'system prompt',
      'previous messages',
      'api key',
      'token',
      'credential',
      'secret',
      'password',
      'private key',
      'environment variables',
      'ssh key',
    ],
    alsoOneOf: [
      'include',
      'put',
      'pass',
      'add',
      'append',
      'embed',
      'insert',
      'place',
      'provide',
      'encode',
    ].map((verb) => `${verb} `),
  },
  {
    detector: 'exfiltration.markdown_image',
    type: 'exfiltration',
    severity: 'high',
    pattern: /!\[[^\]\n]{0,200}\]\(\s?https?:\/\/[^)\s]{1,2048}[?&=][^)\s]{0,2048}\)/g,
    message: 'a Markdown image whose address carries data (rendering it sends the data)',
    triggers: ['!['],
  },
  {
    detector: 'url.http',
    type: 'url',
    severity: 'low',
    pattern: /\b(?:https?|ftp|wss?):\/\/[^\s<>"'`)\]]{1,2048}/g,
    message: 'a URL',
    spaceFree: true,
    lead: 5, // https
    triggers: ['://'],
  },
  {
    detector: 'url.data',
    type: 'url',
    severity: 'medium',
    pattern: /\bdata:[\w/+.-]{1,100};base64,/g,
    message: 'an embedded data: URL',
    spaceFree: true,
    lead: 0,
    triggers: ['data:'],
  },
];

/**
 * The rules' triggers as groups of literals: for rule i, group 2i its triggers and group
 * 2i + 1 its alsoOneOf (empty when it has none).
 */
export const PHRASE_TRIGGERS: readonly (readonly string[])[] = PHRASE_RULES.flatMap((r) => [
  r.triggers,
  r.alsoOneOf ?? [],
]);

/** Of PHRASE_TRIGGERS, the groups whose every occurrence the rules with a lead start from. */
export const PHRASE_LOCATED: readonly number[] = PHRASE_RULES.flatMap((rule, i) =>
  rule.lead === undefined ? [] : [2 * i],
);

const PHRASE_LITERALS = new LiteralSet(PHRASE_TRIGGERS);

/**
 * Per rule with a lead, its pattern sticky and case-insensitive, for plain text: there it
 * matches the original as the pattern matches the lower-cased text (the patterns of such
 * rules have no upper-case letter and no class that tells the cases apart).
 */
const STICKY = PHRASE_RULES.map((rule) =>
  rule.lead === undefined ? undefined : new RegExp(rule.pattern.source, 'iy'),
);
/** Per rule, its longest and shortest trigger. */
const TRIGGER_LENGTHS = PHRASE_RULES.map((rule) => ({
  longest: Math.max(...rule.triggers.map((t) => t.length)),
  shortest: Math.min(...rule.triggers.map((t) => t.length)),
}));

/**
 * A rule's matches in plain `text`, as its global pattern finds them on the lower-cased
 * text: tried (sticky) at every position from `lead` characters before each located
 * trigger occurrence to that occurrence, in order. Every match holds a trigger that starts
 * at most `lead` characters after it, so every match's start is tried, and trying in order
 * from where the previous match ended finds the leftmost match each time, as a global
 * search does. `ends`: where the trigger occurrences end, in the prescanned text, which
 * `text` is the part [from, ...) of.
 */
function locatedMatches(
  rule: number,
  text: string,
  ends: readonly number[],
  from: number,
  to: number,
  perRule: number,
): RegExpExecArray[] {
  const pattern = STICKY[rule] as RegExp;
  const lead = PHRASE_RULES[rule]?.lead ?? 0;
  const { longest, shortest } = TRIGGER_LENGTHS[rule] as { longest: number; shortest: number };
  const out: RegExpExecArray[] = [];
  let next = 0; // the first position not tried yet (or inside the previous match)
  for (const end of ends) {
    if (end <= from) continue;
    if (end > to) break;
    const last = Math.min(end - from - shortest, text.length - 1);
    for (let at = Math.max(next, end - from - longest - lead); at <= last; at++) {
      pattern.lastIndex = at;
      const match = pattern.exec(text);
      if (match === null) continue;
      out.push(match);
      if (out.length >= perRule) return out;
      next = at + Math.max(1, match[0].length);
      at = next - 1;
    }
    next = Math.max(next, last + 1);
  }
  return out;
}

/**
 * Which rules can match, from a prescan of the original text: valid only for plain text
 * (LiteralHits.plain), where the normalized text is the original in lower case with
 * whitespace runs as one space, so a trigger occurs in one exactly when in the other.
 */
export interface PhrasePrescan {
  readonly hits: LiteralHits;
  /** Where PHRASE_TRIGGERS' groups start among the prescan's groups. */
  readonly firstGroup: number;
  /** The part of the prescanned text `text` is, when it is a slice of it. */
  readonly from?: number;
  readonly to?: number;
}

/**
 * Every phrase finding in `text` (original offsets), rule by rule, at most `perRule` each,
 * of the rules whose type `runs`. A rule runs only where one of its triggers occurs:
 * `prescan` says which (plain text), or the normalized text is scanned for them here.
 */
export function detectPhrases(
  text: string,
  perRule = Number.POSITIVE_INFINITY,
  prescan?: PhrasePrescan,
  excerptOf: (type: TextFindingType) => boolean = () => true,
  runs: (type: TextFindingType) => boolean = () => true,
): TextFinding[] {
  // No rule matches fewer characters than this ("<system>", "http://x").
  if (text.length < SHORTEST_MATCH) return [];
  let fired: (rule: number) => boolean;
  let normalized: NormalizedText | undefined;
  let lower: NormalizedText | undefined;
  const plain = prescan?.hits.plain === true;
  if (prescan !== undefined && plain) {
    const { hits, firstGroup, from = 0, to = Number.MAX_SAFE_INTEGER } = prescan;
    fired = (rule) =>
      hits.has(firstGroup + 2 * rule, from, to) &&
      (PHRASE_RULES[rule]?.alsoOneOf === undefined ||
        hits.has(firstGroup + 2 * rule + 1, from, to));
    if (!PHRASE_RULES.some((_, rule) => fired(rule))) return [];
  } else {
    normalized = normalizeForMatching(text);
    const hits = PHRASE_LITERALS.scan(normalized.text);
    fired = (rule) => hits.has(2 * rule);
  }
  const findings: TextFinding[] = [];
  PHRASE_RULES.forEach((rule, index) => {
    if (!runs(rule.type) || !fired(index)) return;
    const ends =
      plain && rule.lead !== undefined
        ? prescan?.hits.ends(prescan.firstGroup + 2 * index)
        : undefined;
    if (ends !== undefined && prescan !== undefined) {
      const { from = 0, to = Number.MAX_SAFE_INTEGER } = prescan;
      for (const match of locatedMatches(index, text, ends, from, to, perRule)) {
        const start = match.index;
        const end = start + match[0].length;
        findings.push({
          type: rule.type,
          detector: rule.detector,
          severity: rule.escalate?.(match[0].toLowerCase()) ?? rule.severity,
          offset: start,
          length: end - start,
          excerpt: excerptOf(rule.type) ? excerpt(text, start, end) : '',
          message: rule.message,
        });
      }
      return;
    }
    const target =
      plain && rule.spaceFree === true
        ? (lower ??= { text: text.toLowerCase(), origin: undefined, originEnd: undefined })
        : (normalized ??= normalizePlain(text));
    // exec with lastIndex, not matchAll: matchAll copies the RegExp on every call, which
    // cost more than the matching itself on the many short texts of a catalog.
    const pattern = rule.pattern;
    pattern.lastIndex = 0;
    let count = 0;
    for (let match = pattern.exec(target.text); match !== null; match = pattern.exec(target.text)) {
      if (match[0].length === 0) pattern.lastIndex += 1;
      if (count >= perRule) break;
      count += 1;
      const from = match.index;
      const [start, end] = originalSpan(target, from, from + match[0].length);
      findings.push({
        type: rule.type,
        detector: rule.detector,
        severity: rule.escalate?.(match[0]) ?? rule.severity,
        offset: start,
        length: end - start,
        // Only for findings the caller keeps: an excerpt costs more than the match.
        excerpt: excerptOf(rule.type) ? excerpt(text, start, end) : '',
        message: rule.message,
      });
    }
  });
  return findings;
}
