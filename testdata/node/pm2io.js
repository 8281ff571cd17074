// @pm2/io fixture: an app instrumented for PM2, unchanged. A counter metric
// "jobs done" at 3, an action "ping" that replies with its instance, an
// action "echo" that replies with its parameter, an action "silent" that
// never replies, an action "first" that only instance 0 offers, and one
// process:msg.
// On the IPC message 'shutdown' (shutdown_with_message) it says so on
// stdout and exits 0; SIGINT is ignored, so that a test can tell which
// stopped it.
const io = require('@pm2/io');

const jobs = io.counter({ name: 'jobs done' });
jobs.inc();
jobs.inc();
jobs.inc();

io.action('ping', (reply) => reply({ pong: true, instance: process.env.NODE_APP_INSTANCE }));
io.action('echo', (param, reply) => reply({ got: param }));
io.action('silent', (reply) => {});
if (process.env.NODE_APP_INSTANCE === '0') io.action('first', (reply) => reply('only instance 0 has me'));

process.send({ type: 'process:msg', data: { hello: 'bus' } });

process.on('message', (m) => {
  if (m === 'shutdown') {
    console.log('got shutdown message');
    process.exit(0);
  }
});
process.on('SIGINT', () => console.log('ignored SIGINT'));
setInterval(() => {}, 1 << 30);
