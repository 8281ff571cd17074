// Idle fixture: does nothing, forever, like an app waiting for work.
setInterval(() => {}, 1 << 30);
process.on('SIGINT', () => process.exit(0));
