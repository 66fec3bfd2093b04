// Writes a run's results: latest.json (everything measured), latest.md (a readable report
// with the targets, tables and charts) and the SVG charts it links. Targets are read from
// the results and shown as pass/miss; nothing here asserts them.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { barChart, lineChart } from './svg.mjs';

const us = (v, digits = 0) => (v === null || v === undefined ? 'n/a' : `${fmt(v, digits)} µs`);
const ms = (v) =>
  v === null || v === undefined ? 'n/a' : `${fmt(v / 1000, v >= 10000 ? 0 : 2)} ms`;
const kb = (v) => (v === null || v === undefined ? 'n/a' : `${fmt(v / 1024, 1)} KB`);
const mb = (v) => (v === null || v === undefined ? 'n/a' : `${fmt(v / 1048576, 1)} MB`);
const pct = (v) => (v === null || v === undefined ? 'n/a' : `${fmt(v, 0)} %`);

function fmt(v, digits = 0) {
  if (v === null || v === undefined || Number.isNaN(v)) return 'n/a';
  return Number(v).toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function table(header, rows) {
  const line = (cells) =>
    `| ${cells.map((c) => String(c ?? '').replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The issue's targets, each with the measured value and pass/miss (never asserted). */
export function evaluateTargets(results) {
  const s = results.sections;
  const targets = [];
  const add = (what, goal, measured, pass, note = '') =>
    targets.push({
      what,
      goal,
      measured,
      result: pass === null ? 'not measured' : pass ? 'pass' : 'miss',
      note,
    });

  const signals = s.continuous?.perCall?.find((c) => c.sketches === 4);
  add(
    'Behaviour signals, all together (4 sketches), per call p50',
    '≤ 20 µs',
    signals ? `${fmt(signals.us.p50, 1)} µs` : 'n/a',
    signals ? signals.us.p50 <= 20 : null,
  );
  const idle = s.continuous?.memory?.find((m) => m.signals && m.sketches === 2);
  add(
    'Memory per idle session with the behaviour state and two sketches (memory store)',
    '≤ 10 KiB',
    idle ? `${fmt(idle.bytesPerSession)} B` : 'n/a',
    idle ? idle.bytesPerSession <= 10_240 : null,
  );

  const load1000 = s.trust?.load?.find((l) => l.tools === 1000);
  add(
    'Catalog load of 1,000 tools (fingerprint and scan), p50',
    '≤ 200 ms',
    load1000 ? `${fmt(load1000.ms.p50)} ms` : 'n/a',
    load1000 ? load1000.ms.p50 <= 200 : null,
  );

  const d50 = s.decision?.results?.find((r) => r.history === 50);
  add(
    'Decision latency p50, in-process, history 50',
    '≤ 50 µs',
    d50 ? us(d50.inProcessUs.p50) : 'n/a',
    d50 ? d50.inProcessUs.p50 <= 50 : null,
  );
  add(
    'Decision latency p99, in-process, history 50',
    '≤ 250 µs',
    d50 ? us(d50.inProcessUs.p99) : 'n/a',
    d50 ? d50.inProcessUs.p99 <= 250 : null,
  );
  add(
    'OPA sidecar / in-process at p50, history 50',
    '≥ 10x',
    d50?.ratio ? `${d50.ratio.p50}x` : 'n/a',
    d50?.ratio ? d50.ratio.p50 >= 10 : null,
  );

  const at1000 = s.overhead?.fixedRate?.find((r) => r.rate === 1000);
  const notSustained = (r) => {
    if (!r) return '';
    if (!r.directSustained) {
      return `the direct baseline did not keep up with 1,000 calls/s either (${fmt(r.direct.achievedRate)} calls/s completed): the client core is saturated`;
    }
    if (!r.mcpgateSustained) {
      return `mcpgate did not sustain 1,000 calls/s (${fmt(r.mcpgate.achievedRate)} calls/s completed, ${fmt(r.mcpgate.overload)} calls not sent, queueing latency included)`;
    }
    return '';
  };
  add(
    'Added latency p50 at 1,000 calls/s',
    '≤ 1 ms',
    at1000 ? ms(at1000.addedUs.p50) : 'n/a',
    at1000 ? at1000.mcpgateSustained && at1000.addedUs.p50 <= 1000 : null,
    notSustained(at1000),
  );
  add(
    'Added latency p99 at 1,000 calls/s',
    '≤ 3 ms',
    at1000 ? ms(at1000.addedUs.p99) : 'n/a',
    at1000 ? at1000.mcpgateSustained && at1000.addedUs.p99 <= 3000 : null,
    notSustained(at1000),
  );

  const mt = s.overhead?.maxThroughput;
  const best = mt
    ? [
        { label: '1 session', phase: mt.mcpgate1 },
        { label: `${s.overhead.sessions} sessions`, phase: mt.mcpgateMany },
      ].sort((a, b) => b.phase.throughput - a.phase.throughput)[0]
    : null;
  add(
    'Max sustained calls/s through one gateway process',
    '≥ 2,500 calls/s',
    best ? `${fmt(best.phase.throughput)} calls/s (${best.label})` : 'n/a',
    best ? best.phase.throughput >= 2500 && best.phase.errors === 0 : null,
    best && best.phase.cpu?.gateway !== undefined
      ? `gateway core at ${pct(best.phase.cpu.gateway)} CPU`
      : '',
  );

  const g = s.guardrails;
  const load = g?.loadAverage ? `load average ${g.loadAverage.before}–${g.loadAverage.after}` : '';
  const validation = g?.inProcess?.validation?.us;
  add(
    'Schema validation p50 per call (bench tool)',
    '≤ 5 µs',
    validation ? us(validation.p50, 2) : 'n/a',
    validation ? validation.p50 <= 5 : null,
    load,
  );
  for (const kind of ['prose', 'code']) {
    const at10k = g?.inProcess?.inspection?.[kind]?.find((x) => x.bytes === 10_240);
    add(
      `Inspection p50 of a 10 KB text result (${kind})`,
      '≤ 50 µs',
      at10k ? us(at10k.us.p50) : 'n/a',
      at10k ? at10k.us.p50 <= 50 : null,
      load,
    );
    const growth = linearity(g?.inProcess?.inspection?.[kind]);
    add(
      `Inspection growth from 10 KB to 1 MB (${kind}), µs per KB`,
      'no worse than linear (≤ 1.5x)',
      growth ? `${growth.from} → ${growth.to} µs/KB (${growth.ratio}x)` : 'n/a',
      growth ? growth.ratio <= 1.5 : null,
      load,
    );
  }
  const th = g?.throughput;
  add(
    'Throughput, guardrails on / off (same run)',
    '≥ 80 %',
    th
      ? `${Math.round(th.onOverOff * 100)} % (median of ${th.rounds.length} rounds: ${th.rounds.map((x) => Math.round(x.onOverOff * 100)).join(', ')} %)`
      : 'n/a',
    th ? th.onOverOff >= 0.8 : null,
    load,
  );

  fullpathTargets(s.fullpath, add);

  const mem = s.memory?.memoryStore;
  add(
    'Memory per idle session (memory store, gateway RSS)',
    '≤ 50 KB',
    mem ? kb(mem.bytesPerSession) : 'n/a',
    mem && mem.bytesPerSession !== null ? mem.bytesPerSession <= 50 * 1024 : null,
    mem?.marginalBytesPerSession !== null && mem?.marginalBytesPerSession !== undefined
      ? `marginal between the last two points: ${kb(mem.marginalBytesPerSession)}`
      : '',
  );
  return targets;
}

/** Issue 22's targets, read from the fullpath section (every round-2 capability on). */
function fullpathTargets(f, add) {
  const on = '(all on)';
  const load = f?.loadAverage ? `load average ${f.loadAverage.before}–${f.loadAverage.after}` : '';
  const max = f?.mcpgate?.max;
  add(
    `Max calls/s on one gateway core ${on}`,
    '≥ 5,000 calls/s',
    max ? `${fmt(max.throughput)} calls/s` : 'n/a',
    max ? max.throughput >= 5000 && max.errors === 0 : null,
    max?.cpu?.gateway !== undefined ? `gateway core at ${pct(max.cpu.gateway)} CPU; ${load}` : load,
  );
  add(
    `Max calls/s ${on} / direct, same run`,
    '≥ 0.75x',
    f?.ratio !== undefined && f?.ratio !== null
      ? `${fmt(max.throughput)} / ${fmt(f.direct.max.throughput)} calls/s (${f.ratio}x)`
      : 'n/a',
    f?.ratio !== undefined && f?.ratio !== null ? f.ratio >= 0.75 : null,
    f && f.direct.max.cpu?.loadgen >= 90 ? 'the direct run is bound by the client core' : '',
  );
  const rateNote = (which) => {
    if (!f) return '';
    const rate = f.rates[which];
    const key = which === 'low' ? 'Low' : 'High';
    if (!f.sustained[`mcpgate${key}`]) {
      const p = f.mcpgate[which];
      return `mcpgate did not sustain ${fmt(rate)} calls/s (${fmt(p.achievedRate)} completed, ${fmt(p.errors)} errors, ${fmt(p.overload)} not sent): queueing included`;
    }
    if (!f.sustained[`direct${key}`]) {
      return `the direct baseline did not sustain ${fmt(rate)} calls/s (${fmt(f.direct[which].achievedRate)} completed)`;
    }
    return load;
  };
  const added = (which, key, goalMs, label) => {
    const v = f?.[which === 'low' ? 'addedLowUs' : 'addedHighUs']?.[key];
    const rate = f ? fmt(f.rates[which]) : which === 'low' ? '1,000' : '3,000';
    add(
      `Added latency ${label} at ${rate} calls/s ${on}`,
      `≤ ${goalMs} ms`,
      v === undefined || v === null ? 'n/a' : ms(v),
      v === undefined || v === null
        ? null
        : f.sustained[`mcpgate${which === 'low' ? 'Low' : 'High'}`] && v <= goalMs * 1000,
      rateNote(which),
    );
  };
  added('low', 'p50', 0.3, 'p50');
  added('low', 'p99', 1, 'p99');
  add(
    `Sustains ${f ? fmt(f.rates.high) : '3,000'} calls/s ${on}`,
    'every call answered, at the rate',
    f ? `${fmt(f.mcpgate.high.achievedRate)} calls/s over ${fmt(f.soakS)} s` : 'n/a',
    f ? f.sustained.mcpgateHigh : null,
    rateNote('high'),
  );
  added('high', 'p99', 2, 'p99');
  added('high', 'p999', 5, 'p99.9');
  const d = f?.decision;
  for (const [key, goalUs] of [
    ['p50', 20],
    ['p99', 60],
  ]) {
    add(
      `Decision ${key}, in-process, history 50 (all-on bundle)`,
      `≤ ${goalUs} µs`,
      d ? us(d.inProcessUs[key], 1) : 'n/a',
      d ? d.inProcessUs[key] <= goalUs : null,
      load,
    );
  }
  const rss = f?.rss;
  add(
    `Gateway RSS at start ${on}`,
    '≤ 80 MB',
    rss ? mb(rss.startBytes) : 'n/a',
    rss?.startBytes ? rss.startBytes <= 80 * 1048576 : null,
    'idle, after ready',
  );
  const trend = rss?.underLoad;
  add(
    `RSS flat under load at ${f ? fmt(f.rates.high) : '3,000'} calls/s ${on}`,
    `slope over the second half ≤ ${trend?.flatMbPerMin ?? 1} MB/min, 10 minutes`,
    trend
      ? `${trend.slopeMbPerMin ?? 'n/a'} MB/min; ${mb(trend.firstBytes)} → ${mb(trend.lastBytes)}, max ${mb(trend.maxBytes)}`
      : 'n/a',
    trend ? trend.flat : null,
    [
      f && f.soakS < 600 ? `a ${fmt(f.soakS)} s run, not the target's 10 minutes` : '',
      f && !f.sustained.mcpgateHigh ? 'the rate was not sustained' : '',
    ]
      .filter(Boolean)
      .join('; '),
  );
  const idle = f?.idle;
  add(
    'Memory per idle session with labels and sketches (memory store)',
    '≤ 4 KB',
    idle?.bytesPerSession !== undefined && idle?.bytesPerSession !== null
      ? kb(idle.bytesPerSession)
      : 'n/a',
    idle?.bytesPerSession !== undefined && idle?.bytesPerSession !== null
      ? idle.bytesPerSession <= 4096
      : null,
    idle
      ? [
          `gateway RSS at ${idle.points.map((p) => fmt(p.sessions)).join(' / ')} sessions`,
          idle.marginalBytesPerSession !== null && idle.marginalBytesPerSession !== undefined
            ? `marginal between the last two points: ${kb(idle.marginalBytesPerSession)}`
            : '',
          (idle.decisionLog?.sessionLabels ?? []).length === 0
            ? 'no session label seen in the decision log'
            : '',
          idle.decisionLog && idle.decisionLog.argsFromResults === null
            ? 'no sketch seen in the decision log (behaviour.args_from_results absent on the echo of the sketched text): the sessions may hold no sketch'
            : '',
        ]
          .filter(Boolean)
          .join('; ')
      : '',
  );
}

