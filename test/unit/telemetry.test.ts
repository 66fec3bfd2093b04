// The metric registry and the observe stages: children cached by label values, free labels
// bounded, counters mirrored from cumulative counts without double counting, the state read
// at scrape time visible in the same scrape, and a request's outcome, decision and denial
// code recorded by the observe stages around a real Chain. Trace context parsing too.
import { describe, expect, it } from '@jest/globals';
import { Chain, denyWith } from '../../src/pipeline/chain.js';
import { beginObservation, endObservation } from '../../src/pipeline/stages/observe.js';
import { measureUpstreamCall } from '../../src/pipeline/stages/observe-upstream.js';
import type { LocatedFinding } from '../../src/inspect/finding.js';
import { RpcError } from '../../src/mcp/jsonrpc/errors.js';
import { POLICY_DENIED } from '../../src/mcp/jsonrpc/codes.js';
import { deny, NO_OBLIGATIONS, type Decision } from '../../src/policy/decision.js';
import type { DecisionEvaluation } from '../../src/policy/decide.js';
import {
  BoundedLabel,
  GatewayMetrics,
  LabelledChildren,
  OTHER_LABEL_VALUE,
} from '../../src/telemetry/metrics.js';
import { carrierOf, traceparentOf } from '../../src/telemetry/tracing.js';
import { requestContext } from './support/context.js';

