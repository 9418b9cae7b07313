import { cpuBetween, cpuSnapshot, statCpuTicks } from './bench-probes.js';

describe('statCpuTicks', () => {
  it('adds utime and stime (fields 14 and 15), whatever the command name holds', () => {
    const rest = 'S 1 5231 5231 0 -1 4194560 51234 0 12 0 1234 567 0 0 20 0 14 0 4242 1234567 8901';
    expect(statCpuTicks(`5231 (kube-apiserver) ${rest}`)).toBe(1234 + 567);
    expect(statCpuTicks(`5231 (a b) c)) ${rest}`)).toBe(1234 + 567);
  });
});

describe('cpuSnapshot', () => {
  it("reads this process's CPU time, and NaN for a process that is gone", () => {
    const before = cpuSnapshot(
      [
        { name: 'me', pid: process.pid },
        { name: 'gone', pid: 2 ** 22 + 1 },
      ],
      100,
      'self',
    );
    expect(before.get('me')).toBeGreaterThan(0);
    expect(before.get('gone')).toBeNaN();
    expect(before.get('self')).toBeGreaterThan(0);
    const after = cpuSnapshot([{ name: 'me', pid: process.pid }], 100);
    expect(cpuBetween(after, before).get('me')).toBeGreaterThanOrEqual(0);
  });
});