/**
 * Issue 22's figures for agentgateway (and mcpgate's main of December 2026), measured on
 * this machine before this bench section existed: quoted, never measured by this run.
 */
const ISSUE22_REFERENCE = {
  source: 'issue 22 (gateway pinned to one core, same echo call, 32 sessions)',
  columns: [
    {
      name: 'agentgateway JWT + CEL',
      max: '4,523',
      at1000: '+0.28 / +0.55 ms',
      at3000: '+0.54 / +1.59 ms',
      cpu: '215–221 µs',
      rss: '31 / 52 MB',
    },
    {
      name: 'agentgateway, no auth',
      max: '7,820 (client core saturated)',
      at1000: '+0.22 / +1.09 ms',
      at3000: '+0.48 / +1.38 ms',
      cpu: '121–127 µs',
      rss: '27 / 49 MB',
    },
    {
      name: 'mcpgate main, Dec 2026 (default capabilities)',
      max: '3,570',
      at1000: '+0.58 / +2.43 ms',
      at3000: '+1.16 / +28.4 ms (p99.9 459 ms)',
      cpu: '280 µs',
      rss: '105 / 170–220 MB',
    },
  ],
};

function fullpathMd(f) {
  const ref = ISSUE22_REFERENCE.columns;
  const signed = (v) => `${v < 0 ? '−' : '+'}${fmt(Math.abs(v) / 1000, 2)}`;
  const addedMs = (a, keys) =>
    `${keys.map((k) => (a?.[k] === null || a?.[k] === undefined ? 'n/a' : signed(a[k]))).join(' / ')} ms`;
  const absMs = (l, keys) =>
    keys
      .map((k) => (l?.[k] === null || l?.[k] === undefined ? 'n/a' : fmt(l[k] / 1000, 2)))
      .join(' / ') + ' ms';
  const sus = (ok) => (ok ? '' : ' (not sustained)');
  const gcAll = f.gc?.all;
  const trend = f.rss?.underLoad;
  const peerRows = [
    [
      'max calls/s on one core',
      fmt(f.mcpgate.max.throughput),
      fmt(f.direct.max.throughput),
      ...ref.map((c) => c.max),
    ],
    ['mcpgate / direct', `${f.ratio}x`, '1x', 'n/a', 'n/a', 'n/a'],
    [
      `added latency at ${fmt(f.rates.low)} calls/s, p50 / p99 (direct: its own latency)`,
      addedMs(f.addedLowUs, ['p50', 'p99']) + sus(f.sustained.mcpgateLow),
      absMs(f.direct.low.latencyUs, ['p50', 'p99']) + sus(f.sustained.directLow),
      ...ref.map((c) => c.at1000),
    ],
    [
      `added latency at ${fmt(f.rates.high)} calls/s, p50 / p99 / p99.9 (direct: its own latency)`,
      addedMs(f.addedHighUs, ['p50', 'p99', 'p999']) + sus(f.sustained.mcpgateHigh),
      absMs(f.direct.high.latencyUs, ['p50', 'p99', 'p999']) + sus(f.sustained.directHigh),
      ...ref.map((c) => c.at3000),
    ],
    ['gateway CPU per call at max', us(f.cpuUsPerCall.mcpgate), 'n/a', ...ref.map((c) => c.cpu)],
    [
      'RSS at start / after load',
      `${mb(f.rss.startBytes)} / ${mb(f.rss.afterBytes)}`,
      'n/a',
      ...ref.map((c) => c.rss),
    ],
    [
      `GC pauses at ${fmt(f.rates.high)} calls/s: count, p99, max`,
      gcAll ? `${fmt(gcAll.count)}, ${fmt(gcAll.p99Ms, 2)} ms, ${fmt(gcAll.maxMs, 2)} ms` : 'n/a',
      'n/a',
      'not measured',
      'not measured',
      'not measured',
    ],
    [
      `RSS trend under ${fmt(f.rates.high)} calls/s (second half)`,
      trend ? `${trend.slopeMbPerMin} MB/min over ${fmt(f.soakS)} s` : 'n/a',
      'n/a',
      'not measured',
      'not measured',
      'not measured',
    ],
    [
      'memory per idle session with labels and sketches',
      f.idle?.bytesPerSession !== null ? kb(f.idle.bytesPerSession) : 'n/a',
      'n/a',
      'n/a',
      'n/a',
      'not measured',
    ],
    [
      'decision p50 / p99, history 50',
      f.decision
        ? `${us(f.decision.inProcessUs.p50, 1)} / ${us(f.decision.inProcessUs.p99, 1)}`
        : 'n/a',
      'n/a',
      'CEL 10–20 µs (issue)',
      'n/a',
      'n/a',
    ],
  ];
  const phaseRows = ['max', 'low', 'high'].flatMap((which) =>
    ['direct', 'mcpgate'].map((side) => {
      const p = f[side][which];
      return [
        side,
        p.mode === 'closed' ? `closed, ${fmt(p.concurrency)} in flight` : `${fmt(p.rate)} calls/s`,
        fmt(p.durationS, 1),
        p.mode === 'closed' ? fmt(p.throughput) : fmt(p.achievedRate),
        fmt(p.errors),
        absMs(p.latencyUs, ['p50', 'p99', 'p999']),
        phaseCpu(p, ['gateway', 'upstream', 'loadgen', 'other']),
      ];
    }),
  );
  const gcRows = f.gc?.all
    ? [['all', f.gc.all], ...Object.entries(f.gc.byKind)].map(([kind, g]) => [
        kind,
        fmt(g.count),
        `${fmt(g.p50Ms, 3)} ms`,
        `${fmt(g.p99Ms, 3)} ms`,
        `${fmt(g.maxMs, 3)} ms`,
        `${fmt(g.totalMs, 1)} ms`,
      ])
    : [];
  const dl = f.decisionLog;
  const idleLog = f.idle?.decisionLog;
  return [
    'mcpgate with every round-2 capability on (argument schema checks, result inspection, the tools pinned, ' +
      'flow labels, behaviour rules on for code-review, metrics, decision log, tracing at 1 %), next to the upstream ' +
      `called directly **in this run**, ${fmt(f.sessions)} sessions, the gateway pinned to one core.`,
    '',
    `> The agentgateway and mcpgate-main columns are **reference figures quoted from ${ISSUE22_REFERENCE.source}**, ` +
      'measured on this machine earlier, **not in this run**: compare them with care, a busy machine moves every figure.',
    '',
    '### Peer',
    '',
    table(
      [
        '',
        'mcpgate, all on (this run)',
        'direct (this run)',
        ...ref.map((c) => `${c.name} (quoted)`),
      ],
      peerRows,
    ),
    '',
    '### Load phases',
    '',
    table(
      [
        'Target',
        'Phase',
        'Seconds',
        'Calls/s',
        'Errors',
        'Latency p50 / p99 / p99.9',
        'CPU gateway / upstream / loadgen / other',
      ],
      phaseRows,
    ),
    '',
    `### GC pauses of the gateway at ${fmt(f.rates.high)} calls/s`,
    '',
    f.gc?.error
      ? f.gc.error
      : `Over ${fmt(f.gc.windowS, 1)} s: ${fmt(f.gc.pausedShare, 2)} % of the time in GC pauses.\n\n` +
        table(['Kind', 'Count', 'p50', 'p99', 'Max', 'Total'], gcRows),
    '',
    '### Memory',
    '',
    table(
      ['', ''],
      [
        ['RSS at start (idle, after ready)', mb(f.rss.startBytes)],
        ['RSS after load', mb(f.rss.afterBytes)],
        [
          `RSS under ${fmt(f.rates.high)} calls/s: first / last / max`,
          trend
            ? `${mb(trend.firstBytes)} / ${mb(trend.lastBytes)} / ${mb(trend.maxBytes)} (${fmt(trend.samples)} samples)`
            : 'n/a',
        ],
        ['RSS slope over the second half', trend ? `${trend.slopeMbPerMin} MB/min` : 'n/a'],
        [
          'Idle sessions that got a pii result (label; sketch: see the decision-log table): RSS',
          f.idle
            ? f.idle.points.map((p) => `${fmt(p.sessions)}: ${mb(p.rssBytes)}`).join(', ')
            : 'n/a',
        ],
      ],
    ),
    '',
    '### What the decision log shows',
    '',
    table(
      ['', 'Load gateway (echo)', 'Idle-session gateway (echo after contact)'],
      [
        ['input.tool.pin.state', dl?.pinState ?? 'n/a', idleLog?.pinState ?? 'n/a'],
        [
          'input.behaviour present',
          String(dl?.behaviourPresent ?? 'n/a'),
          String(idleLog?.behaviourPresent ?? 'n/a'),
        ],
        [
          'input.session.labels',
          (dl?.sessionLabels ?? []).join(', ') || '–',
          (idleLog?.sessionLabels ?? []).join(', ') || '–',
        ],
        [
          'behaviour.args_from_results (a sketch matched)',
          dl?.argsFromResults ? JSON.stringify(dl.argsFromResults) : '–',
          idleLog?.argsFromResults ? JSON.stringify(idleLog.argsFromResults) : '–',
        ],
      ],
    ),
    '',
    `Pinned: ${(f.policy?.pinnedTools ?? []).join(', ')}; behaviour rules on for ${(f.policy?.behaviourPurposes ?? []).join(', ')}, ` +
      'their call-rate and loop thresholds raised for the load generator (rules evaluated, not tripped); ' +
      `${fmt(f.otlpExports)} OTLP export requests received.`,
  ].join('\n');
}