/** One sample line's value from the exposition text, or undefined. */
function sample(text: string, line: string): number | undefined {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

const allow: Decision = {
  allow: true,
  reasons: [],
  obligations: { ...NO_OBLIGATIONS, redact: [] },
};

function evaluation(decision: Decision, error?: string): DecisionEvaluation {
  return {
    decision,
    obligations: {} as DecisionEvaluation['obligations'],
    inputJson: '{}',
    revision: 'rev-1',
    evalNs: 40_000,
    engine: undefined,
    error,
  };
}

describe('metric registry', () => {
  it('hands out one child per label values, without building keys', () => {
    let made = 0;
    const children = new LabelledChildren((values) => ({ values, n: made++ }));
    const a = children.get('tools/call', 'lab', 'ok');
    expect(children.get('tools/call', 'lab', 'ok')).toBe(a);
    expect(children.get('tools/call', 'lab', 'denied')).not.toBe(a);
    expect(children.get('tools/call', 'other', 'ok').values).toEqual(['tools/call', 'other', 'ok']);
    expect(made).toBe(3);
  });

  it('renders a histogram as Prometheus reads it: cumulative buckets, +Inf, sum and count', async () => {
    const metrics = new GatewayMetrics({ processMetrics: false });
    const child = metrics.policyEvaluation('mcp/authz/decision');
    for (const seconds of [0.00002, 0.00002, 0.0003, 7]) child.observe(seconds);
    const text = await metrics.render();
    const series = (le: string) =>
      sample(
        text,
        `mcpgate_policy_evaluation_duration_seconds_bucket{path="mcp/authz/decision",le="${le}"}`,
      );
    expect(series('0.00001')).toBe(0);
    expect(series('0.000025')).toBe(2);
    expect(series('0.0005')).toBe(3);
    expect(series('0.05')).toBe(3);
    expect(series('+Inf')).toBe(4);
    expect(
      sample(text, 'mcpgate_policy_evaluation_duration_seconds_count{path="mcp/authz/decision"}'),
    ).toBe(4);
    expect(
      sample(text, 'mcpgate_policy_evaluation_duration_seconds_sum{path="mcp/authz/decision"}'),
    ).toBeCloseTo(7.00034, 8);
  });

  it('bounds a free label to its first values', () => {
    const label = new BoundedLabel(2);
    expect(label.value('a')).toBe('a');
    expect(label.value('b')).toBe('b');
    expect(label.value('c')).toBe(OTHER_LABEL_VALUE);
    expect(label.value('a')).toBe('a');
  });

  it('reads the state at scrape time before rendering, and mirrors counters by their increase', async () => {
    const metrics = new GatewayMetrics({ processMetrics: false });
    let open = 3;
    let refused = 5;
    metrics.onCollect(() => metrics.gauges.sessionsOpen.set(open));
    metrics.onCollect(() => metrics.mirrorCount(metrics.counters.decisionLogRefused, {}, refused));
    const first = await metrics.render();
    // The very first scrape already shows the state (not the one of the scrape before).
    expect(sample(first, 'mcpgate_sessions_open')).toBe(3);
    expect(sample(first, 'mcpgate_decision_log_refused_total')).toBe(5);
    open = 1;
    refused = 7;
    const second = await metrics.render();
    expect(sample(second, 'mcpgate_sessions_open')).toBe(1);
    expect(sample(second, 'mcpgate_decision_log_refused_total')).toBe(7);
    // No increase, no change.
    expect(sample(await metrics.render(), 'mcpgate_decision_log_refused_total')).toBe(7);
  });

  it('names every metric of the issue, with HELP and TYPE even before any sample', async () => {
    const text = await new GatewayMetrics({ processMetrics: false }).render();
    for (const name of [
      'mcp_server_operation_duration_seconds histogram',
      'mcp_client_operation_duration_seconds histogram',
      'mcp_server_session_duration_seconds histogram',
      'mcpgate_decisions_total counter',
      'mcpgate_policy_evaluation_duration_seconds histogram',
      'mcpgate_denials_total counter',
      'mcpgate_guardrail_findings_total counter',
      'mcpgate_tools gauge',
      'mcpgate_approvals_pending gauge',
      'mcpgate_approvals_decided_total counter',
      'mcpgate_sessions_open gauge',
      'mcpgate_upstream_up gauge',
      'mcpgate_upstream_restarts_total counter',
      'mcpgate_session_store_duration_seconds histogram',
      'mcpgate_session_store_errors_total counter',
      'mcpgate_decision_log_buffered_bytes gauge',
      'mcpgate_decision_log_dropped_total counter',
      'mcpgate_bundle_info gauge',
      'mcpgate_bundle_activation_timestamp_seconds gauge',
    ]) {
      expect(text).toContain(`# TYPE ${name}`);
    }
  });
});

describe('observe stages', () => {
  const observed = (metrics: GatewayMetrics, stages: ConstructorParameters<typeof Chain>[1]) =>
    new Chain(
      'tools/call',
      [beginObservation({ metrics }), ...stages, endObservation({ metrics })],
      (ctx) => {
        if (ctx.decision && !ctx.decision.allow) throw new RpcError(POLICY_DENIED, 'denied');
        return ctx.result;
      },
    );

  it('records an allowed call: its duration by method, upstream and outcome, and its decision', async () => {
    const metrics = new GatewayMetrics({ processMetrics: false });
    const ctx = requestContext('tools/call');
    ctx.target = { kind: 'tool', server: 'lab', name: 'echo', id: 'lab.echo', entry: {} as never };
    await observed(metrics, [
      {
        name: 'decide',
        when: 'allowed',
        run: (c) => {
          c.evaluation = evaluation(allow);
          c.decision = allow;
          c.result = { content: [], isError: true };
          return undefined;
        },
      },
    ]).run(ctx);
    const text = await metrics.render();
    expect(
      sample(
        text,
        'mcp_server_operation_duration_seconds_count{mcp_method_name="tools/call",upstream="lab",outcome="tool_error"}',
      ),
    ).toBe(1);
    expect(
      sample(text, 'mcpgate_decisions_total{path="mcp/authz/decision",result="allow",purpose="x"}'),
    ).toBe(1);
    expect(
      sample(text, 'mcpgate_policy_evaluation_duration_seconds_count{path="mcp/authz/decision"}'),
    ).toBe(1);
  });

  it('counts denials by their code: a stage after the policy, the policy, a failed evaluation', async () => {
    const metrics = new GatewayMetrics({ processMetrics: false });
    const decideThen = (decision: Decision, error?: string) => ({
      name: 'decide',
      when: 'allowed' as const,
      run: (c: ReturnType<typeof requestContext>) => {
        c.evaluation = evaluation(decision, error);
        c.decision = decision;
        return undefined;
      },
    });
    const rateLimited = {
      name: 'record',
      when: 'always' as const,
      run: () => denyWith('rate_limited', 'rate limit reached'),
    };
    await expect(
      observed(metrics, [decideThen(allow), rateLimited]).run(requestContext()),
    ).rejects.toThrow();
    await expect(
      observed(metrics, [decideThen(deny('no'))]).run(requestContext()),
    ).rejects.toThrow();
    await expect(
      observed(metrics, [decideThen(deny('broken'), 'trap')]).run(requestContext()),
    ).rejects.toThrow();
    const text = await metrics.render();
    for (const code of ['rate_limited', 'policy', 'policy_error']) {
      expect(
        sample(text, `mcpgate_denials_total{mcp_method_name="tools/call",reason_code="${code}"}`),
      ).toBe(1);
    }
    expect(
      sample(text, 'mcpgate_decisions_total{path="mcp/authz/decision",result="deny",purpose="x"}'),
    ).toBe(3);
  });

  it('counts guardrail findings by detector, in the arguments and in the result', async () => {
    const metrics = new GatewayMetrics({ processMetrics: false });
    const finding = (detector: string) => ({ detector }) as unknown as LocatedFinding;
    const ctx = requestContext('tools/call');
    ctx.argumentFindings = [finding('secrets.aws'), finding('pii.email')];
    await observed(metrics, [
      {
        name: 'inspect the result',
        when: 'allowed',
        run: (c) => {
          c.evaluation = evaluation(allow);
          c.decision = allow;
          c.resultInspection = { findings: [finding('pii.email')], facts: {} as never };
          return undefined;
        },
      },
    ]).run(ctx);
    const text = await metrics.render();
    expect(sample(text, 'mcpgate_guardrail_findings_total{detector="secrets.aws"}')).toBe(1);
    expect(sample(text, 'mcpgate_guardrail_findings_total{detector="pii.email"}')).toBe(2);
  });

  it('measures the upstream call by the task it is about, and an upstream down as an error', async () => {
    const metrics = new GatewayMetrics({ processMetrics: false });
    const target = {
      kind: 'tool',
      server: 'lab',
      name: 'echo',
      id: 'lab.echo',
      entry: {},
    } as const;
    const ctx = requestContext('tasks/result');
    ctx.task = { target } as unknown as NonNullable<typeof ctx.task>;
    const toTask = measureUpstreamCall(
      {
        name: 'forward to the task',
        when: 'allowed',
        run: (c) => {
          c.result = { content: [], isError: true };
          return undefined;
        },
      },
      { metrics },
    );
    await toTask.run(ctx);
    const down = measureUpstreamCall(
      { name: 'forward', when: 'allowed', run: () => ({ respond: { isError: true } }) },
      { metrics },
    );
    const call = requestContext('tools/call');
    call.target = { ...target, entry: {} as never };
    await down.run(call);
    const text = await metrics.render();
    const count = (method: string, outcome: string) =>
      sample(
        text,
        `mcp_client_operation_duration_seconds_count{mcp_method_name="${method}",upstream="lab",outcome="${outcome}"}`,
      );
    expect(count('tasks/result', 'tool_error')).toBe(1);
    expect(count('tools/call', 'error')).toBe(1);
  });

  it('records a stage that threw as an error, after the answer', async () => {
    const metrics = new GatewayMetrics({ processMetrics: false });
    const chain = observed(metrics, [
      {
        name: 'forward',
        when: 'allowed',
        run: () => {
          throw new Error('boom');
        },
      },
    ]);
    await expect(chain.run(requestContext('resources/read'))).rejects.toThrow('boom');
    expect(
      sample(
        await metrics.render(),
        'mcp_server_operation_duration_seconds_count{mcp_method_name="resources/read",upstream="",outcome="error"}',
      ),
    ).toBe(1);
  });
});

describe('trace context', () => {
  it('reads traceparent, tracestate and baggage from _meta or headers, and writes a traceparent', () => {
    expect(carrierOf(undefined)).toBeUndefined();
    expect(carrierOf({ tracestate: 'a=b' })).toBeUndefined();
    expect(carrierOf({ traceparent: 't', tracestate: 'a=b', baggage: 'k=v', other: 1 })).toEqual({
      traceparent: 't',
      tracestate: 'a=b',
      baggage: 'k=v',
    });
    // A header sent twice arrives as a list: not a trace context.
    expect(carrierOf({ traceparent: ['a', 'b'] })).toBeUndefined();
    expect(
      traceparentOf({
        traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
        spanId: '00f067aa0ba902b7',
        traceFlags: 1,
      }),
    ).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
  });
});
