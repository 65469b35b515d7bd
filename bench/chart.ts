/**
 * The goals table as a bar chart, written as plain SVG: one bar per figure,
 * a tick at its goal, green when met and red when not; the reference ratios
 * (no goal) in grey on the ratios' scale. README shows it.
 */
import { goalMet, type MemoryFigure, type Ratio } from './report.js';

interface Bar {
  readonly label: string;
  readonly value: number;
  /** Where the tick goes; none on a reference bar. */
  readonly goal?: number;
  readonly colour: string;
  /** The text at the bar's end. */
  readonly text: string;
}

const WIDTH = 860;
const LABEL_WIDTH = 380;
const BAR_AREA = WIDTH - LABEL_WIDTH - 90;
const ROW = 26;
const BAR = 16;
const MET = '#2e7d32';
const NOT_MET = '#c62828';
const REFERENCE = '#9e9e9e';

export function chartSvg(title: string, subtitle: string, ratios: readonly Ratio[], memory: readonly MemoryFigure[]): string {
  const ratioBar = (r: Ratio): Bar => ({
    label: r.label,
    value: r.value,
    ...(r.goal === undefined ? {} : { goal: r.goal }),
    colour: r.goal === undefined ? REFERENCE : goalMet(r)! ? MET : NOT_MET,
    text: `${r.value.toFixed(2)} ×`,
  });
  const goalBars = ratios.filter((r) => r.goal !== undefined).map(ratioBar);
  const referenceBars = ratios.filter((r) => r.reference === true).map(ratioBar);
  const memoryBars: Bar[] = memory.map((m) => ({
    label: m.label,
    value: m.peakRssMb,
    goal: m.limitMb,
    colour: m.peakRssMb <= m.limitMb ? MET : NOT_MET,
    text: `${Math.round(m.peakRssMb)} MiB`,
  }));
  const sections = [
    { heading: 'ratios (goal: tick)', bars: goalBars, scaleOf: [...goalBars, ...referenceBars] },
    { heading: 'reference, no goal: a bare Node proxy (no checks), same run, same scale', bars: referenceBars, scaleOf: [...goalBars, ...referenceBars] },
    { heading: 'peak RSS (limit: tick)', bars: memoryBars, scaleOf: memoryBars },
  ];
  const parts: string[] = [];
  let y = 58;
  for (const { heading, bars, scaleOf } of sections) {
    if (bars.length === 0) continue;
    parts.push(`<text x="10" y="${y}" class="h">${escape(heading)}</text>`);
    y += 10;
    const scale = BAR_AREA / Math.max(...scaleOf.map((bar) => Math.max(bar.value, bar.goal ?? 0) * 1.05));
    for (const bar of bars) {
      const width = Math.max(1, bar.value * scale);
      const goalX = bar.goal === undefined ? undefined : LABEL_WIDTH + bar.goal * scale;
      parts.push(
        `<text x="${LABEL_WIDTH - 8}" y="${y + BAR - 3}" text-anchor="end">${escape(bar.label)}</text>`,
        `<rect x="${LABEL_WIDTH}" y="${y}" width="${width.toFixed(1)}" height="${BAR}" fill="${bar.colour}"/>`,
        ...(goalX === undefined ? [] : [`<line x1="${goalX.toFixed(1)}" x2="${goalX.toFixed(1)}" y1="${y - 3}" y2="${y + BAR + 3}" stroke="#000" stroke-width="2"/>`]),
        `<text x="${(LABEL_WIDTH + Math.max(width, (goalX ?? 0) - LABEL_WIDTH) + 6).toFixed(1)}" y="${y + BAR - 3}">${escape(bar.text)}</text>`,
      );
      y += ROW;
    }
    y += 14;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="sans-serif" font-size="12">
<style>.t{font-size:15px;font-weight:bold}.h{font-weight:bold}</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="20" class="t">${escape(title)}</text>
<text x="10" y="38">${escape(subtitle)}</text>
${parts.join('\n')}
</svg>
`;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
