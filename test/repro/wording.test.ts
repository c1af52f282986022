/** Counts in the text outputs agree in number with their nouns and verbs: 0, 1 and 2 of everything. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attachSummary,
  btfText,
  checkSummary,
  detachSummary,
  diffSummary,
  signSummary,
} from '../../src/report/counts.js';
import { AttachRefusedError } from '../../src/repro/attach.js';

const table = <T>(rows: readonly (readonly [T, string])[], render: (x: T) => string): void => {
  for (const [input, expected] of rows) assert.equal(render(input), expected, JSON.stringify(input));
};

test('diff summary', () => {
  const base = { identical: false, equalModuloSignatures: true, differences: 0, signatures: 0, certificates: 0 };
  table<[number, boolean]>(
    [
      [[0, true], 'identical (0 entries)'],
      [[1, true], 'identical (1 entry)'],
      [[2, true], 'identical (2 entries)'],
    ],
    ([compared, identical]) => diffSummary({ ...base, compared, identical }),
  );
  table<[number, number, number]>(
    [
      [[5, 0, 0], 'equal modulo signatures and embedded certificates (5 entries; 0 signatures differ)'],
      [[1, 1, 0], 'equal modulo signatures and embedded certificates (1 entry; 1 signature differs)'],
      [[2, 2, 0], 'equal modulo signatures and embedded certificates (2 entries; 2 signatures differ)'],
      [[1, 0, 1], 'equal modulo signatures and embedded certificates (1 entry; 1 certificate area differs)'],
      [[2, 0, 2], 'equal modulo signatures and embedded certificates (2 entries; 2 certificate areas differ)'],
      [
        [3, 1, 1],
        'equal modulo signatures and embedded certificates (3 entries; 1 signature and 1 certificate area differ)',
      ],
    ],
    ([compared, signatures, certificates]) => diffSummary({ ...base, compared, signatures, certificates }),
  );
  table<[number, number, number, number]>(
    [
      [[0, 0, 0, 0], '0 differences besides signatures (0 entries compared; 0 more differ only in their signatures)'],
      [[1, 1, 0, 0], '1 difference besides signatures (1 entry compared; 0 more differ only in their signatures)'],
      [[2, 2, 1, 0], '2 differences besides signatures (2 entries compared; 1 more differs only in its signature)'],
      [
        [2, 4, 2, 1],
        '2 differences besides signatures (4 entries compared; ' +
          '2 more differ only in their signatures, 1 only in its certificate area)',
      ],
      [
        [1, 4, 0, 2],
        '1 difference besides signatures (4 entries compared; ' +
          '0 more differ only in their signatures, 2 only in their certificate areas)',
      ],
    ],
    ([differences, compared, signatures, certificates]) =>
      diffSummary({ ...base, equalModuloSignatures: false, differences, compared, signatures, certificates }),
  );
});

test('detach and attach lines', () => {
  table<number>(
    [
      [0, 'detached 0 signatures into B; 0 modules left unsigned'],
      [1, 'detached 1 signature into B; 1 module left unsigned; 1 module had no signature'],
      [2, 'detached 2 signatures into B; 2 modules left unsigned; 2 modules had no signature'],
    ],
    (n) => detachSummary({ signed: n, bundle: 'B', rewritten: n, unsigned: n }, false),
  );
  const kept = detachSummary({ signed: 1, bundle: 'B', rewritten: 0, unsigned: 0 }, true);
  assert.equal(kept, 'detached 1 signature into B (tree left signed)');
  table<number>(
    [
      [0, 'attached 0 signatures to T'],
      [1, 'attached 1 signature to T (1 unchanged)'],
      [2, 'attached 2 signatures to T (2 unchanged)'],
    ],
    (n) => attachSummary({ attached: n, tree: 'T', unchanged: n }),
  );
  table<number>(
    [
      [1, 'attach refused, nothing written (1 problem):'],
      [2, 'attach refused, nothing written (2 problems):'],
    ],
    (n) => {
      const problems = Array.from({ length: n }, () => ({
        path: 'a.ko',
        reason: 'content-mismatch' as const,
        detail: 'x',
      }));
      return new AttachRefusedError(problems).message.split('\n')[0]!;
    },
  );
});

test('sign, seal and check summaries', () => {
  table<[number, number]>(
    [
      [[0, 0], 'signed 0 of 0 modules'],
      [[1, 0], 'signed 1 of 1 module'],
      [[2, 0], 'signed 2 of 2 modules'],
      [[1, 1], 'signed 0 of 1 module; 1 failed and was left as it was'],
      [[2, 2], 'signed 0 of 2 modules; 2 failed and were left as they were'],
    ],
    ([total, failed]) => signSummary('signed', total, failed),
  );
  table<number>(
    [
      [0, '0 modules: 0 load, 0 load tainted, 0 rejected'],
      [1, '1 module: 1 loads, 1 loads tainted, 1 rejected'],
      [2, '2 modules: 2 load, 2 load tainted, 2 rejected'],
    ],
    (n) => checkSummary(n, n, n, n),
  );
});

test('btf check lines', () => {
  table<number>(
    [
      [0, "BTF valid, relocatable: all 0 types of its .BTF.base map onto the kernel's vmlinux BTF"],
      [1, "BTF valid, relocatable: all 1 type of its .BTF.base maps onto the kernel's vmlinux BTF"],
      [2, "BTF valid, relocatable: all 2 types of its .BTF.base map onto the kernel's vmlinux BTF"],
    ],
    btfText.relocatable,
  );
  table<number>(
    [
      [0, '.BTF.base: 0 of 0 types mapped before the failure'],
      [1, '.BTF.base: 1 of 1 type mapped before the failure'],
      [2, '.BTF.base: 2 of 2 types mapped before the failure'],
    ],
    (n) => btfText.mapped(n, n),
  );
  table<number>(
    [
      [0, 'no evidence of another base (0 names, 0 references checked)'],
      [1, 'no evidence of another base (1 name, 1 reference checked)'],
      [2, 'no evidence of another base (2 names, 2 references checked)'],
    ],
    (n) => btfText.noEvidence(n, n),
  );
  table<number>(
    [
      [
        0,
        'EVIDENCE of another base: 0 names do not start a string of this base, 0 references point at kinds that cannot be referenced so',
      ],
      [
        1,
        'EVIDENCE of another base: 1 name does not start a string of this base, 1 reference points at kinds that cannot be referenced so',
      ],
      [
        2,
        'EVIDENCE of another base: 2 names do not start a string of this base, 2 references point at kinds that cannot be referenced so',
      ],
    ],
    (n) => btfText.evidence(n, n),
  );
  table<[number, boolean]>(
    [
      [[0, false], 'MISMATCHED (0 of 3 referenced differ)'],
      [[1, false], 'MISMATCHED (1 of 3 referenced differs)'],
      [[1, true], 'MISMATCHED (1+ of 3 referenced differ)'],
      [[2, false], 'MISMATCHED (2 of 3 referenced differ)'],
    ],
    ([n, truncated]) => btfText.mismatched(n, truncated, 3),
  );
});
