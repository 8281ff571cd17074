// Counter fixture: prints "tick N" every millisecond, N counting up from 0
// without a gap, so that a test can tell a lost or doubled log line.
let i = 0;
setInterval(() => {
  console.log(`tick ${i++}`);
}, 1);
process.on('SIGINT', () => process.exit(0));
