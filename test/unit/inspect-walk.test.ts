// The inspection walk over whole MCP results and the redaction of what it found: every
// string at any depth, base64 text decoded, binary media left alone; and the bad input that
// must stop it (too much text, too deep, too much base64, invalid Unicode or UTF-8, a
// detector that throws), each with a reason a user can act on.
import { describe, expect, it } from '@jest/globals';
import type { TextDetector, TextMatch } from '../../src/inspect/finding.js';
import { personalData } from '../../src/inspect/pii.js';
import { redact, RedactionError } from '../../src/inspect/redact.js';
import { generalSecrets } from '../../src/inspect/secrets.js';
import {
  DEFAULT_WALK_LIMITS,
  InspectionRefused,
  Walker,
  type WalkReport,
} from '../../src/inspect/walk.js';

const walker = new Walker([generalSecrets(), personalData()]);
const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof InspectionRefused) return err.message;
    throw err;
  }
  throw new Error('the inspection was not refused');
}

const RESULT = {
  content: [
    { type: 'text', text: 'owner: alice@example.com' },
    {
      type: 'resource',
      resource: {
        uri: 'file:///.env',
        mimeType: 'text/plain',
        blob: b64('DB_PASSWORD=s3cr3t-Hunter2\n'),
      },
    },
    {
      type: 'image',
      mimeType: 'image/png',
      data: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3]).toString('base64'),
    },
    { type: 'image', mimeType: 'image/png', data: b64('not an image: mail bob@example.com') },
  ],
  structuredContent: { users: [{ 'e/mail': 'carol@example.com' }] },
};

describe('the walk', () => {
  it('finds what is in text, decoded base64 text and structured content, with JSON pointers', async () => {
    const report = await walker.inspect(RESULT, '', 'the result');
    expect(report.findings.map((f) => [f.id, f.detector, f.pointer, f.encoding])).toEqual([
      ['f1', 'pii.email', '/content/0/text', 'text'],
      ['f2', 'pii.email', '/structuredContent/users/0/e~1mail', 'text'],
      ['f3', 'secret.env_assignment', '/content/1/resource/blob', 'base64'],
      ['f4', 'pii.email', '/content/3/data', 'base64'],
    ]);
  });

  it('prefixes argument pointers', async () => {
    const report = await walker.inspect({ to: 'dave@example.com' }, '/arguments', 'the arguments');
    expect(report.findings[0]?.pointer).toBe('/arguments/to');
  });

  it('keeps at most maxFindings, counting the rest', async () => {
    const few = new Walker([personalData()], { ...DEFAULT_WALK_LIMITS, maxFindings: 2 });
    const report = await few.inspect(
      ['a@example.com b@example.com c@example.com'],
      '',
      'the result',
    );
    expect(report.findings).toHaveLength(2);
    expect(report.dropped).toBe(1);
  });
});

describe('bad input is refused (fail closed), saying why', () => {
  const small = new Walker([personalData()], {
    maxBytes: 1000,
    maxDepth: 8,
    maxDecodedBytes: 100,
    maxFindings: 100,
  });

  it('more text than the limit', async () => {
    expect(await refusal(small.inspect({ text: 'x'.repeat(1001) }, '', 'the result'))).toMatch(
      /^the result holds more than 1000 bytes of text \(guardrails.inspection.max_bytes\)/,
    );
  });

  it('nesting deeper than the limit, without recursion however deep', async () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(await refusal(small.inspect(deep, '', 'the result'))).toMatch(
      /^the result nests objects and arrays deeper than 8 levels at \/0\/0\/0\/0\/0\/0\/0\/0/,
    );
  });

  it('more base64 text than the limit', async () => {
    const blob = {
      type: 'resource',
      resource: { uri: 'x', mimeType: 'text/plain', blob: b64('y'.repeat(200)) },
    };
    expect(await refusal(small.inspect({ content: [blob] }, '', 'the result'))).toMatch(
      /^the result holds more than 100 bytes of base64-encoded text \(at \/content\/0\/resource\/blob/,
    );
  });

  it('text that is not valid Unicode, and base64 text that is not valid UTF-8', async () => {
    expect(await refusal(walker.inspect({ text: 'a\ud800b' }, '', 'the result'))).toMatch(
      /not valid Unicode \(an unpaired surrogate\) at \/text/,
    );
    const bad = Buffer.concat([Buffer.from('text '), Buffer.from([0xc3, 0x28])]).toString('base64');
    expect(
      await refusal(
        walker.inspect({ resource: { mimeType: 'text/plain', blob: bad } }, '', 'the result'),
      ),
    ).toMatch(/base64 data at \/resource\/blob that reads as text but is not valid UTF-8/);
  });

  it('a detector that throws', async () => {
    const broken: TextDetector = {
      name: 'broken',
      scan: () => {
        throw new Error('out of cheese');
      },
    };
    expect(await refusal(new Walker([broken]).inspect({ a: 'hello' }, '', 'the result'))).toBe(
      'the broken detector failed on the result at /a (out of cheese); denied (fail closed)',
    );
  });
});