function charts(results) {
  const s = results.sections;
  const out = {};
  if (s.decision?.results) {
    const r = s.decision.results;
    out['decision-latency.svg'] = barChart({
      title: 'Decision latency: in-process wasm vs OPA server (REST, keep-alive)',
      subtitle: 'mcp/authz/decision, code-review inputs; lower is better',
      categories: r.map((x) => `history ${x.history}`),
      series: [
        { name: 'in-process p50', values: r.map((x) => x.inProcessUs.p50) },
        { name: 'in-process p99', values: r.map((x) => x.inProcessUs.p99) },
        { name: 'OPA server p50', values: r.map((x) => x.sidecarUs?.p50 ?? null) },
        { name: 'OPA server p99', values: r.map((x) => x.sidecarUs?.p99 ?? null) },
      ],
      unit: 'µs',
      log: true,
    });
  }
  if (s.overhead?.fixedRate) {
    const f = s.overhead.fixedRate;
    out['overhead-latency.svg'] = barChart({
      title: 'tools/call latency: direct vs through mcpgate (open loop)',
      subtitle: `${s.overhead.sessions} sessions, latency from each call's due time; lower is better`,
      categories: f.map(
        (x) => `${fmt(x.rate)} calls/s${x.mcpgateSustained ? '' : ' (not sustained)'}`,
      ),
      series: [
        { name: 'direct p50', values: f.map((x) => x.direct.latencyUs.p50 / 1000) },
        { name: 'mcpgate p50', values: f.map((x) => x.mcpgate.latencyUs.p50 / 1000) },
        { name: 'direct p99', values: f.map((x) => x.direct.latencyUs.p99 / 1000) },
        { name: 'mcpgate p99', values: f.map((x) => x.mcpgate.latencyUs.p99 / 1000) },
      ],
      unit: 'ms',
      log: true,
    });
    const mt = s.overhead.maxThroughput;
    const peer = s.peer?.status === 'ran' ? s.peer : null;
    out['throughput.svg'] = barChart({
      title: 'Max calls/s (closed loop)',
      subtitle: `${mt.concurrency} calls in flight; gateway pinned to one core; higher is better`,
      categories: ['1 session', `${s.overhead.sessions} sessions`],
      series: [
        { name: 'direct to upstream', values: [mt.direct1.throughput, mt.directMany.throughput] },
        { name: 'through mcpgate', values: [mt.mcpgate1.throughput, mt.mcpgateMany.throughput] },
        {
          name: peer ? `peer: ${peer.peer} (peer section run)` : 'peer gateway (not run)',
          values: [peer ? peer.throughput1 : null, peer ? peer.throughputMany : null],
        },
      ],
      unit: 'calls/s',
    });
  }
  if (s.memory?.memoryStore) {
    const m = s.memory.memoryStore.points;
    const r = s.memory.redisStore?.points ?? [];
    const xs = [...new Set([...m, ...r].map((p) => p.sessions))].sort((a, b) => a - b);
    const at = (points, x, key) => points.find((p) => p.sessions === x)?.[key] ?? null;
    out['memory.svg'] = lineChart({
      title: 'Memory with idle sessions',
      subtitle: 'gateway RSS (VmRSS) and Redis used_memory',
      x: xs.map((x) => fmt(x)),
      xValues: xs,
      xLabel: 'idle sessions',
      series: [
        {
          name: 'gateway RSS, memory store',
          values: xs.map((x) => (at(m, x, 'rssBytes') ?? NaN) / 1048576),
        },
        {
          name: 'gateway RSS, redis store',
          values: xs.map((x) => (at(r, x, 'rssBytes') ?? NaN) / 1048576),
        },
        {
          name: 'redis used_memory',
          values: xs.map((x) => (at(r, x, 'redisUsedBytes') ?? NaN) / 1048576),
        },
      ],
      unit: 'MB',
    });
  }
  for (const [key, label, xName] of [
    ['history', 'session history (history_limit)', 'historyLimit'],
    ['catalog', 'catalog size (tools)', 'tools'],
  ]) {
    const points = s.scaling?.[key];
    if (!points || points.length === 0) continue;
    out[`scaling-${key}-latency.svg`] = lineChart({
      title: `Added latency vs ${label}`,
      subtitle: `mcpgate minus direct at ${fmt(s.scaling.rate)} calls/s (open loop)`,
      x: points.map((p) => fmt(p[xName])),
      xLabel: label,
      series: [
        { name: 'added p50', values: points.map((p) => (p.addedUs.p50 ?? NaN) / 1000) },
        { name: 'added p90', values: points.map((p) => (p.addedUs.p90 ?? NaN) / 1000) },
        { name: 'added p99', values: points.map((p) => (p.addedUs.p99 ?? NaN) / 1000) },
      ],
      unit: 'ms',
    });
    out[`scaling-${key}-throughput.svg`] = lineChart({
      title: `Max calls/s vs ${label}`,
      subtitle: 'closed loop, one gateway process',
      x: points.map((p) => fmt(p[xName])),
      xLabel: label,
      series: [
        { name: 'through mcpgate', values: points.map((p) => p.throughput) },
        { name: 'direct to upstream', values: points.map((p) => p.directThroughput) },
      ],
      unit: 'calls/s',
    });
  }
  return out;
}

