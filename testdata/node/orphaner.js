// Orphan fixture: every 200ms starts a shell that forks a short sleep and
// exits at once, so the sleep is orphaned; prints each orphan's pid. Whoever
// adopts orphans (tend, as subreaper or PID 1) must reap them.
const { spawn } = require('child_process');

setInterval(() => {
  const sh = spawn('sh', ['-c', 'sleep 0.1 & echo $!'], { stdio: ['ignore', 'pipe', 'inherit'] });
  sh.stdout.on('data', (d) => console.log(`orphan ${String(d).trim()}`));
}, 200);
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
