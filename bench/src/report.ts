/** What a section hands to the report. */
export interface SectionResult {
  readonly title: string;
  /** Markdown body (tables, notes). */
  readonly body: string;
  /** One-line findings for the summary at the top. */
  readonly highlights: readonly string[];
  /** SVG charts to write next to the report: file name → content. */
  readonly charts?: Readonly<Record<string, string>>;
  /** Versions this section found (e.g. ProxyStore), added to the machine table. */
  readonly versions?: readonly [string, string][];
}

/** Logs progress to stderr so that stdout stays clean. */
export function progress(text: string): void {
  process.stderr.write(`[bench] ${text}\n`);
}
