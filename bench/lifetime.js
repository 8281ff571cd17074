// Preload for the logs figures (node --require=bench/lifetime.js): when the
// process exits it writes, to the file named by TEND_BENCH_LIFETIME, when
// node started (origin_ms, Unix ms), when its last stdout write was done
// (wrote_ms) and when it exited (ran_ms), both in ms since it started.
// Loaded the same way under tend, under PM2 and with stdout on /dev/null,
// so the three are timed alike. wrote_ms is the figure that logging moves:
// under PM2 a process lingers about 3 s after its work is done, whatever it
// printed, which ran_ms would count.
const fs = require('fs');
const { performance } = require('perf_hooks');

const file = process.env.TEND_BENCH_LIFETIME;
if (file) {
  let wrote = 0;
  const out = process.stdout;
  const write = out.write;
  // The callback runs once the chunk is handed to the pipe or file: for
  // the last chunk, when the app's output is all out of its hands.
  out.write = function (chunk, encoding, cb) {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    return write.call(this, chunk, encoding, (err) => {
      wrote = performance.now();
      if (cb) cb(err);
    });
  };
  process.on('exit', () => {
    fs.writeFileSync(file, JSON.stringify({
      origin_ms: performance.timeOrigin,
      wrote_ms: wrote,
      ran_ms: performance.now(),
    }));
  });
}
