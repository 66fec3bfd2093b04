// Hand-rolled SVG charts for the report: grouped bars and lines, linear or log scale.
// Self-contained files (no scripts, no external fonts), readable on light backgrounds.

const PALETTE = ['#2f6db5', '#e07b28', '#3a9e5c', '#c23b3b', '#7d5cb8', '#8c8c8c'];
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

function esc(text) {
  return String(text)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}

/** A short number for labels: 1234 -> 1.2k, 0.5 -> 0.5. */
export function shortNumber(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return 'n/a';
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (a >= 1e3) return `${Number((v / 1e3).toFixed(2))}k`;
  if (a >= 10) return v.toFixed(0);
  return String(Math.round(v * 10) / 10);
}

/** Axis ticks: powers of ten for log scales, "nice" steps for linear ones. */
function axis(values, log) {
  const finite = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  if (log) {
    const positive = finite.filter((v) => v > 0);
    const lo = Math.floor(Math.log10(Math.min(...positive)));
    const hi = Math.ceil(Math.log10(Math.max(...positive, 10)));
    const ticks = [];
    for (let e = lo; e <= hi; e++) ticks.push(10 ** e);
    return {
      ticks,
      scale: (v) => (v > 0 ? (Math.log10(v) - lo) / Math.max(hi - lo, 1) : 0),
    };
  }
  const max = Math.max(...finite, 0) || 1;
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const top = Math.ceil(max / step) * step;
  const ticks = [];
  for (let t = 0; t <= top + step / 2; t += step) ticks.push(t);
  return { ticks, scale: (v) => Math.max(0, v) / top };
}

function frame({ width, height, title, subtitle }) {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="24" font-size="16" font-weight="bold" text-anchor="middle" fill="#222">${esc(title)}</text>`,
    subtitle
      ? `<text x="${width / 2}" y="42" font-size="11" text-anchor="middle" fill="#555">${esc(subtitle)}</text>`
      : '',
  ];
}

function yAxis(parts, { ticks, scale }, box, unit, log) {
  for (const t of ticks) {
    const y = box.y + box.h - scale(t) * box.h;
    parts.push(
      `<line x1="${box.x}" y1="${y}" x2="${box.x + box.w}" y2="${y}" stroke="#e3e3e3"/>`,
      `<text x="${box.x - 6}" y="${y + 4}" font-size="11" text-anchor="end" fill="#444">${esc(shortNumber(t))}</text>`,
    );
  }
  parts.push(
    `<text transform="translate(14 ${box.y + box.h / 2}) rotate(-90)" font-size="12" text-anchor="middle" fill="#333">${esc(unit)}${log ? ' (log scale)' : ''}</text>`,
    `<line x1="${box.x}" y1="${box.y + box.h}" x2="${box.x + box.w}" y2="${box.y + box.h}" stroke="#666"/>`,
  );
}

function legend(parts, series, x, y) {
  let cx = x;
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    parts.push(
      `<rect x="${cx}" y="${y - 9}" width="12" height="12" fill="${color}"/>`,
      `<text x="${cx + 16}" y="${y + 1}" font-size="12" fill="#333">${esc(s.name)}</text>`,
    );
    cx += 32 + s.name.length * 7.2;
  });
}

/**
 * Grouped bar chart. categories: group labels; series: [{name, values: number|null[]}].
 * A null value draws no bar and the label "n/a".
 */
export function barChart({ title, subtitle, categories, series, unit, log = false, width = 760 }) {
  const height = 380;
  const box = { x: 70, y: 70, w: width - 90, h: height - 130 };
  const parts = frame({ width, height, title, subtitle });
  const ax = axis(
    series.flatMap((s) => s.values),
    log,
  );
  yAxis(parts, ax, box, unit, log);
  const groupW = box.w / Math.max(categories.length, 1);
  const barW = Math.min(48, (groupW * 0.8) / Math.max(series.length, 1));
  categories.forEach((cat, ci) => {
    const gx = box.x + ci * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, si) => {
      const v = s.values[ci];
      const x = gx + si * barW;
      const color = s.color ?? PALETTE[si % PALETTE.length];
      if (typeof v === 'number' && Number.isFinite(v)) {
        const h = Math.max(1, ax.scale(v) * box.h);
        const y = box.y + box.h - h;
        parts.push(
          `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${color}"><title>${esc(`${s.name} ${cat}: ${v} ${unit}`)}</title></rect>`,
          `<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(y - 4).toFixed(1)}" font-size="10" text-anchor="middle" fill="#222">${esc(shortNumber(v))}</text>`,
        );
      } else {
        parts.push(
          `<text x="${(x + barW / 2).toFixed(1)}" y="${box.y + box.h - 4}" font-size="10" text-anchor="middle" fill="#999">n/a</text>`,
        );
      }
    });
    parts.push(
      `<text x="${(box.x + ci * groupW + groupW / 2).toFixed(1)}" y="${box.y + box.h + 18}" font-size="12" text-anchor="middle" fill="#333">${esc(cat)}</text>`,
    );
  });
  legend(parts, series, box.x, height - 18);
  parts.push('</svg>');
  return `${parts.filter(Boolean).join('\n')}\n`;
}

/**
 * Line chart. x: labels, spaced evenly (categories such as 0, 50, 500 history entries), or
 * placed by value when xValues (numbers) are given.
 */
export function lineChart({
  title,
  subtitle,
  x,
  xValues,
  xLabel,
  series,
  unit,
  log = false,
  width = 760,
}) {
  const height = 380;
  const box = { x: 70, y: 70, w: width - 110, h: height - 140 };
  const parts = frame({ width, height, title, subtitle });
  const ax = axis(
    series.flatMap((s) => s.values),
    log,
  );
  yAxis(parts, ax, box, unit, log);
  const lo = xValues ? Math.min(...xValues) : 0;
  const span = xValues ? Math.max(...xValues) - lo || 1 : 1;
  const px = (i) =>
    xValues
      ? box.x + ((xValues[i] - lo) / span) * box.w
      : box.x + (x.length === 1 ? box.w / 2 : (i / (x.length - 1)) * box.w);
  x.forEach((label, i) => {
    parts.push(
      `<text x="${px(i).toFixed(1)}" y="${box.y + box.h + 18}" font-size="12" text-anchor="middle" fill="#333">${esc(label)}</text>`,
    );
  });
  parts.push(
    `<text x="${box.x + box.w / 2}" y="${box.y + box.h + 38}" font-size="12" text-anchor="middle" fill="#333">${esc(xLabel)}</text>`,
  );
  series.forEach((s, si) => {
    const color = s.color ?? PALETTE[si % PALETTE.length];
    const points = s.values
      .map((v, i) =>
        typeof v === 'number' && Number.isFinite(v)
          ? [px(i), box.y + box.h - ax.scale(v) * box.h, v]
          : null,
      )
      .filter(Boolean);
    if (points.length > 1) {
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ')}"/>`,
      );
    }
    for (const [a, b, v] of points) {
      parts.push(
        `<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="4" fill="${color}"><title>${esc(`${s.name}: ${v} ${unit}`)}</title></circle>`,
        `<text x="${(a + 6).toFixed(1)}" y="${(b - 6).toFixed(1)}" font-size="10" fill="${color}">${esc(shortNumber(v))}</text>`,
      );
    }
  });
  legend(parts, series, box.x, height - 14);
  parts.push('</svg>');
  return `${parts.filter(Boolean).join('\n')}\n`;
}
