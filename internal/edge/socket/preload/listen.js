'use strict';
// tend's listen preload, loaded with `node -r`, in two cases.
//
// Socket mode: tend binds the app's public port once and hands the
// listening socket to every instance as fd 3, systemd style (LISTEN_FDS=1,
// LISTEN_PID). The app's first listen on a TCP port, whatever port and host
// it names, listens on that socket instead, so an unmodified
// app.listen(PORT) (Express goes through http.Server, which is a
// net.Server) shares it and the kernel balances. Later listens are left
// alone.
//
// A cluster without a port (PM2's -i N on an app that listens on a port of
// its own; TEND_SHARE_PORTS=1): every listen on a TCP port asks tend, over
// the IPC channel, for the listening socket of that address, which tend
// binds once for the app and keeps open across reloads, and listens on it.
// The instances share it as they would under PM2's cluster mode.
const net = require('net');

// A port as node reads one: a number, or a string that is a number (PORT
// from the environment); any other string is a pipe path.
const isPort = (p) => (typeof p === 'number' || typeof p === 'string') && p !== '' && Number(p) >= 0;
const isTCP = (a) => isPort(a) ||
  (a !== null && typeof a === 'object' && isPort(a.port) && a.path === undefined && a.fd === undefined && a.handle === undefined);
const listen = net.Server.prototype.listen;
// The servers drainOnClose made graceful, and whether it added its SIGINT
// handler.
const draining = new Set();
let sigintAdded = false;

// tend counts an instance ready once it accepts on the socket; the kernel
// queues connections before that, so the port alone says nothing.
function sayListening(server) {
  server.once('listening', () => {
    if (typeof process.send === 'function') process.send({ tend: 'listening' });
  });
}

// LISTEN_PID guards against a child of the app inheriting the variables
// without the socket.
if (process.env.LISTEN_FDS === '1' && process.env.LISTEN_PID === String(process.pid)) {
  let taken = false;
  net.Server.prototype.listen = function (...args) {
    if (taken || !isTCP(args[0])) {
      return listen.apply(this, args);
    }
    taken = true;
    sayListening(this);
    drainOnClose(this);
    // Node adds the callback as a 'listening' listener in every form.
    const cb = args.find((a) => typeof a === 'function');
    return cb ? listen.call(this, { fd: 3 }, cb) : listen.call(this, { fd: 3 });
  };
} else if (process.env.TEND_SHARE_PORTS === '1' && typeof process.send === 'function') {
  // Not for the app's own children (child_process.fork passes on -r): they
  // have no channel to tend.
  delete process.env.TEND_SHARE_PORTS;
  shareListens();
} else {
  // A Node app without a port in fork mode, with one instance: its listens
  // are its own, but once it is scaled up the new instances share the
  // socket it bound (tend takes a descriptor of it), so a close must let
  // its keep-alive connections go gracefully then. Nothing else changes:
  // no SIGINT handler is added.
  net.Server.prototype.listen = function (...args) {
    if (isTCP(args[0])) drainOnClose(this, false);
    return listen.apply(this, args);
  };
}

