import { down } from '../hack/control-plane/plane.js';

export default async function globalTeardown(): Promise<void> {
  if ((globalThis as { startedPlane?: boolean }).startedPlane && !process.env.KEEP_CONTROL_PLANE) {
    await down((message) => void process.stderr.write(`${message}\n`));
  }
}
