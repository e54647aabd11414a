// The page's chart arithmetic, without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ema, mergeSorted } from '../../www/charts.js';

test('smoothing is TensorBoard\'s debiased moving average and keeps gaps', () => {
  /* weight 0.5: 1; (0.25 + 1) / 0.75; (0.625 + 1.5) / 0.875 */
  const out = ema([1, 2, 3, null, 4], 0.5);
  assert.equal(out[0], 1);
  assert.ok(Math.abs(out[1] - 5 / 3) < 1e-12);
  assert.ok(Math.abs(out[2] - 2.125 / 0.875) < 1e-12);
  assert.equal(out[3], null);
  assert.ok(Math.abs(out[4] - (2.125 * 0.5 + 2) / (1 - 0.5 ** 4)) < 1e-12);
  assert.deepEqual(ema([3, 1, 2], 0), [3, 1, 2]);
  /* a constant series stays constant at any weight */
  for (const v of ema([0.7, 0.7, 0.7, 0.7], 0.99)) assert.ok(Math.abs(v - 0.7) < 1e-12);
});

test('merging series keeps steps ascending and takes the newer value', () => {
  const a = { steps: [1, 2, 5, 6], values: [10, 20, 50, 60] };
  const b = { steps: [2, 3, 4, 7], values: [21, 30, 40, 70] };
  assert.deepEqual(mergeSorted(a, b), {
    steps: [1, 2, 3, 4, 5, 6, 7],
    values: [10, 21, 30, 40, 50, 60, 70],
  });
  assert.deepEqual(mergeSorted({ steps: [], values: [] }, b), b);
});
