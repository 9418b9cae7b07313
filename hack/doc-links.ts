/**
 * The docs' link check (`npm run docs -- --check`, and hack/docs.test.ts): in README.md and
 * docs/**\/*.md, every relative link resolves to a file or folder of this repository, every
 * `#anchor` to a heading of its target (GitHub's slugs), and every repository path written in
 * backticks (`shared/vip.ts`, `test/install/pods`) names something that exists. Code blocks are
 * not read.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** The folders and top-level files a path in backticks may start with to be checked. */
const TOP_DIRS = ['shared', 'extension', 'operator', 'hack', 'test', 'manifests', 'docs', '.github', '.ci'];
const TOP_FILES = [
  'README.md',
  'CHANGELOG.md',
  'BENCHMARKS.md',
  'RELIABILITY.md',
  'Dockerfile',
  'metadata.yaml',
  'package.json',
];

/**
 * A heading's anchor as GitHub makes it (github-slugger): the rendered text, lowercased, every
 * character that is not a letter, a digit, `-`, `_` or a space dropped, each space turned to `-`.
 */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/<[^>]+>/g, '') // inline HTML
    .replace(/`/g, '')
    .replace(/\*\*|__/g, '')
    .replace(/(^|\W)[*_](\S)/g, '$1$2')
    .replace(/(\S)[*_](\W|$)/g, '$1$2');
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The lines of a Markdown file outside fenced code blocks, with their line numbers (from 1). */
function prose(markdown: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let fence: string | undefined;
  markdown.split('\n').forEach((text, i) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(text)?.[1];
    if (fence) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
      return;
    }
    if (marker) {
      fence = marker;
      return;
    }
    out.push({ line: i + 1, text });
  });
  return out;
}

const CODE_SPAN = /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g;

/** Every anchor a Markdown file offers: its headings' slugs (repeats get -1, -2, …) and HTML ids. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of prose(markdown)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(text)?.[1];
    if (heading !== undefined) {
      const slug = githubSlug(heading);
      const n = seen.get(slug) ?? 0;
      seen.set(slug, n + 1);
      anchors.add(n === 0 ? slug : `${slug}-${n}`);
    }
    for (const m of text.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) anchors.add(m[1] ?? '');
  }
  return anchors;
}

/** README.md and every Markdown file under docs/, relative to the root, sorted. */
export function docFiles(root: string): string[] {
  const files = ['README.md'];
  const walk = (dir: string): void => {
    if (!existsSync(path.join(root, dir))) return;
    for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = path.posix.join(dir, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.md')) files.push(rel);
    }
  };
  walk('docs');
  return files.sort();
}

export interface Reference {
  /** The Markdown file and line it is written on. */
  readonly file: string;
  readonly line: number;
  readonly target: string;
  readonly kind: 'link' | 'path';
}

/** Consecutive prose lines (a paragraph, a list, a table), so a code span may run over a line break. */
function blocks(markdown: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let last = -1;
  for (const { line, text } of prose(markdown)) {
    const current = out[out.length - 1];
    if (text.trim() === '') last = -1;
    else if (current && last === line - 1) {
      current.text += `\n${text}`;
      last = line;
    } else {
      out.push({ line, text });
      last = line;
    }
  }
  return out;
}

/** The relative links (inline and reference-style) and the repository paths in backticks of a file. */
export function referencesOf(file: string, markdown: string): Reference[] {
  const refs: Reference[] = [];
  for (const block of blocks(markdown)) {
    const lineOf = (index: number): number =>
      block.line + (block.text.slice(0, index).match(/\n/g)?.length ?? 0);
    for (const m of block.text.matchAll(CODE_SPAN)) {
      const span = (m[2] ?? '').trim();
      const top = span.replace(/^\.\//, '').split('/')[0] ?? '';
      const isPath =
        /^(\.\/)?[\w.-]+(\/[\w.-]+)*\/?$/.test(span) &&
        (TOP_FILES.includes(span) || (TOP_DIRS.includes(top) && span.includes('/')));
      if (isPath) refs.push({ file, line: lineOf(m.index), target: span, kind: 'path' });
    }
    // Code spans blanked to the same length, so indexes still give lines.
    const bare = block.text.replace(CODE_SPAN, (span) => span.replace(/[^\n]/g, ' '));
    const targets = [
      ...bare.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g),
      ...bare.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm),
    ];
    for (const m of targets) {
      const target = m[1] ?? '';
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue;
      refs.push({ file, line: lineOf(m.index), target, kind: 'link' });
    }
  }
  return refs;
}

function isFile(p: string): boolean {
  return existsSync(p) && statSync(p).isFile();
}

/** Why a reference does not resolve, or undefined when it does. */
export function problemOf(
  root: string,
  ref: Reference,
  read = (p: string) => readFileSync(p, 'utf8'),
): string | undefined {
  if (ref.kind === 'path') {
    const p = path.join(root, ref.target);
    const found = [p, `${p}.ts`, `${p}.test.ts`].some((candidate) => existsSync(candidate));
    return found ? undefined : `\`${ref.target}\` names no file or folder of the repository`;
  }
  const [rawPath = '', anchor] = ref.target.split('#', 2);
  const relative = decodeURI(rawPath);
  const resolved = relative
    ? relative.startsWith('/')
      ? path.join(root, relative)
      : path.resolve(root, path.dirname(ref.file), relative)
    : path.join(root, ref.file);
  const inside = path.relative(root, resolved);
  if (inside.startsWith('..') || path.isAbsolute(inside)) return `${ref.target} leads out of the repository`;
  if (!existsSync(resolved)) return `${ref.target}: no such file or folder`;
  if (anchor === undefined) return undefined;
  if (!isFile(resolved)) return `${ref.target}: an anchor on a folder`;
  if (!resolved.endsWith('.md')) {
    return /^L\d+(-L\d+)?$/.test(anchor) ? undefined : `${ref.target}: #${anchor} is not a line anchor`;
  }
  return anchorsOf(read(resolved)).has(anchor)
    ? undefined
    : `${ref.target}: no heading with the anchor #${anchor} in ${inside}`;
}

/** Every reference of README.md and docs/ that does not resolve, as `file:line: problem`. */
export function brokenLinks(root: string): string[] {
  const cache = new Map<string, string>();
  const read = (p: string): string => {
    const text = cache.get(p) ?? readFileSync(p, 'utf8');
    cache.set(p, text);
    return text;
  };
  const problems: string[] = [];
  for (const file of docFiles(root)) {
    for (const ref of referencesOf(file, read(path.join(root, file)))) {
      const problem = problemOf(root, ref, read);
      if (problem) problems.push(`${ref.file}:${ref.line}: ${problem}`);
    }
  }
  return problems;
}
