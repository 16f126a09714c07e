// A Python script in the percent format (jupytext, VS Code, Spyder, PyCharm): `# %%` starts
// a cell, `# %% [markdown]` a markdown cell written as `# ` comments, `# %% Title
// tags=["parameters"]` a titled cell with tags. A script with no marker is one cell.
// Pure: the same text gives the same cells.

export interface ScriptCell {
  kind: 'code' | 'markdown' | 'raw';
  source: string;
  tags: string[];
  title?: string;
  /** 1-based line of the file the cell's source starts on. */
  line: number;
}

/** A script that cannot be wrapped; the message names the line. */
export class ScriptJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScriptJobError';
  }
}

const MARKER = /^#\s*%%(?!%)(.*)$/;

interface Marker {
  kind: ScriptCell['kind'];
  tags: string[];
  title?: string;
}

/** What follows `# %%`: an optional title, `[markdown]`/`[md]`/`[raw]`, and key=JSON metadata of which tags counts. */
function parseMarker(rest: string, line: number): Marker {
  let text = rest.trim();
  let kind: Marker['kind'] = 'code';
  const type = /\[(markdown|md|raw)\]/.exec(text);
  if (type) {
    kind = type[1] === 'raw' ? 'raw' : 'markdown';
    text = (text.slice(0, type.index) + text.slice(type.index + type[0].length)).trim();
  }
  let tags: string[] = [];
  const meta = /(?:^|\s)(\w+)=/.exec(text);
  const title = (meta ? text.slice(0, meta.index) : text).trim();
  const tagsMatch = /(?:^|\s)tags=(\[[^\]]*\])/.exec(text);
  if (tagsMatch) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(tagsMatch[1]!);
    } catch {
      parsed = undefined;
    }
    if (!Array.isArray(parsed) || !parsed.every((t) => typeof t === 'string')) {
      throw new ScriptJobError(`line ${line}: tags= wants a JSON list of strings, e.g. # %% tags=["parameters"]`);
    }
    tags = parsed as string[];
  }
  return { kind, tags, ...(title ? { title } : {}) };
}

/** Blank lines off both ends; the start line moves with the leading ones. */
function trimmed(lines: string[], first: number): { source: string; line: number } | null {
  let a = 0;
  let b = lines.length;
  while (a < b && lines[a]!.trim() === '') a++;
  while (b > a && lines[b - 1]!.trim() === '') b--;
  return a === b ? null : { source: lines.slice(a, b).join('\n'), line: first + a };
}

/** A markdown cell's comment lines as markdown: `# text` → `text`, `#` → blank. */
function uncomment(source: string): string {
  return source
    .split('\n')
    .map((l) => l.replace(/^#\s?/, ''))
    .join('\n');
}

export function parsePercentScript(text: string): ScriptCell[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  let start = 0;
  // jupytext's own header (# ---\n# jupyter: ...\n# ---) is its metadata, not the job's.
  if (lines[0]?.trim() === '# ---') {
    const end = lines.findIndex((l, i) => i > 0 && l.trim() === '# ---');
    if (end > 0) start = end + 1;
  }
  const cells: ScriptCell[] = [];
  let current: Marker = { kind: 'code', tags: [] };
  let body: string[] = [];
  let bodyLine = start + 1;
  const close = (): void => {
    const t = trimmed(body, bodyLine);
    if (t) cells.push({ kind: current.kind, source: current.kind === 'code' ? t.source : uncomment(t.source), tags: current.tags, line: t.line, ...(current.title ? { title: current.title } : {}) });
  };
  for (let i = start; i < lines.length; i++) {
    const m = MARKER.exec(lines[i]!);
    if (!m) {
      body.push(lines[i]!);
      continue;
    }
    close();
    current = parseMarker(m[1]!, i + 1);
    body = [];
    bodyLine = i + 2;
  }
  close();
  return cells;
}
