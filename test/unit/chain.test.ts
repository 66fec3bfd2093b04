// The chain of stages: continue, deny and respond; which stages run after a deny; 'finally'
// stages after a throw; timings only when asked for; and the assembled chains in order.
import { describe, expect, it } from '@jest/globals';
import { parseConfig } from '../../src/config/load.js';
import { explainGateway } from '../../src/main/gateway.js';
import { Chain, denyWith, type Stage, type StageOutcome } from '../../src/pipeline/chain.js';
import type { RequestContext } from '../../src/pipeline/context.js';
import type { Decision } from '../../src/policy/decision.js';
import { silentLogger } from '../../src/util/logger.js';
import { requestContext } from './support/context.js';

const context = (): RequestContext => requestContext();

const ALLOW: Decision = {
  allow: true,
  reasons: ['granted'],
  obligations: {
    require_approval: null,
    rate_limit: null,
    credential: null,
    redact: [],
    terminate_session: true,
    session_ttl_s: null,
  },
};

/** A stage that notes its name in `ran` and answers `outcome`. */
function stage(
  ran: string[],
  name: string,
  when: Stage['when'],
  outcome: (ctx: RequestContext) => StageOutcome | Promise<StageOutcome> = () => undefined,
): Stage {
  return {
    name,
    when,
    run: (ctx) => {
      ran.push(name);
      return outcome(ctx);
    },
  };
}

const decide = (ran: string[]) =>
  stage(ran, 'decide', 'allowed', (ctx) => {
    ctx.decision = ALLOW;
    return undefined;
  });

describe('Chain', () => {
  it('runs every stage in order and renders the result', async () => {
    const ran: string[] = [];
    const chain = new Chain(
      'tools/call',
      [
        decide(ran),
        stage(ran, 'forward', 'allowed', async (ctx) => {
          await Promise.resolve();
          ctx.result = 'answer';
          return undefined;
        }),
        stage(ran, 'audit', 'always'),
      ],
      (ctx) => ctx.result,
    );
    await expect(chain.run(context())).resolves.toBe('answer');
    expect(ran).toEqual(['decide', 'forward', 'audit']);
  });

  it('after a deny, skips the stages that act on an allow but runs the ones that must see it', async () => {
    const ran: string[] = [];
    const ctx = context();
    const chain = new Chain(
      'tools/call',
      [
        decide(ran),
        stage(ran, 'credential', 'allowed', () =>
          denyWith('credential', 'no credential', { claimsChallenge: 'c' }),
        ),
        stage(ran, 'record', 'always'),
        stage(ran, 'forward', 'allowed'),
        stage(ran, 'audit', 'always'),
      ],
      (c) => c.decision,
    );
    const decision = (await chain.run(ctx)) as Decision;
    expect(ran).toEqual(['decide', 'credential', 'record', 'audit']);
    expect(decision.allow).toBe(false);
    expect(decision.reasons).toEqual(['no credential']);
    // The policy's obligations stay with the deny (terminate_session is still carried out).
    expect(decision.obligations.terminate_session).toBe(true);
    expect(ctx.denial).toEqual({
      reason: 'no credential',
      code: 'credential',
      claimsChallenge: 'c',
    });
  });

  it('stops at respond, and runs finally stages even when a stage throws', async () => {
    const ran: string[] = [];
    const responding = new Chain(
      'tools/list',
      [
        stage(ran, 'show', 'allowed', () => ({ respond: 'list' })),
        stage(ran, 'never', 'always'),
        stage(ran, 'terminate', 'finally'),
      ],
      (ctx) => ctx.result,
    );
    await expect(responding.run(context())).resolves.toBe('list');
    expect(ran).toEqual(['show', 'terminate']);

    ran.length = 0;
    const throwing = new Chain(
      'tools/call',
      [
        stage(ran, 'forward', 'allowed', () => Promise.reject(new Error('upstream broke'))),
        stage(ran, 'terminate', 'finally'),
      ],
      (ctx) => ctx.result,
    );
    await expect(throwing.run(context())).rejects.toThrow('upstream broke');
    expect(ran).toEqual(['forward', 'terminate']);
  });

  it('reads the clock only when a timer is given', async () => {
    const untimed = context();
    await new Chain('tools/call', [stage([], 'a', 'allowed')], () => undefined).run(untimed);
    expect(untimed.timings).toBeUndefined();

    const seen: Array<[string, string, number]> = [];
    const timed = context();
    const chain = new Chain(
      'tools/call',
      [stage([], 'a', 'allowed'), stage([], 'b', 'always')],
      () => undefined,
      (method, name, ns) => seen.push([method, name, ns]),
    );
    await chain.run(timed);
    expect(seen.map(([m, n]) => `${m} ${n}`)).toEqual(['tools/call a', 'tools/call b']);
    expect(timed.timings).toHaveLength(2);
    expect(seen.every(([, , ns]) => ns >= 0)).toBe(true);
  });
});

