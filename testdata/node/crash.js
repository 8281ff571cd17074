// Crash fixture: exits at once with CRASH_CODE (default 1).
console.error('crash fixture exiting with', process.env.CRASH_CODE || 1);
process.exit(Number(process.env.CRASH_CODE || 1));