/** CPU used outside the bench's processes during the measured windows (% of one core). */
export function otherLoad(results) {
  const phases = [];
  const walk = (value) => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') {
      if (value.cpu && typeof value.cpu.other === 'number') phases.push(value.cpu.other);
      for (const v of Object.values(value)) if (v !== value.cpu) walk(v);
    }
  };
  walk(results.sections);
  if (phases.length === 0) return null;
  return {
    windows: phases.length,
    max: Math.max(...phases),
    mean: Math.round((phases.reduce((a, b) => a + b, 0) / phases.length) * 10) / 10,
  };
}

/** Above this much other CPU (% of one core) in a window, the run is flagged as disturbed. */
const DISTURBED_PCT = 25;

function machineSection(results) {
  const m = results.machine;
  const other = otherLoad(results);
  return table(
    ['', ''],
    [
      ['CPU', `${m.cpuModel}, ${m.cores} cores${m.virtualised ? ' (virtual machine)' : ''}`],
      ['Memory', mb(m.memoryBytes)],
      ['OS', `${m.os ?? m.platform}, kernel ${m.kernel}`],
      ['Node.js', m.node],
      ['OPA', m.opa ?? 'n/a'],
      ['Redis', m.redis ?? 'n/a'],
      ['Commit', m.commit ?? 'n/a'],
      [
        'Pinning',
        m.pinning.tool
          ? `taskset: gateway on ${m.pinning.gateway}; ${m.pinning.client}`
          : m.pinning.note,
      ],
      [
        'Other CPU load',
        other
          ? `${pct(other.mean)} of one core on average, ${pct(other.max)} at most, over ${other.windows} measured windows ` +
            '(machine busy time not spent in the gateway, upstream or load generator: kernel network work and any other process)' +
            (results.disturbedRetries?.length
              ? `; ${results.disturbedRetries.length} load job(s) were run a second time because of outside load, the quieter run kept`
              : '')
          : 'n/a',
      ],
    ],
  );
}

