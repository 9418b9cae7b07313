/** Mounts what the plane's node and our dockerd leave behind, found in /proc/self/mounts. */
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';

/** Every mount point on the machine. */
export const mountPoints = async (): Promise<string[]> =>
  (await readFile('/proc/self/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1] ?? '');

/** Unmounts (lazily, deepest first) every mount point `which` picks. */
export async function unmountAll(which: (mountPoint: string) => boolean): Promise<void> {
  const points = (await mountPoints()).filter(which).sort((a, b) => b.length - a.length);
  for (const m of points) await execa('umount', ['-l', m], { reject: false });
}
