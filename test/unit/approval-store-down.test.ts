// The hold-for-approval stage when the approvals store cannot be reached as the call asks
// for its approval: a real redis-server, stopped; the real desk, stage and decision log (a
// file). The call is denied, fail closed, with the store's own reason, and the refusal is
// in the decision log, linked to the call's decision. (A store lost while a call waits is
// tested end to end in test/e2e/approvals.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDecisionLog } from '../../src/audit/decision-log.js';
import { resolveApprovals, approvalsSchema } from '../../src/config/approvals.js';
import { CredentialBroker } from '../../src/credentials/broker.js';
import { ApprovalDesk } from '../../src/pipeline/approval-desk.js';
import { holdForApproval } from '../../src/pipeline/stages/approval.js';
import { issueCredential } from '../../src/pipeline/stages/credential.js';
import { NO_TYPED_OBLIGATIONS } from '../../src/policy/obligations.js';
import { RedisStore } from '../../src/sessions/redis-store.js';
import { Catalog } from '../../src/upstreams/catalog.js';
import { UpstreamRegistry } from '../../src/upstreams/registry.js';
import { silentLogger } from '../../src/util/logger.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { until } from '../support/until.js';
import { requestContext } from './support/context.js';

let redis: RedisServer;
let dir: string;

beforeAll(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'mcpgate-approval-store-down-'));
});

afterAll(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const { catalog } = Catalog.build([
  {
    server: 'filesystem',
    prefix: 'filesystem__',
    tools: [{ name: 'write_file', inputSchema: { type: 'object' } }],
    prompts: [],
    resources: [],
    templates: [],
  },
]);

describe('hold for approval with the approvals store down', () => {
  it('denies the call (fail closed) with the reason, and logs the refusal', async () => {
    const store = new RedisStore({ target: { kind: 'url', url: redis.url }, logger: silentLogger });
    const logFile = join(dir, 'decisions.jsonl');
    const decisionLog = createDecisionLog(
      [{ type: 'file', path: logFile }],
      { id: 'gw', version: '0' },
      { logger: silentLogger },
    );
    const broker = new CredentialBroker('gw', silentLogger);
    const registry = new UpstreamRegistry([], silentLogger, broker);
    const desk = new ApprovalDesk({
      approvals: store.approvals,
      config: resolveApprovals(approvalsSchema.parse(undefined), dir, []),
      decisionLog,
      decideAdmin: () => Promise.reject(new Error('nobody decides in this test')),
      gateway: { id: 'gw', version: '0' },
      consoleUrl: () => 'http://mcpgate.test/console',
      logger: silentLogger,
    });
    const stage = holdForApproval(desk, registry, issueCredential(registry, broker));

    const entry = catalog.tools.get('filesystem__write_file')!;
    const ctx = requestContext();
    ctx.target = { kind: 'tool', server: 'filesystem', name: 'write_file', id: entry.id, entry };
    ctx.args = { path: 'incidents/down.md', content: '# down' };
    ctx.decisionId = 'call-decision';
    const obligation = {
      reason: 'filesystem.write_file is destructive',
      approvers: { roles: ['mcpgate.approver'], groups: [] },
      self: false,
      timeout_s: 60,
    };
    ctx.obligations = { ...NO_TYPED_OBLIGATIONS, approval: obligation };

    try {
      await store.ready();
      await redis.stop();
      // As /readyz would show it: the store has tried again and found nothing on the port.
      await until(
        () => store.health().error?.endsWith('connection refused') === true,
        'the store to find Redis gone',
      );
      const reason = `session store (Redis at 127.0.0.1:${redis.port}) is unavailable: connection refused; the call needs approval and was denied (fail closed)`;
      expect(await stage.run(ctx)).toEqual({ deny: { code: 'store_unavailable', reason } });

      await decisionLog.close();
      const lines = readFileSync(logFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        path: 'mcpgate/approval',
        parent_decision_id: 'call-decision',
        result: { event: 'refused', reason },
        input: {
          approval: {
            tool: 'filesystem.write_file',
            session_id: 's',
            reason: obligation.reason,
            approvers: obligation.approvers,
          },
        },
      });
    } finally {
      await store.close();
      await decisionLog.close();
    }
  });
});