function decisionMd(d) {
  const rows = d.results.map((r) => [
    r.history,
    fmt(r.inputBytesMean),
    us(r.inProcessUs.p50),
    us(r.inProcessUs.p90),
    us(r.inProcessUs.p99),
    us(r.sidecarUs?.p50),
    us(r.sidecarUs?.p90),
    us(r.sidecarUs?.p99),
    r.ratio ? `${r.ratio.p50}x / ${r.ratio.p99}x` : 'n/a',
    r.agreement ? `${r.agreement.same}/${r.agreement.of}` : 'n/a',
  ]);
  return [
    `${d.cases} inputs (every \`mcp/authz/decision\` case of the code-review purpose in \`rego/tests/cases.json\`), ` +
      `${fmt(d.samples.wasmSamples)} in-process and ${fmt(d.samples.opaSamples)} OPA-server samples per history size, ` +
      `policy revision \`${d.revision}\`.`,
    '',
    table(
      [
        'History',
        'Input (bytes)',
        'In-process p50',
        'p90',
        'p99',
        'OPA server p50',
        'p90',
        'p99',
        'Ratio p50 / p99',
        'Same allow',
      ],
      rows,
    ),
    '',
    '![Decision latency](decision-latency.svg)',
  ].join('\n');
}

function phaseCpu(phase, keys) {
  return keys.map((k) => pct(phase.cpu?.[k])).join(' / ');
}

/** Gateway CPU time per completed call (ms): what one core's capacity divides into. */
function cpuPerCall(phase, rate) {
  const busy = phase.cpu?.gateway;
  if (busy === null || busy === undefined || !rate) return 'n/a';
  return `${fmt((busy / 100 / rate) * 1000, 2)} ms`;
}

function telemetryMd(t) {
  const target = (row) =>
    row.config.includes('100 %')
      ? `>= ${t.targets.tracing100 * 100} %`
      : row.config.includes('1 %')
        ? `>= ${t.targets.tracing1 * 100} %`
        : '';
  return [
    "Throughput with the gateway's metrics and traces on, against the same gateway with both off, in the same run.",
    '',
    table(
      [
        'Configuration',
        'Calls/s',
        'Rounds',
        'Of off',
        'Gateway CPU µs/call (rounds)',
        'Of off by CPU',
        'Target',
        'p50 / p99 ms',
      ],
      t.rows.map((r) => [
        r.config,
        fmt(r.throughput),
        r.rounds.map((v) => fmt(v)).join(', '),
        `${(r.ofOff * 100).toFixed(1)} %`,
        `${fmt(r.cpuUsPerCall)} (${(r.cpuRounds ?? []).map((v) => fmt(v)).join(', ')})`,
        r.cpuOfOff === undefined ? 'n/a' : `${(r.cpuOfOff * 100).toFixed(1)} %`,
        target(r),
        `${ms(r.phase.latencyUs.p50)} / ${ms(r.phase.latencyUs.p99)}`,
      ]),
    ),
  ].join('\n');
}

function overheadMd(o) {
  const fixed = o.fixedRate.map((r) => [
    fmt(r.rate),
    `${ms(r.direct.latencyUs.p50)} / ${ms(r.direct.latencyUs.p99)}`,
    `${ms(r.mcpgate.latencyUs.p50)} / ${ms(r.mcpgate.latencyUs.p99)}`,
    `${ms(r.addedUs.p50)} / ${ms(r.addedUs.p99)}`,
    `${fmt(r.direct.achievedRate)} / ${fmt(r.mcpgate.achievedRate)}`,
    `${r.directSustained ? 'yes' : 'no'} / ${r.mcpgateSustained ? 'yes' : 'no'}`,
    phaseCpu(r.mcpgate, ['gateway', 'upstream', 'loadgen']),
    cpuPerCall(r.mcpgate, r.mcpgate.achievedRate),
  ]);
  const mt = o.maxThroughput;
  const max = [
    ['1', mt.direct1, mt.mcpgate1],
    [String(o.sessions), mt.directMany, mt.mcpgateMany],
  ].map(([n, d, g]) => [
    n,
    fmt(d.throughput),
    fmt(g.throughput),
    `${ms(g.latencyUs.p50)} / ${ms(g.latencyUs.p99)}`,
    g.errors,
    phaseCpu(g, ['gateway', 'upstream', 'loadgen']),
    cpuPerCall(g, g.throughput),
    phaseCpu(d, ['upstream', 'loadgen']),
  ]);
  return [
    `Policy: ${o.policy}. ${o.sessions} sessions for the fixed rates, each session's history filled to the limit ` +
      `(${o.warmCallsPerSession} calls) first. Latency is measured from each call's due time (open loop).`,
    '',
    '### Fixed rates',
    '',
    table(
      [
        'Rate (calls/s)',
        'Direct p50 / p99',
        'mcpgate p50 / p99',
        'Added p50 / p99',
        'Completed calls/s direct / mcpgate',
        'Sustained direct / mcpgate',
        'CPU gateway / upstream / load gen',
        'Gateway CPU per call',
      ],
      fixed,
    ),
    '',
    '![Latency direct vs mcpgate](overhead-latency.svg)',
    '',
    '### Max throughput (closed loop)',
    '',
    table(
      [
        'Sessions',
        'Direct calls/s',
        'mcpgate calls/s',
        'mcpgate p50 / p99',
        'Errors',
        'CPU gateway / upstream / load gen',
        'Gateway CPU per call',
        'CPU direct run: upstream / load gen',
      ],
      max,
    ),
    '',
    `${mt.concurrency} calls in flight in each run. CPU is % of one core over the measured window ` +
      '(gateway on its own core; upstream and load generator share the other). ' +
      `Client: ${o.client ?? 'sdk'} (see Method).`,
    '',
    ...sdkReferenceMd(o.sdkClientReference),
    '![Max calls/s](throughput.svg)',
  ].join('\n');
}