describe('the walk answers at once when it can', () => {
  const slow = (name: string, found: (text: string) => TextMatch[]): TextDetector => ({
    name,
    scan: (text) => new Promise((resolve) => setTimeout(() => resolve(found(text)), 1)),
  });
  const word =
    (detector: string, w: string) =>
    (text: string): TextMatch[] => {
      const at = text.indexOf(w);
      return at < 0
        ? []
        : [{ type: 'pii', detector, severity: 'low', offset: at, length: w.length }];
    };

  it('returns the report itself, not a promise, when every detector answers at once', () => {
    const report = walker.inspectNow(RESULT, '', 'the result');
    expect(report).not.toBeInstanceOf(Promise);
    expect((report as WalkReport).findings.map((f) => f.id)).toEqual(['f1', 'f2', 'f3', 'f4']);
    const clean = walker.inspectNow({ content: [{ type: 'text', text: 'nothing here' }] }, '', 'r');
    expect(clean).toEqual({ findings: [], dropped: 0, bytes: 16 });
  });

  it('keeps the order of texts and of detectors when one of them answers later', async () => {
    const mixed = new Walker([
      slow('later', word('later', 'apple')),
      { name: 'now', scan: word('now', 'pear') },
      slow('last', word('last', 'pear')),
    ]);
    const value = { a: 'a pear', b: 'no fruit', c: 'an apple and a pear' };
    const pending = mixed.inspectNow(value, '', 'the result');
    expect(pending).toBeInstanceOf(Promise);
    const report = await pending;
    expect(report.findings.map((f) => [f.id, f.pointer, f.detector, f.offset])).toEqual([
      ['f1', '/a', 'now', 2],
      ['f2', '/c', 'later', 3],
      ['f3', '/c', 'now', 15],
    ]);
    // The same as the same detectors all answering at once.
    const atOnce = new Walker([
      { name: 'later', scan: word('later', 'apple') },
      { name: 'now', scan: word('now', 'pear') },
      { name: 'last', scan: word('last', 'pear') },
    ]).inspectNow(value, '', 'the result');
    expect((atOnce as WalkReport).findings).toEqual(report.findings);
  });

  it('refuses at once what cannot be inspected, and later what a late detector failed on', async () => {
    expect(() => walker.inspectNow({ text: 'a\ud800b' }, '', 'the result')).toThrow(
      InspectionRefused,
    );
    const failing = new Walker([
      { name: 'fine', scan: () => [] },
      { name: 'late', scan: () => Promise.reject(new Error('gone away')) },
    ]);
    expect(await refusal(failing.inspect({ x: 'some text' }, '', 'the result'))).toBe(
      'the late detector failed on the result at /x (gone away); denied (fail closed)',
    );
  });

  it('leaves nothing of one walk in the next (the prescan is shared between texts)', () => {
    const secret = walker.inspectNow({ t: 'DB_PASSWORD=s3cr3t-Hunter2' }, '', 'r') as WalkReport;
    expect(secret.findings).toHaveLength(1);
    const clean = walker.inspectNow({ t: 'DB_HOST is the database host' }, '', 'r') as WalkReport;
    expect(clean.findings).toEqual([]);
  });
});

describe('redaction', () => {
  it('replaces the named findings in text and in base64 text, and whole strings by pointer', async () => {
    const report = await walker.inspect(RESULT, '', 'the result');
    const out = redact(
      RESULT,
      ['f1', 'f3', '/structuredContent/users/0/e~1mail'],
      report.findings,
    ) as typeof RESULT;
    expect(out.content[0]).toEqual({ type: 'text', text: 'owner: [REDACTED:pii]' });
    const blob = (out.content[1] as { resource: { blob: string } }).resource.blob;
    expect(Buffer.from(blob, 'base64').toString('utf8')).toBe('DB_PASSWORD=[REDACTED:secret]\n');
    expect(out.structuredContent.users[0]).toEqual({ 'e/mail': '[REDACTED]' });
    // Not named: left as it is. The original is not changed.
    expect(out.content[3]).toBe(RESULT.content[3]);
    expect(RESULT.content[0]).toEqual({ type: 'text', text: 'owner: alice@example.com' });
  });

  it('merges overlapping spans', () => {
    const text = 'a alice@example.com b';
    const findings = [
      {
        id: 'f1',
        type: 'pii',
        detector: 'x',
        severity: 'low' as const,
        pointer: '/t',
        excerpt: '',
        offset: 2,
        length: 10,
        encoding: 'text' as const,
      },
      {
        id: 'f2',
        type: 'pii',
        detector: 'y',
        severity: 'low' as const,
        pointer: '/t',
        excerpt: '',
        offset: 8,
        length: 11,
        encoding: 'text' as const,
      },
    ];
    expect(redact({ t: text }, ['f1', 'f2'], findings)).toEqual({
      t: 'a [REDACTED:pii][REDACTED:pii] b',
    });
  });

  it('refuses to redact what is not there', () => {
    expect(() => redact({ a: 'x' }, ['f9'], [])).toThrow(RedactionError);
    expect(() => redact({ a: 'x' }, ['/b'], [])).toThrow('/b is not in the result');
    expect(() => redact({ a: { b: 1 } }, ['/a'], [])).toThrow('/a is not a string');
  });
});