describe('the assembled chains (mcpgate start --explain)', () => {
  const config = parseConfig(
    {
      auth: { issuers: [{ profile: 'oidc', issuer: 'https://idp.example.com/' }] },
      policy: { bundle: 'policy/bundle.tar.gz' },
      upstreams: { fs: { transport: 'stdio', command: 'node' } },
    },
    '/srv/mcpgate/conf',
  );
  const text = explainGateway(config, silentLogger);

  it('prints tools/call in order, with the stages that also run on a deny marked', () => {
    const block = text.split('\n\n').find((b) => b.startsWith('tools/call\n'));
    expect(block).toBe(
      [
        'tools/call',
        '   1. resolve target',
        '   2. check a returned requestState (MRTR)  (also on a deny)',
        "   3. check the arguments (the tool's inputSchema)",
        '   4. inspect the arguments (guardrails)',
        '   5. build input',
        '   6. behaviour signals',
        '   7. decide (mcp/authz/decision)',
        '   8. step up when obliged (authenticate again)',
        '   9. limit on tasks per session',
        '  10. credential for this call',
        '  11. rate limit and record  (also on a deny)',
        '  12. decision log  (also on a deny)',
        '  13. alert when obliged  (also on a deny)',
        '  14. hold for human approval (require_approval)',
        '  15. throttle when obliged',
        '  16. request _meta for the upstream',
        '  17. forward to the upstream',
        '  18. ask a 2025-11-25 client, then retry (MRTR)',
        '  19. decide and pass an InputRequiredResult on (MRTR)',
        '  20. inspect the result (guardrails)',
        '  21. decide on the result (tools/result, resources/result, prompts/result)',
        '  22. decision log (the result decision)  (also on a deny)',
        '  23. sketch the labelled result (argument provenance)',
        '  24. record labels and finding counts in the session  (also on a deny)',
        '  25. namespace addresses in the result',
        '  26. bind the task to the session',
        '  27. check the result (outputSchema)',
        '  28. terminate the session when the policy says so  (after the answer, always)',
      ].join('\n'),
    );
  });

  it('prints session/open: the decision, then which instructions the session is shown', () => {
    const block = text.split('\n\n').find((b) => b.startsWith('session/open\n'));
    expect(block).toBe(
      [
        'session/open',
        '   1. build input',
        '   2. decide (mcp/authz/decision)',
        '   3. create the session',
        '   4. decision log  (also on a deny)',
        '   5. end a session whose opening was not recorded  (also on a deny)',
        '   6. decide (mcp/authz/visible)',
        '   7. decision log  (also on a deny)',
        '   8. combine the instructions the policy shows',
      ].join('\n'),
    );
  });

  it('prints what an upstream asks of a client: the session now, the request, the decision, the question', () => {
    const block = text.split('\n\n').find((b) => b.startsWith('roots/list\n'));
    expect(block).toBe(
      [
        'roots/list',
        '   1. the session is still open',
        '   2. check what the upstream asks',
        '   3. build input',
        '   4. decide (mcp/authz/decision)',
        '   5. obligations this request can carry out',
        '   6. decision log  (also on a deny)',
        '   7. answer with the configured roots',
        '   8. ask the client',
        '   9. terminate the session when the policy says so  (after the answer, always)',
      ].join('\n'),
    );
  });

  it('prints completion/complete: the decision, the call, then which values are shown', () => {
    const block = text.split('\n\n').find((b) => b.startsWith('completion/complete\n'));
    expect(block).toBe(
      [
        'completion/complete',
        '   1. resolve target',
        '   2. build input',
        '   3. decide (mcp/authz/decision)',
        '   4. credential for this call',
        '   5. rate limit and record  (also on a deny)',
        '   6. decision log  (also on a deny)',
        '   7. request _meta for the upstream',
        '   8. forward to the upstream',
        '   9. completion values for the policy',
        '  10. decide (mcp/authz/visible)',
        '  11. decision log  (also on a deny)',
        '  12. show visible completion values',
        '  13. terminate the session when the policy says so  (after the answer, always)',
      ].join('\n'),
    );
  });

  it('prints the delivery of a resource update: decided and logged before it is sent', () => {
    const block = text.split('\n\n').find((b) => b.startsWith('notifications/resources/updated\n'));
    expect(block).toBe(
      [
        'notifications/resources/updated',
        '   1. resolve target',
        '   2. build input',
        '   3. decide (mcp/authz/decision)',
        '   4. decision log  (also on a deny)',
        '   5. deliver the update to the session',
      ].join('\n'),
    );
  });

  it('prints tasks/result: no decision on the task, the result stages of the call that made it', () => {
    const block = text.split('\n\n').find((b) => b.startsWith('tasks/result\n'));
    expect(block).toBe(
      [
        'tasks/result',
        '   1. find the task in this session',
        '   2. credential for this call',
        '   3. request _meta for the upstream',
        '   4. forward to the upstream that runs the task',
        "   5. the creating call's input, for the result decision",
        '   6. inspect the result (guardrails)',
        '   7. decide on the result (tools/result, resources/result, prompts/result)',
        '   8. decision log (the result decision)  (also on a deny)',
        '   9. record labels and finding counts in the session  (also on a deny)',
        '  10. namespace addresses in the result',
        '  11. check the result (outputSchema)',
        '  12. terminate the session when the policy says so  (after the answer, always)',
      ].join('\n'),
    );
  });

  it('has a chain for every method it serves', () => {
    const methods = text.split('\n\n').map((b) => b.split('\n')[0]);
    expect(methods.sort()).toEqual(
      [
        'completion/complete',
        'notifications/resources/updated',
        'elicitation/create',
        'notifications/message',
        'roots/list',
        'sampling/createMessage',
        'prompts/get',
        'prompts/list',
        'resources/list',
        'resources/read',
        'resources/subscribe',
        'resources/templates/list',
        'resources/unsubscribe',
        'session/open',
        'tasks/cancel',
        'tasks/get',
        'tasks/list',
        'tasks/result',
        'tools/call',
        'tools/list',
      ].sort(),
    );
  });
});