/** The same closed loop with the SDK's Client (1 session), for comparison with older runs. */
function sdkReferenceMd(ref) {
  if (!ref?.direct || !ref?.mcpgate) return [];
  return [
    "Reference, the SDK's Client (Client + StreamableHTTPClientTransport) instead of the lean client, " +
      `${ref.sessions} session:`,
    '',
    table(
      [
        'Client',
        'Direct calls/s',
        'mcpgate calls/s',
        'mcpgate p50 / p99',
        'Errors',
        'CPU gateway / upstream / load gen',
        'CPU direct run: upstream / load gen',
      ],
      [
        [
          'SDK',
          fmt(ref.direct.throughput),
          fmt(ref.mcpgate.throughput),
          `${ms(ref.mcpgate.latencyUs.p50)} / ${ms(ref.mcpgate.latencyUs.p99)}`,
          ref.mcpgate.errors + ref.direct.errors,
          phaseCpu(ref.mcpgate, ['gateway', 'upstream', 'loadgen']),
          phaseCpu(ref.direct, ['upstream', 'loadgen']),
        ],
      ],
    ),
    '',
  ];
}

function attemptsTable(attempts) {
  return table(
    ['Candidate', 'Command', 'Exit', 'Seconds', 'Output'],
    attempts.map((a) => [
      a.name,
      `\`${a.command}\``,
      a.timedOut ? 'timed out' : a.exitCode,
      a.seconds,
      (a.output ?? '').replaceAll('\n', ' ').replaceAll('|', '\\|'),
    ]),
  );
}

function peerMd(p) {
  const lines = [`**${p.status}**: ${p.reason}`];
  if (p.status === 'ran') {
    const rows = p.fixedRate.map((r) => [
      fmt(r.rate),
      `${ms(r.direct.latencyUs.p50)} / ${ms(r.direct.latencyUs.p99)}`,
      `${ms(r.mcpgate.latencyUs.p50)} / ${ms(r.mcpgate.latencyUs.p99)}`,
      `${ms(r.peer.latencyUs.p50)} / ${ms(r.peer.latencyUs.p99)}`,
      `${ms(r.mcpgateAddedUs.p50)} / ${ms(r.mcpgateAddedUs.p99)}`,
      `${ms(r.peerAddedUs.p50)} / ${ms(r.peerAddedUs.p99)}`,
      `${fmt(r.mcpgate.achievedRate)} / ${fmt(r.peer.achievedRate)}`,
      `${r.mcpgateSustained ? 'yes' : 'no'} / ${r.peerSustained ? 'yes' : 'no'}`,
      `${pct(r.mcpgate.cpu?.gateway)} / ${pct(r.peer.cpu?.gateway)}`,
    ]);
    const mt = p.maxThroughput;
    const max = [
      ['1', mt.direct1, mt.mcpgate1, mt.peer1],
      [String(p.sessions), mt.directMany, mt.mcpgateMany, mt.peerMany],
    ].map(([n, d, g, x]) => [
      n,
      fmt(d.throughput),
      fmt(g.throughput),
      fmt(x.throughput),
      `${ms(g.latencyUs.p50)} / ${ms(g.latencyUs.p99)}`,
      `${ms(x.latencyUs.p50)} / ${ms(x.latencyUs.p99)}`,
      `${g.errors} / ${x.errors}`,
      `${pct(g.cpu?.gateway)} / ${pct(x.cpu?.gateway)}`,
    ]);
    lines.push(
      '',
      `${p.method}.`,
      '',
      `Fixed rates, ${p.sessions} sessions (latency from each call's due time, open loop):`,
      '',
      table(
        [
          'Rate (calls/s)',
          'Direct p50 / p99',
          'mcpgate p50 / p99',
          'Peer p50 / p99',
          'Added mcpgate p50 / p99',
          'Added peer p50 / p99',
          'Completed calls/s mcpgate / peer',
          'Sustained mcpgate / peer',
          'Gateway CPU mcpgate / peer',
        ],
        rows,
      ),
      '',
      `Max throughput (closed loop, ${mt.concurrency} calls in flight):`,
      '',
      table(
        [
          'Sessions',
          'Direct calls/s',
          'mcpgate calls/s',
          'Peer calls/s',
          'mcpgate p50 / p99',
          'Peer p50 / p99',
          'Errors mcpgate / peer',
          'Gateway CPU mcpgate / peer',
        ],
        max,
      ),
    );
  }
  if (p.plugins) lines.push('', ...pluginsMd(p, p.plugins));
  if (p.attempts?.length) {
    lines.push('', 'Install attempts:', '', attemptsTable(p.attempts));
  }
  return lines.join('\n');
}

/** ContextForge with its PII filter and secrets detection plugins, next to mcpgate. */
function pluginsMd(p, g) {
  const head = `**With guardrails**: ContextForge with its plugins (${g.plugins.join(', ')})`;
  if (g.status !== 'ran') return [`${head}: not run. ${g.reason}`];
  const mt = p.maxThroughput;
  return [
    `${head}; ${g.config}. mcpgate's columns are its runs above, guardrails on (its default). ` +
      'Before measuring, the plugins were checked: an e-mail address echoed back came back masked, ' +
      'and an AWS access key id in the arguments was refused.',
    '',
    table(
      ['', 'mcpgate (guardrails on)', 'ContextForge + plugins'],
      [
        ['Max calls/s, 1 session', fmt(mt.mcpgate1.throughput), fmt(g.max1.throughput)],
        [
          `Max calls/s, ${p.sessions} sessions`,
          fmt(mt.mcpgateMany.throughput),
          fmt(g.maxMany.throughput),
        ],
        ...g.fixedRate.map((r) => {
          const m = p.fixedRate.find((x) => x.rate === r.rate);
          return [
            `Added p50 / p99 at ${fmt(r.rate)} calls/s (sustained)`,
            `${ms(m.mcpgateAddedUs.p50)} / ${ms(m.mcpgateAddedUs.p99)} (${m.mcpgateSustained ? 'yes' : 'no'})`,
            `${ms(r.addedUs.p50)} / ${ms(r.addedUs.p99)} (${r.sustained ? 'yes' : 'no'})`,
          ];
        }),
        ['Errors (max, many sessions)', String(mt.mcpgateMany.errors), String(g.maxMany.errors)],
        [
          'Gateway CPU (max, many sessions)',
          pct(mt.mcpgateMany.cpu?.gateway),
          pct(g.maxMany.cpu?.gateway),
        ],
      ],
    ),
  ];
}

