import { existsSync, readFileSync } from 'node:fs';
import type { Section } from './config.js';

/** A section as it stands in a BENCHMARKS.md: its key figures and its block (heading to section time). */
export interface RenderedSection {
  readonly highlights: readonly string[];
  readonly block: string;
}

/** Marker before a section's key figures and before its block, so a partial run can replace just it. */
export const keyFiguresMarker = (section: Section) => `<!-- key figures: ${section} -->`;
export const sectionMarker = (section: Section) => `<!-- section: ${section} -->`;

/**
 * How a file written before the markers existed tells its sections apart: the heading of the
 * block, and the start of each key figure (the overhead section's start with "stream ·").
 */
const LEGACY: readonly { section: Section; title: RegExp; figure: RegExp }[] = [
  { section: 'overhead', title: /^Overhead/, figure: /^stream · / },
  { section: 'latency', title: /^Latency/, figure: /^latency / },
  { section: 'bulk', title: /^Bulk data/, figure: /^bulk / },
  { section: 'scaling', title: /^Stream scaling/, figure: /^scaling/ },
  { section: 'memory', title: /^Memory/, figure: /^memory / },
  { section: 'anchor', title: /^The anchor/, figure: /^anchor / },
  { section: 'breakdown', title: /^Where a large object/, figure: /^breakdown/ },
];

/** Lines after the last section that belong to the whole run, not to a section. */
const TRAILER = /^_(Note: in \d+ stream runs|Total time:)/;

/**
 * The sections of an earlier BENCHMARKS.md at `path`, so that `--only` replaces the sections it
 * runs and keeps the others as they were. Empty when there is no such file.
 */
export function previousSections(path: string): Map<Section, RenderedSection> {
  const found = new Map<Section, RenderedSection>();
  if (!existsSync(path)) return found;
  const lines = readFileSync(path, 'utf8').split('\n');
  const figures = new Map<Section, string[]>();
  const blocks = new Map<Section, string[]>();
  let inFigures = false;
  let figureSection: Section | undefined;
  let block: string[] | undefined;
  for (const line of lines) {
    const figureMark = /^<!-- key figures: (\w+) -->$/.exec(line);
    const sectionMark = /^<!-- section: (\w+) -->$/.exec(line);
    if (line === '## Key figures') {
      inFigures = true;
      continue;
    }
    if (figureMark) {
      figureSection = figureMark[1] as Section;
      continue;
    }
    if (sectionMark || line.startsWith('## ') || TRAILER.test(line)) {
      inFigures = false;
      const section = sectionMark
        ? (sectionMark[1] as Section)
        : line.startsWith('## ')
          ? LEGACY.find((entry) => entry.title.test(line.slice(3)))?.section
          : undefined;
      // The heading right after its section's marker belongs to the block the marker opened
      // (dropping it here, and with it the body, lost every section a partial run did not run).
      const opened = section === undefined || sectionMark ? undefined : blocks.get(section);
      if (opened !== undefined) block = opened;
      else if (section !== undefined) {
        block = [];
        blocks.set(section, block);
      } else block = undefined;
      if (sectionMark) continue;
    }
    if (inFigures && line.startsWith('- ')) {
      const text = line.slice(2);
      const section = figureSection ?? LEGACY.find((entry) => entry.figure.test(text))?.section;
      if (section !== undefined) {
        const list = figures.get(section) ?? [];
        list.push(text);
        figures.set(section, list);
      }
      continue;
    }
    block?.push(line);
  }
  for (const [section, text] of blocks) {
    while (text.length > 0 && text[text.length - 1] === '') text.pop();
    found.set(section, { highlights: figures.get(section) ?? [], block: text.join('\n') });
  }
  return found;
}
