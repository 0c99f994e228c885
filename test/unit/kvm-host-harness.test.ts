// The emulated KVM host's parsers: console stream (boot noise, \r, exit marker split across chunks) and TAP counts.
import t from 'tap';
import { ConsoleStream } from '../harness/console-stream.js';
import { L1_EXIT_MARKER, L1_START_MARKER } from '../harness/l1-initramfs.js';
import { TapCounter } from '../harness/tap-counts.js';
import { shQuote } from '../harness/kvm-host.js';
import { spawnSync } from 'node:child_process';

function feedInPieces(s: ConsoleStream, text: string, size: number): void {
  for (let i = 0; i < text.length; i += size) s.feed(Buffer.from(text.slice(i, i + size)));
  s.end();
}

t.test('console stream keeps only the command output and takes out the exit marker', async (t) => {
  const raw = `SeaBIOS\r\n[ 1.0] boot noise\r\n${L1_START_MARKER}\r\nline one\r\nno newline${L1_EXIT_MARKER}42\r\n[ 2.0] reboot: Power down\r\n`;
  for (const size of [1, 3, 7, raw.length]) {
    const chunks: string[] = [];
    const s = new ConsoleStream((c) => chunks.push(c.toString()));
    feedInPieces(s, raw, size);
    t.equal(s.exitCode, 42, `exit code, chunks of ${size}`);
    t.equal(s.output, 'line one\nno newline', `output, chunks of ${size}`);
    t.equal(chunks.join(''), s.output, `streamed, chunks of ${size}`);
    t.match(s.bootLog, /boot noise/);
  }
});

t.test('console stream without an exit marker reports none', async (t) => {
  const s = new ConsoleStream();
  feedInPieces(s, `${L1_START_MARKER}\nKQUBES-L1-EXIT rc=\npanic\n`, 5);
  t.equal(s.exitCode, null);
  t.equal(s.output, 'KQUBES-L1-EXIT rc=\npanic\n');
});

t.test('TAP counts: leaves counted, a crashed file counts as one failure, todo/skip apart', async (t) => {
  const c = new TapCounter();
  c.write(`TAP version 14
# Subtest: a.test.js
    # Subtest: group
        ok 1 - x
        not ok 2 - y
        1..2
    not ok 1 - group
    ok 2 - top-level assert
    ok 3 - later # SKIP not here
    1..3
not ok 1 - a.test.js
# Subtest: crashed.test.js
    1..0 # no tests found
not ok 2 - crashed.test.js
# Subtest: good.test.js
    ok 1 - fine
    1..1
ok 3 - good.test.js
1..3
`);
  const counts = c.end();
  t.same(counts, { passed: 3, failed: 2, skipped: 1, complete: true, bailedOut: false });
});

t.test('shQuote survives quotes, dollars and spaces in sh', async (t) => {
  const word = `it's "q" $HOME \`x\` \\ end`;
  const r = spawnSync('sh', ['-c', `printf %s ${shQuote(word)}`]);
  t.equal(r.stdout.toString(), word);
});
