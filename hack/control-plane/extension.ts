import type { Log } from './paths.js';

export async function upExtension(log: Log): Promise<void> {
  log('The extension is not built yet');
}
