/** One bar of a chart. */
export interface Bar {
  readonly label: string;
  readonly value: number;
  /** Colour group, e.g. 'raw' or 'stream'. */
  readonly group: string;
}

const COLOURS: Record<string, string> = {
  raw: '#8c8c8c',
  stream: '#2b6cb0',
  proxystore: '#c05621',
};

const escapeXml = (text: string): string =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/** A horizontal bar chart as SVG, on a log scale when the values span more than 100×. */
export function barChart(title: string, bars: readonly Bar[]): string {
  const width = 900;
  const labelWidth = 380;
  const rowHeight = 18;
  const top = 34;
  const height = top + bars.length * rowHeight + 10;
  const values = bars.map((b) => b.value).filter((v) => v > 0);
  const max = Math.max(1, ...values);
  const min = Math.min(max, ...values);
  const log = max / Math.max(min, 1e-9) > 100;
  const floor = log ? Math.max(min / 2, 1e-9) : 0;
  const scale = (v: number) =>
    log ? Math.log(v / floor) / Math.log(max / floor) : (v - floor) / (max - floor);
  const lines = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11" role="img" aria-label="${escapeXml(title)}">`,
    `<title>${escapeXml(title)}</title>`,
    `<text x="8" y="18" font-size="14" font-weight="bold">${escapeXml(title)}${log ? ' (log scale)' : ''}</text>`,
  ];
  bars.forEach((bar, i) => {
    const y = top + i * rowHeight;
    const w = Math.max(1, scale(Math.max(bar.value, floor)) * (width - labelWidth - 90));
    lines.push(
      `<text x="${labelWidth - 6}" y="${y + 12}" text-anchor="end">${escapeXml(bar.label)}</text>`,
      `<rect x="${labelWidth}" y="${y + 2}" width="${w.toFixed(1)}" height="${rowHeight - 5}" fill="${COLOURS[bar.group] ?? '#555'}"/>`,
      `<text x="${(labelWidth + w + 4).toFixed(1)}" y="${y + 12}">${formatValue(bar.value)}</text>`,
    );
  });
  lines.push('</svg>');
  return `${lines.join('\n')}\n`;
}

function formatValue(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toPrecision(3)}M`;
  if (v >= 1e3) return `${(v / 1e3).toPrecision(3)}k`;
  return v.toPrecision(3);
}