function memoryMd(m) {
  const rows = m.memoryStore.points.map((p) => [fmt(p.sessions), mb(p.rssBytes)]);
  const redisRows = m.redisStore.points.map((p) => [
    fmt(p.sessions),
    mb(p.rssBytes),
    mb(p.redisUsedBytes),
    fmt(p.redisKeys),
  ]);
  return [
    ...(m.note ? [`Note: ${m.note}.`, ''] : []),
    table(['Idle sessions', 'Gateway RSS (memory store)'], rows),
    '',
    `Per session (memory store): ${kb(m.memoryStore.bytesPerSession)} from the first to the last point, ` +
      `${kb(m.memoryStore.marginalBytesPerSession)} between the last two.`,
    '',
    table(
      ['Idle sessions', 'Gateway RSS (redis store)', 'Redis used_memory', 'Redis keys'],
      redisRows,
    ),
    '',
    `Per session with the Redis store (${m.redisStore.redisVersion}): ${kb(m.redisStore.redisBytesPerSession)} in Redis, ` +
      `${kb(m.redisStore.gatewayBytesPerSession)} of gateway RSS.`,
    '',
    '![Memory](memory.svg)',
  ].join('\n');
}

function scalingMd(sc) {
  const row = (x) => (p) => [
    fmt(p[x]),
    `${ms(p.direct.fixed.latencyUs.p50)} / ${ms(p.direct.fixed.latencyUs.p99)}`,
    `${ms(p.mcpgate.fixed.latencyUs.p50)} / ${ms(p.mcpgate.fixed.latencyUs.p99)}`,
    `${ms(p.addedUs.p50)} / ${ms(p.addedUs.p99)}`,
    p.sustained ? 'yes' : 'no',
    fmt(p.throughput),
    fmt(p.directThroughput),
    pct(p.mcpgate.max.cpu?.gateway),
  ];
  const header = (first) => [
    first,
    'Direct p50 / p99',
    'mcpgate p50 / p99',
    'Added p50 / p99',
    'Sustained',
    'mcpgate calls/s',
    'Direct calls/s',
    'Gateway CPU at max',
  ];
  return [
    `${sc.sessions} sessions; latency at ${fmt(sc.rate)} calls/s (open loop), calls/s in a closed loop.`,
    '',
    '### Session history',
    '',
    table(header('history_limit'), sc.history.map(row('historyLimit'))),
    '',
    '![Added latency vs history](scaling-history-latency.svg)',
    '![Calls/s vs history](scaling-history-throughput.svg)',
    '',
    '### Catalog size',
    '',
    table(header('Tools'), sc.catalog.map(row('tools'))),
    '',
    '![Added latency vs catalog](scaling-catalog-latency.svg)',
    '![Calls/s vs catalog](scaling-catalog-throughput.svg)',
  ].join('\n');
}

function continuousMd(c) {
  return [
    'Per call: the behaviour facts of one tools/call (input.behaviour), with the argument provenance against 0, 2 and 4 sketches.',
    '',
    table(
      ['Sketches', 'p50', 'p90', 'p99'],
      c.perCall.map((p) => [
        fmt(p.sketches),
        `${fmt(p.us.p50, 1)} µs`,
        `${fmt(p.us.p90, 1)} µs`,
        `${fmt(p.us.p99, 1)} µs`,
      ]),
    ),
    '',
    `Per labelled result: sketching ${fmt(c.sketchPerResult.resultChars)} characters, p50 ${fmt(c.sketchPerResult.us.p50, 1)} µs, p99 ${fmt(c.sketchPerResult.us.p99, 1)} µs.`,
    '',
    'Memory per idle session (memory store, after 20 calls):',
    '',
    table(
      ['Behaviour state', 'Sketches', 'Bytes per session'],
      c.memory.map((m) => [
        m.signals ? 'kept' : 'not kept',
        fmt(m.sketches),
        fmt(m.bytesPerSession),
      ]),
    ),
    '',
    'Redis: no round trip is added; the state is in the session hash that the load and record scripts already read and write.',
  ].join('\n');
}

/** µs per KB at 10 KB and at the largest size, and their ratio (1 = linear). */
function linearity(points) {
  const small = points?.find((x) => x.bytes === 10_240);
  const large = points?.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  if (!small || !large || large.bytes <= small.bytes) return null;
  return {
    from: small.p50UsPerKb,
    to: large.p50UsPerKb,
    ratio: Math.round((large.p50UsPerKb / small.p50UsPerKb) * 100) / 100,
  };
}

function guardrailsMd(g) {
  const v = g.inProcess.validation;
  const sizes = g.inProcess.inspection.prose.map((x) => x.bytes);
  const size = (b) => (b >= 1_048_576 ? `${b / 1_048_576} MB` : `${b / 1024} KB`);
  const th = g.throughput;
  return [
    `Load average (1 min) ${g.loadAverage?.before ?? '?'} at the start of the section, ${g.loadAverage?.after ?? '?'} at its end.`,
    '',
    `Schema validation of ${JSON.stringify(v.args)} against ${v.tool}'s inputSchema (compiled once): p50 ${us(v.us.p50, 2)}, p99 ${us(v.us.p99, 2)} per call (target ≤ 5 µs p50).`,
    '',
    'Inspection of a tools/call result with one text block, every built-in detector (target ≤ 50 µs p50 at 10 KB, no worse than linear to 1 MB):',
    '',
    table(
      ['Text', ...sizes.map(size)],
      ['prose', 'code'].flatMap((kind) => [
        [`${kind} p50`, ...g.inProcess.inspection[kind].map((x) => us(x.us.p50))],
        [`${kind} p99`, ...g.inProcess.inspection[kind].map((x) => us(x.us.p99))],
        [
          `${kind} µs per KB (p50)`,
          ...g.inProcess.inspection[kind].map((x) => fmt(x.p50UsPerKb, 1)),
        ],
      ]),
    ),
    '',
    `Throughput, closed loop, ${th.concurrency} calls in flight over ${th.sessions} sessions (target: guardrails on ≥ 80 % of off), ` +
      `${th.rounds.length} round(s), each off then on, on fresh gateways:`,
    '',
    table(
      ['Round', 'off, calls/s', 'on, calls/s', 'on / off'],
      th.rounds.map((x, i) => [
        String(i + 1),
        fmt(x.off),
        fmt(x.on),
        `${Math.round(x.onOverOff * 100)} %`,
      ]),
    ),
    '',
    'The round with the median ratio, whole:',
    '',
    table(
      ['Guardrails', 'calls/s', 'p50 / p99', 'Gateway CPU', 'Errors'],
      [
        ['off', th.off],
        ['on', th.on],
      ].map(([label, p]) => [
        label,
        fmt(p.throughput),
        `${ms(p.latencyUs.p50)} / ${ms(p.latencyUs.p99)}`,
        pct(p.cpu?.gateway),
        String(p.errors),
      ]),
    ),
    '',
    `On / off: ${Math.round(th.onOverOff * 100)} % (the median of the rounds' ratios; the two runs of a round were measured within seconds).`,
  ].join('\n');
}

