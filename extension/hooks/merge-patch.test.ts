import { diff, mutationPatch } from './merge-patch.js';

describe('diff (RFC 7386)', () => {
  test('carries only what changed, nested', () => {
    expect(diff({ a: { b: 1, c: 2 }, d: 3 }, { a: { b: 1, c: 4 }, d: 3 })).toEqual({ a: { c: 4 } });
  });
  test('a removed key is null; an equal object is no patch', () => {
    expect(diff({ a: 1, b: 2 }, { a: 1 })).toEqual({ b: null });
    expect(diff({ a: [1, { x: 2 }] }, { a: [1, { x: 2 }] })).toBeUndefined();
  });
  test('an array that changed is sent whole (atomic lists)', () => {
    expect(diff({ files: [{ path: '/a' }] }, { files: [{ path: '/a' }, { path: '/b' }] })).toEqual({
      files: [{ path: '/a' }, { path: '/b' }],
    });
  });
});

test('mutationPatch leaves the original alone', () => {
  const original = { spec: { list: ['a'] } };
  expect(mutationPatch(original, (d) => d.spec.list.push('b'))).toEqual({ spec: { list: ['a', 'b'] } });
  expect(original).toEqual({ spec: { list: ['a'] } });
});