function shareListens() {
  const dns = require('dns');
  const util = require('util');
  let seq = 0;
  let asking = null; // the request tend is answering: {seq, done}
  const queue = [];
  // Keeps the process alive while tend answers: the channel itself does
  // not (node unrefs it), nor does a server that does not listen yet.
  let keep = null;

  // One request at a time: tend sends a handle only once the last was
  // taken, as node's own sender waits for each NODE_HANDLE_ACK.
  function next() {
    if (asking || queue.length === 0) {
      if (!asking && keep) {
        clearInterval(keep);
        keep = null;
      }
      return;
    }
    const [req, done] = queue.shift();
    asking = { seq: ++seq, done };
    if (!keep) keep = setInterval(() => {}, 1 << 30);
    process.send(Object.assign({ tend: 'share', seq: asking.seq }, req));
  }

  // The answer is an internal message (its cmd starts with NODE_), which
  // the app's own process.on('message') never sees.
  process.on('internalMessage', (m, handle) => {
    if (m === null || typeof m !== 'object' || m.cmd !== 'NODE_TEND_SHARE') return;
    if (!asking || m.seq !== asking.seq) {
      if (handle) handle.close();
      return;
    }
    const { done } = asking;
    asking = null;
    next();
    done(m, handle);
  });

  // What node's own listen would have thrown, from tend's refusal.
  function listenError(m, host, port) {
    const addr = host || '::';
    const known = m.errno && typeof util.getSystemErrorMap === 'function' ? util.getSystemErrorMap().get(m.errno) : undefined;
    const e = new Error(known ? `listen ${known[0]}: ${known[1]} ${addr}:${port}` : `listen ${m.code || 'EIO'}: ${m.error} ${addr}:${port}`);
    Object.assign(e, { code: m.code || 'EIO', errno: m.errno, syscall: 'listen', address: addr, port, tend: m.error });
    return e;
  }

  net.Server.prototype.listen = function (...args) {
    const a = args[0];
    const opts = a !== null && typeof a === 'object' ? a : { port: a, host: typeof args[1] === 'string' ? args[1] : undefined };
    const port = Number(opts.port);
    // Port 0 (any free port) and exclusive listens are each instance's own,
    // as under node's cluster module.
    if (!isTCP(a) || !Number.isInteger(port) || port < 1 || port > 65535 || opts.exclusive) {
      return listen.apply(this, args);
    }
    const cb = args.find((x) => typeof x === 'function');
    if (cb) this.once('listening', cb);
    const host = opts.host === undefined || opts.host === null ? '' : String(opts.host);
    const lookup = (h, then) => (h === '' || net.isIP(h) ? then(null, h) : dns.lookup(h, then));
    lookup(host, (err, ip) => {
      if (err) {
        this.emit('error', err);
        return;
      }
      queue.push([{ host: ip, port, ipv6Only: !!opts.ipv6Only }, (m, handle) => {
        if (!handle) {
          this.emit('error', listenError(m, ip, port));
          return;
        }
        sayListening(this);
        drainOnClose(this);
        listen.call(this, handle);
      }]);
      next();
    });
    return this;
  };
}

// drainOnClose makes closing the server graceful for keep-alive clients.
// The socket is shared: the new instances keep accepting on it, so this
// one only has to let its own connections go without failing a request.
// Node's close() drops idle keep-alive connections at once, racing a
// client that is sending its next request on one (it sees a reset). Here,
// once closing, every response says Connection: close, and a connection
// still idle after a short grace is closed then. sigint false adds no
// SIGINT handler.
function drainOnClose(server, sigint = true) {
  if (draining.has(server)) return;
  let closing = false;
  const closeIdle = server.closeIdleConnections;
  const close = server.close;
  server.close = function (...args) {
    if (!closing && typeof closeIdle === 'function') {
      closing = true;
      // Added only now: a 'request' listener of its own would cost every
      // request of the instance's life an extra call.
      this.prependListener('request', (req, res) => {
        res.shouldKeepAlive = false;
      });
      this.closeIdleConnections = () => {};
      setTimeout(() => closeIdle.call(this), 1000).unref();
    }
    return close.apply(this, args);
  };
  draining.add(server);
  if (!sigint || sigintAdded) return;
  sigintAdded = true;
  // An app with no SIGINT handler of its own would die at once, taking
  // its requests in flight with it: stop it the graceful way instead,
  // closing every server of tend's. kill_timeout still bounds how long it
  // may take.
  process.on('SIGINT', function onSigint() {
    if (process.listenerCount('SIGINT') > 1) return; // the app handles it
    let left = draining.size;
    for (const s of draining) s.close(() => { if (--left === 0) process.exit(0); });
  });
}
