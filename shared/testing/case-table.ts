/** For the decision tables' tests: a docs page's case table is the test's list of rows. */
import { readFileSync } from 'node:fs';

/** The first column of the page's table (its "situation" cells), in order. */
export function caseTableSituations(page: string): string[] {
  return [...readFileSync(page, 'utf8').matchAll(/^\| (.+?) +\| .* \|$/gm)]
    .map((m) => m[1] ?? '')
    .filter((cell) => cell !== 'situation' && !cell.startsWith('---'));
}
