// Runs the app argv[3] with the runtime preload argv[2] over an IPC
// channel, as tend does, and prints the event loop delay max of each of
// the first argv[4] reports, one per line, then ends the app.
'use strict';
const { fork } = require('child_process');
const [preload, app, want] = process.argv.slice(2);
const c = fork(app, [], { execArgv: ['--require', preload], env: { ...process.env, PORT: '0' }, stdio: 'inherit' });
let n = 0;
c.on('message', (m) => {
  if (!m || m.type !== 'tend:runtime' || !('eventloop_delay_max_seconds' in m.figures)) return;
  console.log(m.figures.eventloop_delay_max_seconds);
  if (++n >= Number(want)) c.kill();
});
c.on('exit', () => process.exit(n >= Number(want) ? 0 : 1));
