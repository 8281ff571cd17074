// Stubborn fixture: ignores SIGINT and SIGTERM, and forks a grandchild that
// ignores them too. It writes both pids to PIDFILE once both are running.
const { spawn } = require('child_process');
const fs = require('fs');

process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
const child = spawn(process.execPath, ['-e', "process.on('SIGINT',()=>{});process.on('SIGTERM',()=>{});setInterval(()=>{},1e9)"], { stdio: 'ignore' });
child.on('spawn', () => {
  fs.writeFileSync(process.env.PIDFILE + '.tmp', `${process.pid} ${child.pid}\n`);
  fs.renameSync(process.env.PIDFILE + '.tmp', process.env.PIDFILE);
});
setInterval(() => {}, 1 << 30);