function trustMd(t) {
  return [
    'Catalog load: every item fingerprinted and scanned, then the catalog built, at start-up and at each re-read.',
    '',
    table(
      ['Tools', 'Load p50', 'Load p90', 'Load max'],
      t.load.map((l) => [
        fmt(l.tools),
        `${fmt(l.ms.p50)} ms`,
        `${fmt(l.ms.p90)} ms`,
        `${fmt(l.ms.max)} ms`,
      ]),
    ),
    '',
    'Per call: the facts lookup, and one decision with and without the trust facts in its input.',
    '',
    table(
      [
        'Catalog',
        'Facts lookup',
        'Decide without p50 / p99',
        'Decide with p50 / p99',
        'Input bytes without / with',
      ],
      t.perCall.map((c) => [
        `${fmt(c.tools)} tools`,
        `${fmt(c.factsLookupNs)} ns`,
        `${us(c.decideWithoutTrustUs.p50)} / ${us(c.decideWithoutTrustUs.p99)}`,
        `${us(c.decideWithTrustUs.p50)} / ${us(c.decideWithTrustUs.p99)}`,
        `${fmt(c.inputBytes.without)} / ${fmt(c.inputBytes.with)}`,
      ]),
    ),
  ].join('\n');
}

function profileMd(p) {
  if (p.error) return `Not available: ${p.error}`;
  return [
    `${p.method}. Busy ${fmt(p.busyMs)} ms, idle ${fmt(p.idleMs)} ms; ${fmt(p.throughputUnderProfiler)} calls/s under the profiler.`,
    '',
    'Top functions by self time:',
    '',
    table(
      ['Function', 'Where', 'Self ms', 'Self %'],
      p.functions.map((f) => [
        `\`${f.function}\``,
        f.location || '(native)',
        fmt(f.selfMs),
        fmt(f.selfPct, 1),
      ]),
    ),
    '',
    'Self time by code area, and the same time charged to the nearest caller outside Node and V8 ' +
      '(so WebCrypto work counts for jose, fetch for the caller that fetched):',
    '',
    table(
      ['Area (self)', '%', 'Area (by caller)', '%'],
      Array.from(
        { length: Math.min(12, Math.max(p.areas.length, p.areasByCaller.length)) },
        (_, i) => [
          p.areas[i]?.area ?? '',
          p.areas[i] ? fmt(p.areas[i].selfPct, 1) : '',
          p.areasByCaller[i]?.area ?? '',
          p.areasByCaller[i] ? fmt(p.areasByCaller[i].pct, 1) : '',
        ],
      ),
    ),
  ].join('\n');
}

async function format(text, parser) {
  try {
    const prettier = await import('prettier');
    const { ROOT } = await import('./servers.mjs');
    const options = (await prettier.resolveConfig(join(ROOT, 'package.json'))) ?? {};
    return await prettier.format(text, { ...options, parser });
  } catch {
    return text;
  }
}

export async function writeReport(results, outDir) {
  results.targets = evaluateTargets(results);
  const svgs = charts(results);
  const s = results.sections;
  const md = [
    `# mcpgate benchmark (${results.kind} run)`,
    '',
    results.kind === 'smoke'
      ? '> Smoke run: tiny counts to check that the bench runs and writes its files. The numbers are not measurements; see `npm run bench`.\n'
      : '',
    (otherLoad(results)?.max ?? 0) > DISTURBED_PCT
      ? `> Disturbed run: up to ${pct(otherLoad(results).max)} of a core went to work outside the bench during a measured window (another process on this machine?). Compare with a quiet run before trusting these numbers.\n`
      : '',
    `Started ${results.startedAt}, took ${fmt(results.durationS)} s. Generated by \`bench/run.mjs\`; every number below is in \`latest.json\`.`,
    '',
    '## Machine',
    '',
    machineSection(results),
    '',
    '## Targets',
    '',
    'Read from this run, not asserted.',
    '',
    table(
      ['Target', 'Goal', 'Measured', 'Result', 'Note'],
      results.targets.map((t) => [t.what, t.goal, t.measured, `**${t.result}**`, t.note]),
    ),
    '',
    '## 1. Decision latency',
    '',
    s.decision ? decisionMd(s.decision) : `Not run: ${results.errors.decision ?? 'not selected'}`,
    '',
    '## 2. Gateway overhead',
    '',
    s.overhead ? overheadMd(s.overhead) : `Not run: ${results.errors.overhead ?? 'not selected'}`,
    '',
    '## 3. Peer gateway',
    '',
    s.peer ? peerMd(s.peer) : `Not run: ${results.errors.peer ?? 'not selected'}`,
    '',
    '## 4. Memory per idle session',
    '',
    s.memory ? memoryMd(s.memory) : `Not run: ${results.errors.memory ?? 'not selected'}`,
    '',
    '## 5. Scaling',
    '',
    s.scaling ? scalingMd(s.scaling) : `Not run: ${results.errors.scaling ?? 'not selected'}`,
    '',
    '## 6. Tool trust',
    '',
    s.trust ? trustMd(s.trust) : `Not run: ${results.errors.trust ?? 'not selected'}`,
    '',
    '## 7. Metrics and tracing',
    '',
    s.telemetry
      ? telemetryMd(s.telemetry)
      : `Not run: ${results.errors.telemetry ?? 'not selected'}`,
    '',
    '## 8. Continuous verification',
    '',
    s.continuous
      ? continuousMd(s.continuous)
      : `Not run: ${results.errors.continuous ?? 'not selected'}`,
    '',
    '## 9. Guardrails',
    '',
    s.guardrails
      ? guardrailsMd(s.guardrails)
      : `Not run: ${results.errors.guardrails ?? 'not selected'}`,
    '',
    '## 10. Every capability on, next to direct (issue 22)',
    '',
    s.fullpath ? fullpathMd(s.fullpath) : `Not run: ${results.errors.fullpath ?? 'not selected'}`,
    '',
    '## CPU profile of the gateway',
    '',
    s.profile ? profileMd(s.profile) : `Not run: ${results.errors.profile ?? 'not selected'}`,
    '',
    '## Method',
    '',
    ...Object.entries(s)
      .filter(([, v]) => v?.method)
      .map(([k, v]) => `- **${k}**: ${v.method}.`),
    '',
    Object.keys(results.errors).length
      ? `## Errors\n\n${Object.entries(results.errors)
          .map(([k, v]) => `- ${k}: ${v}`)
          .join('\n')}\n`
      : '',
  ].join('\n');

  const files = [];
  const write = (name, text) => {
    const path = join(outDir, name);
    writeFileSync(path, text);
    files.push(path);
  };
  for (const [name, svg] of Object.entries(svgs)) write(name, svg);
  write('latest.json', await format(`${JSON.stringify(results, null, 2)}\n`, 'json'));
  write('latest.md', await format(md, 'markdown'));
  return files;
}
