// Crash fixture: exits at once with CRASH_CODE (default 1); with
// CRASH_STAY set it stays up instead, as an app whose crash was fixed.
if (process.env.CRASH_STAY) {
  console.log('crash fixture staying up');
  setInterval(() => {}, 1 << 30);
  process.on('SIGINT', () => process.exit(0));
} else {
  console.error('crash fixture exiting with', process.env.CRASH_CODE || 1);
  process.exit(Number(process.env.CRASH_CODE || 1));
}
