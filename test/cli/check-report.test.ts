/**
 * The HTML report as a person sees it: opened in headless Chromium (Debian's package), the
 * summary, the rows, and the filters by outcome and by reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TESTKERNEL, runBin } from '../helpers.js';
import { opensslSign } from '../e2e/kernel.js';

const CHROMIUM = '/usr/bin/chromium';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-report-'));

test(
  'check --report: summary, rows and filters work in Chromium, with no network',
  { skip: !fs.existsSync(CHROMIUM) && 'chromium missing' },
  async () => {
    const K = path.join(TESTKERNEL, 'modules');
    const signed = path.join(tmp, 'direct.ko');
    opensslSign(
      path.join(TESTKERNEL, 'keys/direct.key'),
      path.join(TESTKERNEL, 'keys/direct.crt'),
      path.join(K, 'kms_hello.ko'),
      signed,
    );
    const report = path.join(tmp, 'report.html');
    const r = runBin([
      'check',
      '--sig-enforce',
      '--report',
      report,
      '--kernel',
      path.join(TESTKERNEL, 'vmlinux'),
      path.join(K, 'kms_user.ko'),
      path.join(K, 'kms_export.ko'),
      signed,
      path.join(K, 'in-tree/dummy.ko'),
    ]);
    assert.equal(r.code, 4, r.stderr);
    const html = fs.readFileSync(report, 'utf8');
    assert.ok(!/(src|href)=["']?https?:/.test(html), 'no network resources');
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (q) => void (q.url().startsWith('file:') || requests.push(q.url())));
      await page.goto(`file://${report}`);
      assert.equal(await page.locator('#n-rejected').innerText(), '3 rejected'); // the unsigned three, under enforcement
      assert.equal(await page.locator('#n-tainted').innerText(), '1 loads tainted');
      assert.equal(await page.locator('tr.m:visible').count(), 4);
      await page.locator('input.of[value="rejected"]').uncheck();
      assert.equal(await page.locator('tr.m:visible').count(), 1);
      assert.match(await page.locator('tr.m:visible').innerText(), /kms_hello/);
      await page.locator('input.of[value="rejected"]').check();
      await page.selectOption('#code', 'unsigned');
      const rows = page.locator('tr.m:visible');
      assert.equal(await rows.count(), 3);
      assert.match(await page.locator('#n-shown').innerText(), /^3 shown$/);
      const user = rows.filter({ hasText: 'kms_user' });
      assert.match(await user.innerText(), /kms_user\s+rejected\s+EKEYREJECTED/);
      await user.locator('summary').click();
      assert.match(await user.innerText(), /Loading of unsigned module is rejected/);
      await page.screenshot({ path: path.join(tmp, 'report.png'), fullPage: true });
      assert.ok(fs.statSync(path.join(tmp, 'report.png')).size > 1000);
      assert.deepEqual(requests, []);
    } finally {
      await browser.close();
    }
  },
);
