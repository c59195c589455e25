/**
 * Hand-written SVG line charts (no dependency): one or more panels stacked in one
 * file, each with axes, ticks, labels, a legend and a title. Linear or log y.
 */

export interface Series {
  name: string;
  /** [x, y] points; y ≤ 0 is skipped on a log axis, NaN breaks the line. */
  points: Array<[number, number]>;
  color?: string;
  dashed?: boolean;
  /** Draw dots instead of a line (scatter). */
  dots?: boolean;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  yLog?: boolean;
  yMin?: number;
  yMax?: number;
  xMax?: number;
  /** Format of y tick labels (e.g. percent). */
  yFormat?: (value: number) => string;
}

const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#17becf',
  '#bcbd22',
];

const WIDTH = 900;
const PANEL_HEIGHT = 360;
const MARGIN = { left: 80, right: 200, top: 40, bottom: 55 };

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) =>
    c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : c === '"' ? '&quot;' : '&apos;',
  );
}

/** About `count` round tick values covering [min, max]. */
function linearTicks(min: number, max: number, count = 6): number[] {
  const span = max - min || 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

function formatNumber(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${Number((value / 1e6).toPrecision(3))}M`;
  if (abs >= 1e4) return `${Number((value / 1e3).toPrecision(3))}k`;
  if (abs >= 1 || abs === 0) return String(Number(value.toPrecision(4)));
  return String(Number(value.toPrecision(2)));
}

function renderPanel(panel: Panel, top: number): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const x0 = MARGIN.left;
  const y0 = top + MARGIN.top;
  const all = panel.series.flatMap((s) => s.points).filter(([x, y]) => isFinite(x) && isFinite(y));
  const xMax = panel.xMax ?? Math.max(1e-9, ...all.map(([x]) => x));
  const xMin = 0;
  const ys = all.map(([, y]) => y).filter((y) => !panel.yLog || y > 0);
  let yMin = panel.yMin ?? (panel.yLog ? Math.min(...ys) : Math.min(0, ...ys));
  let yMax = panel.yMax ?? Math.max(...ys);
  if (!isFinite(yMin)) yMin = panel.yLog ? 1 : 0;
  if (!isFinite(yMax) || yMax <= yMin) yMax = panel.yLog ? yMin * 10 : yMin + 1;
  let yTicks: number[];
  let yScale: (y: number) => number;
  if (panel.yLog) {
    const lo = Math.floor(Math.log10(yMin));
    const hi = Math.ceil(Math.log10(yMax));
    yTicks = [];
    for (let e = lo; e <= hi; e++) yTicks.push(10 ** e);
    yScale = (y) => y0 + plotH - ((Math.log10(y) - lo) / (hi - lo || 1)) * plotH;
  } else {
    yTicks = linearTicks(yMin, yMax);
    const top = Math.max(yMax, yTicks[yTicks.length - 1] ?? yMax);
    yMax = top;
    yScale = (y) => y0 + plotH - ((y - yMin) / (yMax - yMin)) * plotH;
  }
  const xScale = (x: number): number => x0 + ((x - xMin) / (xMax - xMin)) * plotW;
  const yFormat = panel.yFormat ?? formatNumber;
  const out: string[] = [];
  out.push(
    `<text x="${x0 + plotW / 2}" y="${top + 24}" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(panel.title)}</text>`,
  );
  out.push(
    `<rect x="${x0}" y="${y0}" width="${plotW}" height="${plotH}" fill="#fafafa" stroke="#333"/>`,
  );
  for (const tick of yTicks) {
    const y = yScale(tick);
    if (y < y0 - 0.5 || y > y0 + plotH + 0.5) continue;
    out.push(`<line x1="${x0}" x2="${x0 + plotW}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(
      `<text x="${x0 - 8}" y="${y + 4}" text-anchor="end" font-size="12">${escapeXml(yFormat(tick))}</text>`,
    );
  }
  for (const tick of linearTicks(xMin, xMax)) {
    const x = xScale(tick);
    if (x > x0 + plotW + 0.5) continue;
    out.push(`<line x1="${x}" x2="${x}" y1="${y0}" y2="${y0 + plotH}" stroke="#eee"/>`);
    out.push(
      `<text x="${x}" y="${y0 + plotH + 18}" text-anchor="middle" font-size="12">${escapeXml(formatNumber(tick))}</text>`,
    );
  }
  out.push(
    `<text x="${x0 + plotW / 2}" y="${y0 + plotH + 42}" text-anchor="middle" font-size="13">${escapeXml(panel.xLabel)}</text>`,
  );
  out.push(
    `<text transform="translate(${x0 - 58},${y0 + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="13">${escapeXml(panel.yLabel)}</text>`,
  );
  out.push(`<g clip-path="url(#clip${top})">`);
  panel.series.forEach((series, i) => {
    const color = series.color ?? PALETTE[i % PALETTE.length]!;
    const usable = (y: number): boolean => isFinite(y) && (!panel.yLog || y > 0);
    if (series.dots) {
      for (const [x, y] of series.points) {
        if (!usable(y) || !isFinite(x)) continue;
        out.push(
          `<circle cx="${xScale(x).toFixed(1)}" cy="${yScale(y).toFixed(1)}" r="2" fill="${color}" fill-opacity="0.6"/>`,
        );
      }
      return;
    }
    let path = '';
    // Points of the current unbroken run: a run of one point is drawn as a dot.
    let run: Array<[number, number]> = [];
    const endRun = (): void => {
      const only = run.length === 1 ? run[0] : undefined;
      if (only !== undefined) {
        out.push(
          `<circle cx="${only[0].toFixed(1)}" cy="${only[1].toFixed(1)}" r="3" fill="${color}"/>`,
        );
      }
      run = [];
    };
    for (const [x, y] of series.points) {
      if (!usable(y) || !isFinite(x)) {
        endRun();
        continue;
      }
      const point: [number, number] = [xScale(x), yScale(y)];
      path += `${run.length > 0 ? 'L' : 'M'}${point[0].toFixed(1)},${point[1].toFixed(1)}`;
      run.push(point);
    }
    endRun();
    if (path !== '') {
      out.push(
        `<path d="${path}" fill="none" stroke="${color}" stroke-width="2"${series.dashed ? ' stroke-dasharray="6,4"' : ''}/>`,
      );
    }
  });
  out.push('</g>');
  out.push(
    `<clipPath id="clip${top}"><rect x="${x0}" y="${y0}" width="${plotW}" height="${plotH}"/></clipPath>`,
  );
  const lx = x0 + plotW + 14;
  panel.series.forEach((series, i) => {
    const color = series.color ?? PALETTE[i % PALETTE.length]!;
    const ly = y0 + 10 + i * 20;
    out.push(
      series.dots
        ? `<circle cx="${lx + 12}" cy="${ly}" r="4" fill="${color}"/>`
        : `<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="3"${series.dashed ? ' stroke-dasharray="6,4"' : ''}/>`,
    );
    out.push(`<text x="${lx + 30}" y="${ly + 4}" font-size="12">${escapeXml(series.name)}</text>`);
  });
  return out.join('\n');
}

/** A complete SVG document of the panels, stacked top to bottom. */
export function renderChart(panels: Panel[], caption?: string): string {
  const captionHeight = caption === undefined ? 0 : 24;
  const height = panels.length * PANEL_HEIGHT + captionHeight;
  const body = panels.map((panel, i) => renderPanel(panel, i * PANEL_HEIGHT)).join('\n');
  const footer =
    caption === undefined
      ? ''
      : `<text x="10" y="${height - 8}" font-size="11" fill="#555">${escapeXml(caption)}</text>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    body,
    footer,
    '</svg>',
    '',
  ].join('\n');
}
