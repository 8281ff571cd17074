// Memory fixture: serves HTTP on PORT; the process that claims HOG_FILE
// (renames it away, so only one process ever does) forks a child that
// allocates HOG_MB megabytes and holds them: only the tree's RSS shows it.
// It also reports a custom metric through tend's IPC channel.
const http = require('http');
const fs = require('fs');
const { spawn } = require('child_process');

const file = process.env.HOG_FILE;
let claimed = false;
if (file) {
  try { fs.renameSync(file, `${file}.claimed.${process.pid}`); claimed = true; } catch (e) { /* not ours */ }
}
if (claimed) {
  const mb = Number(process.env.HOG_MB || 200);
  spawn(process.execPath, ['-e', `const b = Buffer.alloc(${mb} << 20, 1); setInterval(() => b[0]++, 1000)`], { stdio: 'ignore' });
}

let served = 0;
const server = http.createServer((req, res) => {
  served++;
  res.end(JSON.stringify({ pid: process.pid, claimed }) + '\n');
});
server.listen(Number(process.env.PORT), '127.0.0.1');

if (process.send) {
  setInterval(() => process.send({ type: 'tend:metric', name: 'served', value: served }), 100);
}
process.on('SIGINT', () => server.close(() => process.exit(0)));
