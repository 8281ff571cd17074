// Line fixture: writes COUNT sequence-numbered lines to stdout as fast as
// Node allows, then exits 0 once they are all flushed (or, with STAY set,
// stays up idle).
const n = Number(process.env.COUNT || 1000);
const chunk = 1000;
let i = 0;
function write() {
  while (i < n) {
    let s = '';
    const end = Math.min(n, i + chunk);
    for (; i < end; i++) s += `line ${i}\n`;
    if (!process.stdout.write(s)) {
      process.stdout.once('drain', write);
      return;
    }
  }
}
write();
if (process.env.STAY) {
  setInterval(() => {}, 1 << 30);
  process.on('SIGINT', () => process.exit(0));
}
